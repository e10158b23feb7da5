"""What harvesters must not see: suppressed records and records whose items are all hidden
(kohaweb.visibility) are deleted for OAI-PMH (or absent under deletedRecord "no"), hidden items
are not embedded, and every change of visibility moves the record's datestamp."""

from __future__ import annotations

import pytest
from lxml import etree

from kohaweb import visibility
from kohaweb.catalog import Catalog
from kohaweb.preferences import set_preference

PREFIX = "oai:library.example.org:"
MARC_NS = "http://www.loc.gov/MARC21/slim"
ITEMS_CONF = """\
format:
  marc21:
    metadataPrefix: marc21
    metadataNamespace: http://www.loc.gov/MARC21/slim
    schema: http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd
    include_items: 1
"""


def ident(number: int) -> str:
    return f"{PREFIX}{number}"


def headers_by_number(root, ns) -> dict[int, etree._Element]:
    return {int(h.findtext("oai:identifier", namespaces=ns).rsplit(":", 1)[1]): h
            for h in root.iterfind(".//oai:header", ns)}


@pytest.fixture
def catalogue(hidden_catalogue, clock):
    clock.tick()
    return hidden_catalogue


@pytest.mark.parametrize("verb", ["ListRecords", "ListIdentifiers"])
def test_hidden_records_are_listed_as_deleted(oai_app, oai_get, oai, catalogue, verb):
    h = catalogue
    root = oai_get(oai_app(), verb=verb, metadataPrefix="marcxml")
    headers = headers_by_number(root, oai.NS)
    assert sorted(headers) == sorted([h.open, h.suppressed, h.all_hidden, h.bare])
    assert {n for n, e in headers.items() if e.get("status") == "deleted"} == {h.suppressed, h.all_hidden}
    if verb == "ListRecords":
        with_metadata = {int(r.findtext("oai:header/oai:identifier", namespaces=oai.NS).rsplit(":", 1)[1])
                         for r in root.iterfind(".//oai:record", oai.NS) if r.find("oai:metadata", oai.NS) is not None}
        assert with_metadata == {h.open, h.bare}


def test_get_record_of_a_hidden_record(oai_app, oai_get, oai, catalogue):
    app = oai_app()
    for number in (catalogue.suppressed, catalogue.all_hidden):
        root = oai_get(app, verb="GetRecord", identifier=ident(number), metadataPrefix="marcxml")
        header = root.find(".//oai:header", oai.NS)
        assert header.get("status") == "deleted" and root.find(".//oai:metadata", oai.NS) is None
    shown = oai_get(app, verb="GetRecord", identifier=ident(catalogue.open), metadataPrefix="marcxml")
    assert shown.find(".//oai:metadata", oai.NS) is not None


def test_deleted_record_no_leaves_hidden_records_out(oai_app, oai_get, oai, catalogue):
    h = catalogue
    app = oai_app(**{"oai.deleted_record": "no", "oai.max_count": "1"})
    pages, headers = oai.harvest(oai_get, app, "ListIdentifiers", metadataPrefix="marcxml")
    assert sorted(headers_by_number(p, oai.NS).popitem()[0] for p in pages) == sorted([h.open, h.bare])
    assert oai.token_of(pages[0]).get("completeListSize") == "2"
    for number in (h.suppressed, h.all_hidden):
        root = oai_get(app, verb="GetRecord", identifier=ident(number), metadataPrefix="marcxml")
        assert oai.error_codes(root) == ["idDoesNotExist"]
        root = oai_get(app, verb="ListMetadataFormats", identifier=ident(number))
        assert oai.error_codes(root) == ["idDoesNotExist"]


def test_hidden_items_are_not_embedded(oai_app, oai_get, oai, catalogue, tmp_path):
    conf = tmp_path / "oai.yaml"
    conf.write_text(ITEMS_CONF)
    app = oai_app(**{"kohaweb.formats.conf": str(conf)})
    root = oai_get(app, verb="GetRecord", identifier=ident(catalogue.open), metadataPrefix="marc21")
    barcodes = [sf.text for sf in root.iterfind(f".//{{{MARC_NS}}}datafield[@tag='952']/{{{MARC_NS}}}subfield[@code='p']")]
    assert barcodes == ["VIS-1"]


