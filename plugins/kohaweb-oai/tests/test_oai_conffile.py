"""Koha's sample OAI conf file (extended mode, kohaweb.formats.conf): exactly its formats are
offered, the advertised metadataPrefix is the one accepted (Koha accepts the YAML key instead),
include_items embeds items, and a site stylesheet transforms the record."""

from __future__ import annotations

import pytest
from lxml import etree

from kohaweb.settings import ConfigError
from kohaweb.testing import koha_sample_formats_conf

# A site stylesheet in the spirit of Koha's test (oaiconf.yaml): the record without its 952 items,
# still MARCXML so that the response can be validated.
NO_ITEMS_XSL = """\
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:marc="http://www.loc.gov/MARC21/slim">
  <xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy></xsl:template>
  <xsl:template match="marc:datafield[@tag='952']"/>
</xsl:stylesheet>
"""
MARC = "http://www.loc.gov/MARC21/slim"


def write_conf(tmp_path, vs_xsl: str) -> str:
    conf = tmp_path / "koha-oai.conf"
    conf.write_text(koha_sample_formats_conf(vs_xsl))
    return str(conf)


def test_sample_with_a_missing_stylesheet_stops_start_up(oai_app, tmp_path):
    with pytest.raises(ConfigError) as exc:
        oai_app(**{"kohaweb.formats.conf": write_conf(tmp_path, "/usr/local/koha/xslt/vs.xsl")})
    assert any("vs" in p and "vs.xsl" in p for p in exc.value.problems)


def test_koha_sample_conf(oai_app, oai_get, oai, tmp_path, add_records, clock):
    xsl = tmp_path / "vs.xsl"
    xsl.write_text(NO_ITEMS_XSL)
    app = oai_app(**{"kohaweb.formats.conf": write_conf(tmp_path, str(xsl))})
    ids = add_records(3)
    clock.tick()
    root = oai_get(app, verb="ListMetadataFormats")
    formats = {f.findtext("oai:metadataPrefix", namespaces=oai.NS): (f.findtext("oai:metadataNamespace", namespaces=oai.NS),
                                                                     f.findtext("oai:schema", namespaces=oai.NS))
               for f in root.iterfind(".//oai:metadataFormat", oai.NS)}
    # exactly the conf file's formats; namespace and schema are single URIs (anyURI)
    assert set(formats) == {"vs", "marc21", "marxml", "oai_dc"}
    assert formats["marxml"] == (MARC, "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd")
    # the advertised prefix is the accepted one; the YAML key is not a prefix
    assert oai.error_codes(oai_get(app, verb="ListRecords", metadataPrefix="marcxml")) == ["cannotDisseminateFormat"]
    root = oai_get(app, verb="ListRecords", metadataPrefix="marxml")
    records = root.findall(".//oai:record", oai.NS)
    assert len(records) == 3
    # include_items: the items are in 952
    items = records[0].findall(f".//{{{MARC}}}datafield[@tag='952']")
    assert items and {i.findtext(f"{{{MARC}}}subfield[@code='p']") for i in items} - {None}
    # the site stylesheet ran: same records, no 952
    root = oai_get(app, verb="GetRecord", metadataPrefix="vs", identifier=f"oai:library.example.org:{ids[0]}")
    metadata = root.find(".//oai:metadata", oai.NS)[0]
    assert etree.QName(metadata).namespace == MARC
    assert metadata.findall(f".//{{{MARC}}}datafield[@tag='952']") == []
    assert metadata.findall(f".//{{{MARC}}}datafield[@tag='245']")
    root = oai_get(app, verb="ListRecords", metadataPrefix="oai_dc")
    assert len(root.findall(".//oai:metadata/{http://www.openarchives.org/OAI/2.0/oai_dc/}dc", oai.NS)) == 3
