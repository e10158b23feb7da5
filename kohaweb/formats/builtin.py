"""The built-in formats: MARCXML (``marcxml``, ``marc21``), Dublin Core (``oai_dc``), MARC-in-JSON,
ISO 2709 and a plain-text MARC view. They register through the ``kohaweb.formats`` entry points
like any third-party format."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pymarc
from lxml import etree

from .. import marc
from .base import MetadataFormat, RecordSource, RenderError, with_items
from .slim import conform, conform_leader, conforming_text
from .xslt import stylesheet

HERE = os.path.dirname(os.path.abspath(__file__))
MARC_SCHEMA = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"
DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_STYLESHEETS = {marc.MARC21: os.path.join(HERE, "xslt", "MARC21slim2OAIDC.xsl"),
                  marc.UNIMARC: os.path.join(HERE, "xslt", "UNIMARCslim2OAIDC.xsl")}


@dataclass
class MarcXmlFormat(MetadataFormat):
    """The stored record itself (optionally with items embedded), MARC21 slim namespace, made
    valid against MARC21slim.xsd (see kohaweb.formats.slim)."""

    def render(self, source: RecordSource) -> etree._Element:
        self.check(source)
        if self.include_items and source.items:
            return conform(marc.record_to_element(with_items(source, self.expanded_avs)), source.biblionumber)
        return conform(source.element(), source.biblionumber)

    def render_bytes(self, source: RecordSource) -> bytes:
        # stored text that is already a valid record conform() would not change (the usual case:
        # kohaweb.marc.record_to_xml wrote it) is sent as it is, without parsing and re-serialising
        if not (self.include_items and source.items) and conforming_text(source.marcxml):
            self.check(source)
            return source.marcxml.encode("utf-8")
        return super().render_bytes(source)


@dataclass
class DublinCoreFormat(MetadataFormat):
    """oai_dc by XSLT, with a stylesheet per MARC flavour."""

    stylesheets: dict[str, str] = field(default_factory=lambda: dict(DC_STYLESHEETS))

    def render(self, source: RecordSource) -> etree._Element:
        self.check(source)
        document = marc.record_to_element(with_items(source, self.expanded_avs)) if self.include_items else source.element()
        result = stylesheet(self.stylesheets[source.flavour])(document)
        root = result.getroot()
        if root is None:
            raise RenderError(f"record {source.biblionumber}: the Dublin Core stylesheet produced nothing")
        return root


@dataclass
class XsltFormat(MetadataFormat):
    """Any XSLT 1.0 stylesheet applied to the MARCXML (a site's conf-file format)."""

    xsl_file: str = ""

    def render(self, source: RecordSource) -> etree._Element:
        self.check(source)
        document = marc.record_to_element(with_items(source, self.expanded_avs)) if self.include_items \
            else source.element()
        try:
            root = stylesheet(self.xsl_file)(document).getroot()
        except etree.XSLTApplyError as exc:
            raise RenderError(f"record {source.biblionumber}: {self.xsl_file} failed: {exc}") from None
        if root is None:
            raise RenderError(f"record {source.biblionumber}: {self.xsl_file} produced no element")
        return root


@dataclass
class MarcInJsonFormat(MetadataFormat):
    """MARC-in-JSON (the structure pymarc's as_dict follows)."""

    def render_bytes(self, source: RecordSource) -> bytes:
        self.check(source)
        record = with_items(source, self.expanded_avs) if self.include_items else source.record()
        return json.dumps(record.as_dict(), ensure_ascii=False).encode("utf-8")


@dataclass
class Iso2709Format(MetadataFormat):
    """ISO 2709 exchange format, UTF-8 (leader/09 = a)."""

    def render_bytes(self, source: RecordSource) -> bytes:
        self.check(source)
        record = with_items(source, self.expanded_avs) if self.include_items else source.record()
        # 24 ASCII bytes whatever the stored leader holds (real ones carry no-break spaces, '|', '^')
        leader = conform_leader(str(record.leader), source.biblionumber)
        record.leader = pymarc.Leader(leader[:9] + "a" + leader[10:])
        try:
            return record.as_marc()
        except (ValueError, UnicodeError) as exc:
            raise RenderError(f"record {source.biblionumber}: cannot encode as ISO 2709: {exc}") from None


@dataclass
class MarcTextFormat(MetadataFormat):
    """The mnemonic text view cataloguers read (=245  10$aTitle)."""

    def render_bytes(self, source: RecordSource) -> bytes:
        self.check(source)
        record = with_items(source, self.expanded_avs) if self.include_items else source.record()
        return (str(record) + "\n").encode("utf-8")


marcxml = MarcXmlFormat(
    "marcxml", marc.MARC_NS, MARC_SCHEMA, sru_names=("marcxml", "marc21", "MARC21-xml"),
    sru_uri="info:srw/schema/1/marcxml-v1.1", media_type="application/marcxml+xml",
    description="MARCXML (MARC21 slim), MARC21 or UNIMARC as stored")
marc21 = MarcXmlFormat("marc21", marc.MARC_NS, MARC_SCHEMA, description="MARCXML, Koha's marc21 prefix")
oai_dc = DublinCoreFormat(
    "oai_dc", DC_NS, DC_SCHEMA, sru_names=("dc", "oai_dc"), sru_uri="info:srw/schema/1/dc-v1.1",
    description="Simple Dublin Core (MARC21 and UNIMARC crosswalks)")
marc_in_json = MarcInJsonFormat("marc-in-json", media_type="application/marc-in-json", is_xml=False, oai=False,
                                description="MARC-in-JSON")
iso2709 = Iso2709Format("iso2709", media_type="application/marc", is_xml=False, oai=False,
                        description="ISO 2709 (binary MARC), UTF-8")
marc_text = MarcTextFormat("marc-text", media_type="text/plain", is_xml=False, oai=False,
                           description="MARC as mnemonic text")
