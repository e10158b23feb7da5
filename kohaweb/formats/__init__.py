"""Metadata-format registry (filled in by the formats work)."""


def includeme(config) -> None:
    config.registry.kohaweb.formats = None
