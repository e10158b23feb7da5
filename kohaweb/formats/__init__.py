"""The metadata-format registry shared by every service.

One format means the same bytes whether a harvester asks OAI-PMH for ``metadataPrefix=oai_dc``,
an SRU client for ``recordSchema=dc`` or the REST API for ``Accept: ...``. Formats come from the
``kohaweb.formats`` entry points (the built-ins register there too) and from the site's YAML file
(``kohaweb.formats.conf``, Koha's OAI-PMH:ConfFile layout). A format plugin is one module and one
entry-point line::

    # kohaweb_vs/__init__.py
    from dataclasses import dataclass
    from lxml import etree
    from kohaweb.formats import MetadataFormat, RecordSource

    VS = "http://example.org/vs"

    @dataclass
    class VeryShort(MetadataFormat):
        def render(self, source: RecordSource) -> etree._Element:
            record = source.record()                       # pymarc.Record (RenderError if broken)
            root = etree.Element(f"{{{VS}}}vs", nsmap={"vs": VS})
            etree.SubElement(root, f"{{{VS}}}title").text = record.title or ""
            return root

    vs = VeryShort("vs", VS, "http://example.org/vs.xsd", sru_names=("vs",),
                   sru_uri="info:srw/schema/1/vs", flavours=frozenset({"MARC21"}))

    # setup.cfg:  [options.entry_points]  kohaweb.formats =  vs = kohaweb_vs:vs
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pyramid.config import Configurator

from .. import plugins
from ..settings import ConfigError
from .base import MetadataFormat, RecordSource, RenderError
from .pages import StoredRecord, load_records

__all__ = ["FormatRegistry", "MetadataFormat", "RecordSource", "RenderError", "StoredRecord", "build_registry",
           "load_records"]
log = logging.getLogger(__name__)


class FormatRegistry:
    """Lookups by protocol name. ``oai_formats()`` is the conf file's list when there is one
    (Koha's extended mode: exactly its entries), else every installed XML format."""

    def __init__(self, installed: Iterable[MetadataFormat], site_formats: Iterable[MetadataFormat] | None = None):
        self.installed = list(installed)
        self.site_formats = list(site_formats) if site_formats is not None else None
        self._oai = {f.prefix: f for f in (self.site_formats if self.site_formats is not None else
                                            [f for f in self.installed if f.is_xml and f.oai])}
        everything = self.installed + (self.site_formats or [])
        self._sru: dict[str, MetadataFormat] = {}
        for fmt in everything:  # first registration of a name wins (installed before site)
            for name in (*fmt.sru_names, fmt.sru_uri):
                if name and fmt.is_xml:
                    self._sru.setdefault(name.lower(), fmt)
        self._media = {}
        for fmt in everything:
            if fmt.media_type:
                self._media.setdefault(fmt.media_type.lower(), fmt)

    def all(self) -> list[MetadataFormat]:
        return self.installed + (self.site_formats or [])

    def get(self, name: str) -> MetadataFormat | None:
        return next((f for f in self.installed if f.prefix == name), None)

    def oai(self, prefix: str) -> MetadataFormat | None:
        return self._oai.get(prefix)

    def oai_formats(self) -> list[MetadataFormat]:
        return list(self._oai.values())

    def sru(self, name_or_uri: str) -> MetadataFormat | None:
        return self._sru.get((name_or_uri or "").strip().lower())

    def sru_formats(self) -> list[MetadataFormat]:
        seen, formats = set(), []
        for fmt in self._sru.values():
            if id(fmt) not in seen:
                seen.add(id(fmt))
                formats.append(fmt)
        return formats

    def media_type(self, media_type: str) -> MetadataFormat | None:
        return self._media.get((media_type or "").split(";")[0].strip().lower())

    def media_types(self) -> list[str]:
        return [f.media_type for f in self._media.values()]


def installed_formats() -> list[MetadataFormat]:
    """Every format of the ``kohaweb.formats`` entry points (instances, or classes made with no
    arguments), in entry-point name order."""
    found = []
    for name, obj in plugins.load_all(plugins.FORMATS).items():
        fmt = obj() if isinstance(obj, type) else obj
        if not isinstance(fmt, MetadataFormat):
            raise ConfigError([f"kohaweb.formats: entry point {name!r} is not a MetadataFormat"])
        found.append(fmt)
    return found


def build_registry(conf_path: str = "", installed: Iterable[MetadataFormat] | None = None) -> FormatRegistry:
    installed = installed_formats() if installed is None else list(installed)
    site = None
    if conf_path:
        from .conffile import load

        site = load(conf_path, {f.prefix: f for f in installed})
    return FormatRegistry(installed, site)


def includeme(config: Configurator) -> None:
    site = config.registry.kohaweb
    site.formats = build_registry(site.core.get("formats.conf", ""), site.hooks.formats())  # register_formats hook
    log.info("metadata formats: %s", ", ".join(f.prefix for f in site.formats.all()))