def test_hidden_visible_hidden_with_datestamps(oai_app, oai_get, oai, catalogue, dbsession, clock):
    """Each transition gives the record a new datestamp, so an incremental harvest from the
    previous responseDate picks it up: back as a record, then deleted again."""
    h = catalogue
    app = oai_app()
    catalog = Catalog(dbsession)

    def harvest_from(start) -> dict[int, etree._Element]:
        root = oai_get(app, verb="ListRecords", metadataPrefix="marcxml", **{"from": start})
        return {int(r.findtext("oai:header/oai:identifier", namespaces=oai.NS).rsplit(":", 1)[1]): r
                for r in root.iterfind(".//oai:record", oai.NS)}

    visible_at = clock.tick(60)
    catalog.update_item(h.hidden_items[0], itype="BK")
    dbsession.commit()
    clock.tick()
    found = harvest_from(visible_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert list(found) == [h.all_hidden]
    record = found[h.all_hidden]
    assert record.find("oai:header", oai.NS).get("status") is None
    assert record.findtext("oai:header/oai:datestamp", namespaces=oai.NS) == visible_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert record.find("oai:metadata", oai.NS) is not None

    hidden_at = clock.tick(60)
    catalog.update_item(h.hidden_items[0], itype="REF")
    catalog.set_suppressed(h.open)
    dbsession.commit()
    clock.tick()
    found = harvest_from(hidden_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert sorted(found) == sorted([h.open, h.all_hidden])
    for record in found.values():
        header = record.find("oai:header", oai.NS)
        assert header.get("status") == "deleted"
        assert header.findtext("oai:datestamp", namespaces=oai.NS) == hidden_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_preference_change_applied_moves_datestamps(oai_app, oai_get, oai, catalogue, dbsession, clock):
    h = catalogue
    app = oai_app()
    changed_at = clock.tick(60)
    set_preference(dbsession, "OpacSuppression", "0")
    set_preference(dbsession, "OpacHiddenItems", "itype: [REF]\nbarcode: [VIS-1]\n")
    result = visibility.apply(dbsession)  # kohaweb oai apply-visibility
    dbsession.commit()
    assert sorted(result.shown) == sorted([h.suppressed, h.all_hidden]) and result.hidden == [h.open]
    clock.tick()
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml",
                   **{"from": changed_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    headers = headers_by_number(root, oai.NS)
    assert sorted(headers) == sorted([h.open, h.suppressed, h.all_hidden])
    assert [n for n, e in headers.items() if e.get("status") == "deleted"] == [h.open]


def test_sickle_and_oaipmh_lose_a_record_once_it_is_suppressed(oai_server, catalogue, dbsession, clock):
    """Two real clients harvest, the record is suppressed, an incremental harvest tells them to
    delete it, and a full harvest no longer has it."""
    from oaipmh.client import Client
    from oaipmh.metadata import MetadataRegistry, oai_dc_reader
    from sickle import Sickle

    h = catalogue
    with oai_server() as url:
        sickle = Sickle(url)
        live = {r.header.identifier for r in sickle.ListRecords(metadataPrefix="oai_dc", ignore_deleted=True)}
        assert live == {ident(h.open), ident(h.bare)}
        registry = MetadataRegistry()
        registry.registerReader("oai_dc", oai_dc_reader)
        client = Client(url, registry)
        before = {header.identifier() for header, _, _ in client.listRecords(metadataPrefix="oai_dc")
                  if not header.isDeleted()}
        assert before == live

        suppressed_at = clock.tick(60)
        Catalog(dbsession).set_suppressed(h.open)
        dbsession.commit()
        clock.tick()
        changes = list(sickle.ListRecords(metadataPrefix="oai_dc", ignore_deleted=False,
                                          **{"from": suppressed_at.strftime("%Y-%m-%dT%H:%M:%SZ")}))
        assert [(r.header.identifier, r.header.deleted) for r in changes] == [(ident(h.open), True)]
        after = {header.identifier() for header, _, _ in client.listRecords(metadataPrefix="oai_dc")
                 if not header.isDeleted()}
        assert after == {ident(h.bare)}


def test_apply_visibility_command(tmp_path, database_url, clean_db, capsys, catalogue, dbsession):
    from kohaweb.cli import main
    from kohaweb.models import Biblio
    from kohaweb.testing import TEST_SECRET

    ini = tmp_path / "oai.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.services = oai\nkohaweb.database_url = {database_url}\n"
                   f"kohaweb.secret = {TEST_SECRET}\noai.admin_email = oai-admin@library.example.org\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text("barcode: [VIS-1, VIS-2]\n")
    assert main(["-c", str(ini), "oai", "apply-visibility", "--dry-run", "--set", "OpacHiddenItems=@" + str(rules)]) == 0
    assert "would change: 1 hidden from the public, 1 visible again" in capsys.readouterr().out
    dbsession.close()  # a new transaction and no identity map: what the command committed
    assert not dbsession.get(Biblio, catalogue.open).hidden_from_public
    assert main(["-c", str(ini), "oai", "apply-visibility", "--set", "OpacHiddenItems=@" + str(rules)]) == 0
    assert "changed: 1 hidden from the public, 1 visible again" in capsys.readouterr().out
    dbsession.close()
    assert dbsession.get(Biblio, catalogue.open).hidden_from_public
    assert not dbsession.get(Biblio, catalogue.all_hidden).hidden_from_public
    assert main(["-c", str(ini), "oai", "apply-visibility", "--set", "OpacHiddenItems=itype: [REF"]) != 0
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["-c", str(ini), "oai", "apply-visibility", "--set", "Nonsense=1"]) != 0
