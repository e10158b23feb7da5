"""MODS plugin: valid MODS 3.7 for every real MARC21 record; offered by the registry once installed."""

import pymarc
import pytest
from kohaweb_mods import mods

from kohaweb import marc
from kohaweb.formats import RecordSource, RenderError, build_registry
from kohaweb.testing import assert_valid, selected_backend

M = "{http://www.loc.gov/mods/v3}"
database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="does not touch the database; runs once, on SQLite")


@database_independent
def test_every_marc21_record_gives_valid_mods(shared_data, xml_schema):
    schema = xml_schema("mods-3-7")
    count = 0
    for result in marc.read_records(str(shared_data / "marc21-collection.xml")):
        source = RecordSource(result.position, "MARC21", marc.record_to_xml(result.record).decode())
        assert_valid(schema, mods.render(source))
        count += 1
    assert count > 5000


@database_independent
def test_mapping():
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data="240101s1999    enk           000 0 eng d"))
    record.add_field(pymarc.Field(tag="020", indicators=pymarc.Indicators(" ", " "),
                                  subfields=[pymarc.Subfield("a", "9780140449136")]))
    record.add_field(pymarc.Field(tag="100", indicators=pymarc.Indicators("1", " "),
                                  subfields=[pymarc.Subfield("a", "Homer."), pymarc.Subfield("e", "author.")]))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "4"),
                                  subfields=[pymarc.Subfield("a", "The Odyssey /")]))
    record.add_field(pymarc.Field(tag="650", indicators=pymarc.Indicators(" ", "0"),
                                  subfields=[pymarc.Subfield("a", "Epic poetry, Greek"),
                                             pymarc.Subfield("v", "Translations into English.")]))
    root = mods.render(RecordSource(1, "MARC21", marc.record_to_xml(record).decode()))
    assert root.findtext(f"{M}titleInfo/{M}nonSort") == "The " and root.findtext(f"{M}titleInfo/{M}title") == "Odyssey"
    assert root.findtext(f"{M}name/{M}namePart") == "Homer"
    assert root.findtext(f"{M}typeOfResource") == "text"
    assert root.find(f"{M}identifier[@type='isbn']").text == "9780140449136"
    assert root.find(f"{M}subject[@authority='lcsh']/{M}genre").text == "Translations into English"
    assert root.find(f"{M}language/{M}languageTerm").text == "eng"


@database_independent
def test_unimarc_is_refused_per_record():
    with pytest.raises(RenderError):
        mods.render(RecordSource(1, "UNIMARC", "<record xmlns='http://www.loc.gov/MARC21/slim'/>"))


@database_independent
def test_registry_offers_mods_everywhere():
    registry = build_registry()
    assert registry.oai("mods") is mods and registry.sru("mods") is mods
    assert registry.sru("info:srw/schema/1/mods-v3.7") is mods and registry.media_type("application/mods+xml") is mods


def _installed(*services):
    from kohaweb import plugins

    missing = set(services) - set(plugins.load_all(plugins.SERVICES))
    return pytest.mark.skipif(bool(missing), reason=f"service plugin(s) {', '.join(sorted(missing))} not installed")


@_installed("oai", "sru")
def test_oai_and_sru_offer_and_serve_mods(make_app, sample_records, xml_schema, monkeypatch):
    """Installed with one entry point, MODS appears in OAI ListMetadataFormats and SRU explain,
    and both services serve the same MODS bytes for a record."""
    import datetime as dt

    from lxml import etree

    from kohaweb import catalog

    # OAI lists up to the previous second: date the records a minute back instead of waiting
    real_utcnow = catalog.utcnow
    monkeypatch.setattr(catalog, "utcnow", lambda: real_utcnow() - dt.timedelta(minutes=1))
    number = sample_records(3)[0]
    app = make_app(services=["oai", "sru"])
    oai_ns = {"o": "http://www.openarchives.org/OAI/2.0/"}
    formats = etree.fromstring(app.get("/oai", {"verb": "ListMetadataFormats"}).body)
    assert "mods" in formats.xpath("//o:metadataPrefix/text()", namespaces=oai_ns)
    listed = etree.fromstring(app.get("/oai", {"verb": "ListRecords", "metadataPrefix": "mods"}).body)
    assert_valid(xml_schema("OAI-PMH", "mods-3-7"), listed)
    from_oai = listed.xpath("//o:metadata/*", namespaces=oai_ns)
    assert from_oai and all(etree.QName(m).namespace == "http://www.loc.gov/mods/v3" for m in from_oai)

    explain = etree.fromstring(app.get("/sru", {"operation": "explain", "version": "1.1"}).body)
    assert "mods" in explain.xpath("//*[local-name()='schema']/@name")
    found = etree.fromstring(app.get("/sru", {"operation": "searchRetrieve", "version": "1.1",
                                              "query": f"rec.id={number}", "recordSchema": "mods"}).body)
    assert_valid(xml_schema("srw-types", "mods-3-7"), found)
    from_sru = found.xpath("//*[local-name()='recordData']/*")
    same = [etree.canonicalize(etree.tostring(m).decode()) for m in from_oai]
    assert len(from_oai) == 3 and len(from_sru) == 1
    assert etree.canonicalize(etree.tostring(from_sru[0]).decode()) == same[0]
