"""What a metadata format is: names for each protocol, and how it renders one stored record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pymarc
from lxml import etree

from .. import marc


class RenderError(Exception):
    """One stored record cannot be rendered (broken XML, bad leader...). Services turn this into
    their protocol's per-record error and go on with the next record."""


@dataclass
class RecordSource:
    """One stored record as a format receives it."""

    biblionumber: int
    flavour: str
    marcxml: str  # as stored: MARCXML without items
    items: list[dict[str, Any]] | None = None  # kohaweb.catalog.item_dict rows, when loaded
    session: Any = None  # for formats that look up names (expanded_avs)

    @classmethod
    def from_biblio(cls, biblio: Any, *, with_items: bool, session: Any = None, viewer: Any = None) -> RecordSource:
        """``viewer`` (a ``kohaweb.visibility.Viewer``): only the items it may see are embedded."""
        from ..catalog import item_dict

        items = None
        if with_items:
            items = [item_dict(i) for i in (biblio.items if viewer is None else viewer.visible_items(biblio.items))]
        return cls(biblio.biblionumber, biblio.flavour, biblio.metadata_row.metadata_xml, items, session)

    def element(self) -> etree._Element:
        """The stored MARCXML as a fresh element (RenderError when it is not well-formed)."""
        try:
            root = etree.fromstring(self.marcxml.encode("utf-8"))
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise RenderError(f"record {self.biblionumber}: stored MARCXML is not well-formed: {exc}") from None
        if etree.QName(root).localname != "record" or etree.QName(root).namespace != marc.MARC_NS:
            raise RenderError(f"record {self.biblionumber}: stored XML is not a MARC21 slim record")
        leader = root.findtext(f"{{{marc.MARC_NS}}}leader")
        if leader is None or not 20 <= len(leader) <= 24:  # 20-23: only the entry map is cut short
            raise RenderError(f"record {self.biblionumber}: bad leader {leader!r} in storage")
        return root

    def record(self) -> pymarc.Record:
        try:
            return marc.element_to_record(self.element())
        except (marc.MarcError, ValueError) as exc:
            raise RenderError(f"record {self.biblionumber}: {exc}") from None


@dataclass
class MetadataFormat:
    """Base class of every format. Subclasses implement ``render`` (XML) or ``render_bytes``.

    ``prefix`` is the OAI-PMH metadataPrefix (and the registry key); ``sru_names``/``sru_uri``
    the SRU recordSchema names; ``media_type`` the REST ``Accept`` type.
    """

    prefix: str
    namespace: str | None = None
    schema: str | None = None
    sru_names: tuple[str, ...] = ()
    sru_uri: str | None = None
    media_type: str | None = None
    flavours: frozenset[str] = field(default_factory=lambda: frozenset({marc.MARC21, marc.UNIMARC}))
    include_items: bool = False
    expanded_avs: bool = False  # coded item values (library, item type, AV codes) replaced by names
    is_xml: bool = True
    oai: bool = True  # offered over OAI-PMH (XML formats only)
    description: str = ""

    def accepts(self, flavour: str) -> bool:
        return flavour in self.flavours

    def render(self, source: RecordSource) -> etree._Element:
        raise NotImplementedError(f"{self.prefix} is not an XML format")

    def render_bytes(self, source: RecordSource) -> bytes:
        return etree.tostring(self.render(source), encoding="utf-8")

    def check(self, source: RecordSource) -> None:
        if not self.accepts(source.flavour):
            raise RenderError(f"record {source.biblionumber} is {source.flavour}; {self.prefix} accepts "
                              f"{', '.join(sorted(self.flavours))}")


def with_items(source: RecordSource, expanded_avs: bool = False) -> pymarc.Record:
    """The record with its items embedded in 952/995 (Koha's include_items)."""
    items = source.items or []
    if expanded_avs and items and source.session is not None:
        from .avs import expand

        items = expand(source.session, items)
    return marc.embed_items(source.record(), source.flavour, items)
