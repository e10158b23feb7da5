"""The metadata-format registry and the built-in formats."""

from __future__ import annotations

import io
import json
import textwrap

import pymarc
import pytest
from lxml import etree

from kohaweb import marc
from kohaweb.formats import FormatRegistry, RecordSource, RenderError, build_registry
from kohaweb.formats.builtin import iso2709, marc21, marc_in_json, marcxml, oai_dc
from kohaweb.settings import ConfigError
from kohaweb.testing import assert_valid, selected_backend

DC = "{http://purl.org/dc/elements/1.1/}"
database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="does not touch the database; runs once, on SQLite")


def source_of(record: pymarc.Record, flavour: str | None = None, items=None, number: int = 1) -> RecordSource:
    return RecordSource(number, flavour or marc.detect_flavour(record), marc.record_to_xml(record).decode(), items)


@database_independent
@pytest.mark.parametrize("collection", ["marc21-collection.xml", "unimarc-collection.xml"])
def test_every_real_record_renders_valid_in_every_format(collection, shared_data, xml_schema):
    slim, dc = xml_schema("MARC21slim"), xml_schema("oai_dc")
    rendered = 0
    for result in marc.read_records(str(shared_data / collection)):
        assert result.record is not None, result.error
        source = source_of(result.record, "UNIMARC" if collection.startswith("unimarc") else "MARC21",
                           number=result.position)
        assert_valid(slim, marcxml.render(source))
        dc_root = oai_dc.render(source)
        assert_valid(dc, dc_root)
        assert json.loads(marc_in_json.render_bytes(source))["leader"]
        assert next(pymarc.MARCReader(io.BytesIO(iso2709.render_bytes(source)), to_unicode=True)) is not None
        rendered += 1
    assert rendered > 3000


@database_independent
def test_dublin_core_crosswalks(xml_schema):
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data="240101s2014    fr            000 0 fre d"))
    fields = [("020", "a", "978-2-07-036822-8 (pbk.)"), ("100", "a", "Camus, Albert,"),
              ("245", "a", "L'étranger /"), ("264", "b", "Gallimard,"), ("650", "a", "Absurd (Philosophy)"),
              ("520", "a", "A novel."), ("856", "u", "https://example.org/etranger")]
    for tag, code, value in fields:
        record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators("1", "0"),
                                      subfields=[pymarc.Subfield(code, value)]))
    root = oai_dc.render(source_of(record))
    assert_valid(xml_schema("oai_dc"), root)
    values = {(etree.QName(e).localname, e.text) for e in root}
    assert ("title", "L'étranger") in values and ("creator", "Camus, Albert") in values
    assert ("identifier", "URN:ISBN:978-2-07-036822-8") in values and ("language", "fre") in values
    assert ("type", "text") in values and ("date", "2014") in values and ("publisher", "Gallimard") in values

    unimarc = pymarc.Record(leader="00000nam  2200000   4500")
    for tag, pairs in (("010", [("a", "2-07-036822-1")]), ("101", [("a", "fre")]),
                       ("200", [("a", "\x88L'\x89étranger"), ("f", "Albert Camus")]),
                       ("210", [("a", "Paris"), ("c", "Gallimard"), ("d", "1942")]),
                       ("606", [("a", "Absurde"), ("x", "Philosophie")]), ("700", [("a", "Camus"), ("b", "Albert")])):
        unimarc.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "),
                                       subfields=[pymarc.Subfield(c, v) for c, v in pairs]))
    root = oai_dc.render(source_of(unimarc, "UNIMARC"))
    assert_valid(xml_schema("oai_dc"), root)
    values = {(etree.QName(e).localname, e.text) for e in root}
    assert ("title", "L'étranger") in values and ("creator", "Camus, Albert") in values
    assert ("subject", "Absurde--Philosophie") in values and ("date", "1942") in values
    assert ("publisher", "Gallimard (Paris)") in values and ("language", "fre") in values


@database_independent
def test_broken_stored_record_is_a_render_error():
    for bad in ("<record", "<other xmlns='urn:x'/>"):
        source = RecordSource(7, "MARC21", bad)
        for fmt in (marcxml, oai_dc, marc_in_json, iso2709):
            with pytest.raises(RenderError, match="record 7"):
                fmt.render_bytes(source)


def test_items_embedded_with_expanded_values(sample_records, dbsession, catalog, xml_schema):
    from kohaweb.formats.builtin import MarcXmlFormat

    biblionumber = sample_records(40)[0]
    biblio = catalog.get(biblionumber)
    if not biblio.items:
        catalog.add_item(biblionumber, barcode="X1", homebranch="CPL", holdingbranch="CPL", itype="BK")
        dbsession.commit()
        biblio = catalog.get(biblionumber)
    source = RecordSource.from_biblio(biblio, with_items=True, session=dbsession)
    with_items = MarcXmlFormat("marcxml", include_items=True).render(source)
    assert_valid(xml_schema("MARC21slim"), with_items)
    ns = {"m": marc.MARC_NS}
    assert with_items.xpath("m:datafield[@tag='952']/m:subfield[@code='a']/text()", namespaces=ns)[0] == \
        biblio.items[0].homebranch
    expanded = MarcXmlFormat("marcxml", include_items=True, expanded_avs=True).render(source)
    assert expanded.xpath("m:datafield[@tag='952']/m:subfield[@code='a']/text()", namespaces=ns)[0] in \
        {"Centerville", "Fairfield", "Midway", "Fairview"}
    assert not marc21.render(source).xpath("m:datafield[@tag='952']", namespaces=ns), "marc21 has no items"


