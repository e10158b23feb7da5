"""{{ cookiecutter.distribution }}: {{ cookiecutter.description }}.

Everything goes through the hooks of kohaweb.hookspecs; this module is registered as a plugin
when the site enables the service ``{{ cookiecutter.plugin_name }}`` (``kohaweb.services``). A
service that also serves pages would add an ``includeme(config)`` beside them.
"""

from __future__ import annotations

from kohaweb.plugin_api import Setting, hookimpl, utcnow

from .models import RecordChangeNote

NAME = "{{ cookiecutter.plugin_name }}"


@hookimpl
def register_settings() -> list[Setting]:
    return [Setting(f"{NAME}.max_listed", "int", 100, "Most notes the REST path lists.", minimum=1)]


@hookimpl
def record_changed(session, change) -> None:
    """Called in the transaction of the change: the note commits or rolls back with it."""
    session.add(RecordChangeNote(biblionumber=change.biblionumber, action=change.action, noted_at=utcnow()))


@hookimpl
def record_deleted(session, change) -> None:
    session.add(RecordChangeNote(biblionumber=change.biblionumber, action="deleted", noted_at=utcnow()))


@hookimpl
def register_rest_services(site) -> list:
    from .api import changes

    return [changes]
