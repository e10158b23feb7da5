"""The core's API resources; each module defines its ApiService objects and SERVICES."""

from pyramid.config import Configurator

MODULES = ("libraries", "biblios", "biblio_relations", "biblio_merge", "items", "patrons", "patron_services", "accounts",
           "hold_cancellations", "holds", "checkouts", "public", "public_patrons", "reference", "circulation_rules",
           "administration", "patron_attributes")
MODULES += ("authorities",)


def includeme(config: Configurator) -> None:
    from importlib import import_module

    for name in MODULES:
        module = import_module(f"{__name__}.{name}")
        for service in module.SERVICES:
            config.add_cornice_service(service)
