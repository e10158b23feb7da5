"""The authorities OAI-PMH repository (/oai/authorities, oai.authorities; issue 18) on the real
authority records of ../shared/data: off by default, the six verbs, paging, deleted records,
from/until, errors, schema validity, and a harvest with sickle."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
from lxml import etree

import kohaweb.authorities as authorities_module
from kohaweb import marc
from kohaweb.authorities import Authorities
from kohaweb.testing import assert_valid

OAI = "http://www.openarchives.org/OAI/2.0/"
NS = {"oai": OAI, "marc": "http://www.loc.gov/MARC21/slim"}
SETTINGS = {"oai.admin_email": "oai-admin@library.example.org", "oai.repository_identifier": "library.example.org",
            "oai.max_count": "10"}
FILES = ("evergreen-library-system__Evergreen/auth-subset100.mrc", "pkiraly__qa-catalogue/authority.sample.xml",
         "lcnetdev__marcauth-to-madsrdf/no2021084916.marcxml.xml", "lcnetdev__marcauth-to-madsrdf/sh2001011656.marcxml.xml")
PREFIX = "oai:library.example.org:authority:"


@pytest.fixture
def schema(xml_schema):
    return xml_schema("OAI-PMH", "oai-identifier", "MARC21slim")


@pytest.fixture
def stored(dbsession, shared_data, monkeypatch) -> list[int]:
    """The real authorities, written one second apart from 2024-03-01 12:00:00."""
    clock = iter(dt.datetime(2024, 3, 1, 12, 0, 0) + dt.timedelta(seconds=i) for i in range(1000))
    monkeypatch.setattr(authorities_module, "utcnow", lambda: next(clock))
    store = Authorities(dbsession)
    ids = [store.add(r.record).authid for name in FILES
           for r in marc.read_records(str(shared_data / "authority" / name)) if r.record is not None]
    dbsession.commit()
    return ids


@pytest.fixture
def oai(make_app):
    return make_app(services=["oai"], **SETTINGS, **{"oai.authorities": "true"})


def get(app, schema, **params):
    response = app.get("/oai/authorities?" + urlencode(params))
    assert response.content_type == "text/xml"
    assert_valid(schema, response.body)
    return etree.fromstring(response.body)


def errors(doc) -> list[str]:
    return [e.get("code") for e in doc.iterfind("oai:error", NS)]


def test_off_by_default(make_app, stored):
    make_app(services=["oai"], **SETTINGS).get("/oai/authorities?verb=Identify", status=404)


def test_identify_formats_and_sets(oai, schema, stored):
    doc = get(oai, schema, verb="Identify")
    assert doc.findtext(".//oai:earliestDatestamp", namespaces=NS) == "2024-03-01T12:00:00Z"
    assert doc.findtext(".//oai:baseURL", namespaces=NS).endswith("/oai/authorities")
    formats = get(oai, schema, verb="ListMetadataFormats").xpath("//oai:metadataPrefix/text()", namespaces=NS)
    assert "marcxml" in formats and "oai_dc" not in formats
    assert errors(get(oai, schema, verb="ListSets")) == ["noSetHierarchy"]
    assert errors(get(oai, schema, verb="ListMetadataFormats", identifier=PREFIX + "99999")) == ["idDoesNotExist"]


def test_list_records_pages_through_every_authority(oai, schema, stored):
    seen, params = [], {"verb": "ListRecords", "metadataPrefix": "marcxml"}
    while True:
        doc = get(oai, schema, **params)
        seen += [int(i.rsplit(":", 1)[1]) for i in doc.xpath("//oai:header/oai:identifier/text()", namespaces=NS)]
        for record in doc.iterfind(".//marc:record", NS):
            assert record.findtext("marc:leader", namespaces=NS)[6] == "z"
        token = doc.find(".//oai:resumptionToken", NS)
        assert token is not None and token.get("completeListSize") == str(len(stored))
        if not token.text:
            break
        params = {"verb": "ListRecords", "resumptionToken": token.text}
    assert seen == stored
    doc = get(oai, schema, verb="ListIdentifiers", metadataPrefix="marcxml", **{"from": "2024-03-01T12:00:05Z",
                                                                                 "until": "2024-03-01T12:00:07Z"})
    assert [int(i.rsplit(":", 1)[1]) for i in doc.xpath("//oai:identifier/text()", namespaces=NS)] == stored[5:8]
    assert doc.find(".//oai:resumptionToken", NS) is None
    assert errors(get(oai, schema, verb="ListRecords", metadataPrefix="marcxml", until="2020-01-01")) == \
        ["noRecordsMatch"]
    assert errors(get(oai, schema, verb="ListRecords", metadataPrefix="oai_dc")) == ["cannotDisseminateFormat"]
    assert errors(get(oai, schema, verb="ListRecords", resumptionToken="forged")) == ["badResumptionToken"]
    assert errors(get(oai, schema, verb="ListRecords", metadataPrefix="marcxml", set="x")) == ["noSetHierarchy"]
    assert errors(get(oai, schema, verb="ListRecords")) == ["badArgument"]
    assert errors(get(oai, schema, verb="Fly")) == ["badVerb"]


def test_get_record_and_deleted_authorities(oai, schema, stored, dbsession):
    doc = get(oai, schema, verb="GetRecord", identifier=PREFIX + str(stored[0]), metadataPrefix="marcxml")
    assert doc.findtext(".//marc:controlfield[@tag='001']", namespaces=NS) == str(stored[0])
    Authorities(dbsession).delete(stored[0])
    dbsession.commit()
    doc = get(oai, schema, verb="GetRecord", identifier=PREFIX + str(stored[0]), metadataPrefix="marcxml")
    assert doc.find(".//oai:header", NS).get("status") == "deleted" and doc.find(".//oai:metadata", NS) is None
    deleted_at = dt.datetime(2024, 3, 1, 12, 0, 0) + dt.timedelta(seconds=len(stored))  # the clock's next second
    doc = get(oai, schema, verb="ListIdentifiers", metadataPrefix="marcxml",
              **{"from": deleted_at.isoformat() + "Z"})
    assert [(h.get("status"), h.findtext("oai:datestamp", namespaces=NS)) for h in doc.iterfind(".//oai:header", NS)] \
        == [("deleted", deleted_at.isoformat() + "Z")]  # listed at its deletion time
    assert errors(get(oai, schema, verb="GetRecord", identifier="oai:library.example.org:7",
                      metadataPrefix="marcxml")) == ["idDoesNotExist"]  # a bibliographic identifier


def test_harvest_with_sickle(live_server, stored):
    from sickle import Sickle

    with live_server(services=["oai"], **SETTINGS, **{"oai.authorities": "true"}) as url:
        records = list(Sickle(url + "/oai/authorities").ListRecords(metadataPrefix="marcxml"))
    assert len(records) == len(stored)
    assert all(r.header.identifier.startswith(PREFIX) for r in records)
