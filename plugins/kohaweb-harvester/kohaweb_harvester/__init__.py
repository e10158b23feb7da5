"""The OAI-PMH harvester: kohaweb as a service provider, which Koha never was.

Sources live in the database (``harvest_sources``); runs are started by ``kohaweb harvest run``
(cron or a systemd timer, following each source's schedule hint) and recorded in
``harvest_runs``. Enabling the ``harvester`` service adds its management endpoints to the REST API.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.settings import Setting

SETTINGS = [
    Setting("harvester.deleted", "choice", "delete", "What a deletion at the source does to the local "
            "copy: delete it, or suppress it from public services.", choices=("delete", "suppress")),
    Setting("harvester.retries", "int", 4, "Retries of a request after a transient network error "
            "(with exponential backoff).", minimum=0),
]


def includeme(config: Configurator) -> None:
    from .api import includeme as api

    config.include(api)