@database_independent
def test_registry_lookups():
    registry = build_registry()
    assert registry.oai("oai_dc") is oai_dc and registry.oai("marc21") is marc21
    assert registry.sru("dc") is oai_dc and registry.sru("info:srw/schema/1/marcxml-v1.1") is marcxml
    assert registry.sru("MARCXML") is marcxml
    assert registry.media_type("application/marcxml+xml; charset=utf-8") is marcxml
    assert registry.media_type("application/marc-in-json") is marc_in_json
    assert {f.prefix for f in registry.oai_formats()} >= {"marcxml", "marc21", "oai_dc"}
    assert all(f.is_xml for f in registry.oai_formats())
    assert isinstance(registry, FormatRegistry)


KOHA_SAMPLE = """\
format:
  vs:
    metadataPrefix: vs
    metadataNamespace: http://veryspecial.tamil.fr/vs/format-pivot/1.1/vs
    schema: http://veryspecial.tamil.fr/vs/format-pivot/1.1/vs.xsd
    xsl_file: {vs}
  marc21:
    metadataPrefix: marc21
    metadataNamespace: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim
    schema: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd
    include_items: 1
  marcxml:
    metadataPrefix: marxml
    metadataNamespace: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim
    schema: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd
    include_items: 1
  oai_dc:
    metadataPrefix: oai_dc
    metadataNamespace: http://www.openarchives.org/OAI/2.0/oai_dc/
    schema: http://www.openarchives.org/OAI/2.0/oai_dc.xsd
    xsl_file: /usr/local/koha/koha-tmpl/intranet-tmpl/xslt/UNIMARCslim2OAIDC.xsl
"""

VS_XSL = """<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:marc="http://www.loc.gov/MARC21/slim" xmlns:vs="http://veryspecial.tamil.fr/vs/format-pivot/1.1/vs">
  <xsl:template match="/"><vs:record><vs:title><xsl:value-of select="//marc:datafield[@tag='245']/marc:subfield[@code='a']"/></vs:title></vs:record></xsl:template>
</xsl:stylesheet>"""


@database_independent
def test_koha_sample_conf_file_loads_and_works(tmp_path):
    (tmp_path / "vs.xsl").write_text(VS_XSL)
    conf = tmp_path / "oai.yaml"
    conf.write_text(KOHA_SAMPLE.format(vs="vs.xsl"))
    registry = build_registry(str(conf))
    assert [f.prefix for f in registry.oai_formats()] == ["vs", "marc21", "marxml", "oai_dc"]
    assert registry.oai("marcxml") is None, "advertised and accepted prefixes are the same string"
    marxml = registry.oai("marxml")
    assert marxml.include_items and marxml.namespace == marc.MARC_NS
    assert marxml.schema == "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"
    record = pymarc.Record()
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", "Very special")]))
    vs = registry.oai("vs").render(source_of(record, "MARC21"))
    assert vs.findtext("{http://veryspecial.tamil.fr/vs/format-pivot/1.1/vs}title") == "Very special"
    items = [{"homebranch": "CPL", "barcode": "123"}]
    rendered = registry.oai("marc21").render(source_of(record, "MARC21", items=items))
    assert rendered.xpath("//m:datafield[@tag='952']/m:subfield[@code='p']/text()", namespaces={"m": marc.MARC_NS}) \
        == ["123"]
    # Koha's bundled UNIMARC stylesheet path resolves to kohaweb's own
    assert registry.oai("oai_dc").render(source_of(record, "MARC21")) is not None


@pytest.mark.parametrize("entry, reason", [
    ("  x:\n    metadataPrefix: x\n    colour: red\n", "unknown key(s) colour"),
    ("  x:\n    metadataPrefix: x\n    metadataNamespace: urn:x\n    schema: urn:x.xsd\n    xsl_file: nowhere.xsl\n",
     "stylesheet nowhere.xsl does not exist"),
    ("  x:\n    metadataPrefix: x\n    metadataNamespace: urn:x\n    schema: urn:x.xsd\n    xsl_file: broken.xsl\n",
     "does not compile"),
    ("  x:\n    metadataPrefix: same\n  y:\n    metadataPrefix: same\n", "metadataPrefix 'same' already used"),
])
@database_independent
def test_bad_conf_file_names_file_entry_and_reason(tmp_path, entry, reason):
    (tmp_path / "broken.xsl").write_text("<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>"
                                         "<xsl:template match='/'><xsl:value-of select='(((('/></xsl:template></xsl:stylesheet>")
    conf = tmp_path / "formats.yaml"
    conf.write_text("format:\n" + entry)
    with pytest.raises(ConfigError) as exc:
        build_registry(str(conf))
    message = "\n".join(exc.value.problems)
    assert str(conf) in message and reason in message


def test_conf_file_setting_reaches_the_app(tmp_path, make_app):
    conf = tmp_path / "formats.yaml"
    conf.write_text(textwrap.dedent("""\
        format:
          marcxml:
            metadataPrefix: marcxml
            include_items: 1
        """))
    app = make_app(services=[], **{"kohaweb.formats.conf": str(conf)})
    registry = app.app.registry.kohaweb.formats
    assert [f.prefix for f in registry.oai_formats()] == ["marcxml"] and registry.oai("marcxml").include_items
