"""Identify, ListMetadataFormats, GetRecord and every error condition of the specification."""

from __future__ import annotations

import gzip
import zlib

import pytest
from lxml import etree

from kohaweb import signing
from kohaweb.testing import TEST_SECRET

NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "marc": "http://www.loc.gov/MARC21/slim",
      "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/"}


def error_codes(root) -> list[str]:
    return [e.get("code") for e in root.findall("oai:error", NS)]


def token_of(root):
    return root.find(".//oai:resumptionToken", NS)


@pytest.fixture
def app(oai_app):
    return oai_app(**{"oai.max_count": "3"})


@pytest.fixture
def records(sample_records, clock):
    ids = sample_records(5)
    clock.tick(5)
    return ids


def request_attrs(root) -> dict:
    return dict(root.find("oai:request", NS).attrib)


@pytest.mark.parametrize("path", ["/oai", "/cgi-bin/koha/oai.pl"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_identify_on_both_paths_and_methods(app, oai_get, records, path, method):
    root = oai_get(app, method=method, path=path, verb="Identify")
    ident = root.find("oai:Identify", NS)
    assert ident.findtext("oai:repositoryName", namespaces=NS) == "Test library"
    assert ident.findtext("oai:baseURL", namespaces=NS) == "http://localhost" + path
    assert root.findtext("oai:request", namespaces=NS) == "http://localhost" + path
    assert request_attrs(root) == {"verb": "Identify"}
    assert ident.findtext("oai:protocolVersion", namespaces=NS) == "2.0"
    assert ident.findtext("oai:adminEmail", namespaces=NS) == "oai-admin@library.example.org"
    assert ident.findtext("oai:earliestDatestamp", namespaces=NS) == "2024-03-01T12:00:00Z"
    assert ident.findtext("oai:deletedRecord", namespaces=NS) == "persistent"
    assert ident.findtext("oai:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert [c.text for c in ident.findall("oai:compression", NS)] == ["gzip", "deflate"]
    oid = "{http://www.openarchives.org/OAI/2.0/oai-identifier}"
    description = ident.find(f"oai:description/{oid}oai-identifier", NS)
    assert description.findtext(f"{oid}repositoryIdentifier") == "library.example.org"
    assert description.findtext(f"{oid}sampleIdentifier") == "oai:library.example.org:1"


def test_identify_settings(oai_app, oai_get, clock):
    app = oai_app(**{"oai.repository_name": "Union catalogue", "oai.deleted_record": "transient",
                     "oai.admin_email": "a@x.example.org b@y.example.org", "oai.compression": "false",
                     "oai.identifier_scheme": "koha", "oai.archive_id": "KOHA-OAI-TEST"})
    root = oai_get(app, verb="Identify")
    ident = root.find("oai:Identify", NS)
    assert ident.findtext("oai:repositoryName", namespaces=NS) == "Union catalogue"
    assert [e.text for e in ident.findall("oai:adminEmail", NS)] == ["a@x.example.org", "b@y.example.org"]
    assert ident.findtext("oai:deletedRecord", namespaces=NS) == "transient"
    assert ident.findall("oai:compression", NS) == []
    assert ident.find("oai:description", NS) is None  # Koha's identifiers are not oai-identifiers
    # an empty repository's earliest datestamp is the response date
    assert ident.findtext("oai:earliestDatestamp", namespaces=NS) == root.findtext("oai:responseDate", namespaces=NS)


def test_settings_that_would_give_invalid_responses_stop_start_up(oai_app):
    from kohaweb.settings import ConfigError

    with pytest.raises(ConfigError) as exc:
        oai_app(**{"oai.admin_email": "root@localhost", "oai.repository_identifier": "not a domain"})
    assert len(exc.value.problems) == 2


@pytest.mark.parametrize("query, why", [
    ({}, "missing"), ({"verb": "Frobnicate"}, "illegal"), ({"verb": "identify"}, "case matters"),
])
def test_bad_verb(app, oai_get, query, why):
    root = oai_get(app, **query)
    assert error_codes(root) == ["badVerb"], why
    assert request_attrs(root) == {}


def test_repeated_verb_is_bad_verb(app, oai_get, oai_schema):
    from kohaweb.testing import assert_valid

    response = app.get("/oai?verb=Identify&verb=Identify")
    root = etree.fromstring(response.body)
    assert_valid(oai_schema, root)
    assert error_codes(root) == ["badVerb"]


@pytest.mark.parametrize("query", [
    "verb=Identify&metadataPrefix=oai_dc",                       # illegal argument
    "verb=ListRecords",                                          # missing metadataPrefix
    "verb=GetRecord&metadataPrefix=oai_dc",                      # missing identifier
    "verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=marcxml",  # repeated
    "verb=ListRecords&metadataPrefix=oai_dc&from=2024-13-01",    # impossible date
    "verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01T00:00:00",  # no Z
    "verb=ListRecords&metadataPrefix=oai_dc&until=yesterday",
    "verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01&until=2024-02-01T00:00:00Z",  # granularities
    "verb=ListRecords&metadataPrefix=oai_dc&from=2024-02-02&until=2024-02-01",  # from later than until
    "verb=ListIdentifiers&resumptionToken=abc&metadataPrefix=oai_dc",  # exclusive
    "verb=ListRecords&metadataPrefix=oai%20dc",                  # illegal prefix syntax
    "verb=ListRecords&metadataPrefix=oai_dc&set=a::b",           # illegal setSpec
    "verb=ListSets&set=x",
])
def test_bad_argument(app, oai_schema, query):
    from kohaweb.testing import assert_valid

    for response in (app.get("/oai?" + query),
                     app.post("/oai", query, headers={"Content-Type": "application/x-www-form-urlencoded"})):
        root = etree.fromstring(response.body)
        assert_valid(oai_schema, root)
        assert "badArgument" in error_codes(root), query
        assert request_attrs(root) == {}, "badArgument responses carry no request attributes"


def test_cannot_disseminate_format(app, oai_get, records):
    root = oai_get(app, verb="ListRecords", metadataPrefix="marxml")
    assert error_codes(root) == ["cannotDisseminateFormat"]
    assert request_attrs(root) == {"verb": "ListRecords", "metadataPrefix": "marxml"}
    root = oai_get(app, verb="GetRecord", metadataPrefix="nope", identifier=f"oai:library.example.org:{records[0]}")
    assert error_codes(root) == ["cannotDisseminateFormat"]


def test_format_not_available_for_the_record_flavour(app, oai_get, sample_records, clock):
    [unimarc] = sample_records(1, flavour="UNIMARC")
    clock.tick()
    identifier = f"oai:library.example.org:{unimarc}"
    formats = app.app.registry.kohaweb.formats
    marc21_only = [f for f in formats.oai_formats() if f.accepts("MARC21") and not f.accepts("UNIMARC")]
    if not marc21_only:
        pytest.skip("no MARC21-only OAI format registered")
    root = oai_get(app, verb="GetRecord", metadataPrefix=marc21_only[0].prefix, identifier=identifier)
    assert error_codes(root) == ["cannotDisseminateFormat"]
    listed = [e.text for e in oai_get(app, verb="ListMetadataFormats", identifier=identifier)
              .iterfind(".//oai:metadataPrefix", NS)]
    assert marc21_only[0].prefix not in listed and listed


@pytest.mark.parametrize("identifier", [
    "oai:library.example.org:999999", "oai:other.example.org:1", "oai:library.example.org:01",
    "oai:library.example.org:1x", "KOHA-OAI-TEST:1", "", "oai:library.example.org:-1"])
def test_id_does_not_exist(app, oai_get, records, identifier):
    for verb, extra in (("GetRecord", {"metadataPrefix": "oai_dc"}), ("ListMetadataFormats", {})):
        root = oai_get(app, verb=verb, identifier=identifier, **extra)
        assert error_codes(root) == ["idDoesNotExist"], identifier
        assert request_attrs(root)["identifier"] == identifier


def test_no_records_match(app, oai_get, records):
    root = oai_get(app, verb="ListRecords", metadataPrefix="oai_dc", **{"from": "2030-01-01"})
    assert error_codes(root) == ["noRecordsMatch"]
    assert request_attrs(root) == {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2030-01-01"}
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="oai_dc", until="2001-01-01")
    assert error_codes(root) == ["noRecordsMatch"]


def test_empty_repository_lists_nothing(app, oai_get):
    assert error_codes(oai_get(app, verb="ListRecords", metadataPrefix="marcxml")) == ["noRecordsMatch"]


def test_no_set_hierarchy(app, oai_get, records):
    assert error_codes(oai_get(app, verb="ListSets")) == ["noSetHierarchy"]
    root = oai_get(app, verb="ListRecords", metadataPrefix="oai_dc", set="books")
    assert error_codes(root) == ["noSetHierarchy"]
    # every error of a request is reported
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="unknown", set="books")
    assert sorted(error_codes(root)) == ["cannotDisseminateFormat", "noSetHierarchy"]


def test_no_metadata_formats(app, oai_get, records):
    app.app.registry.kohaweb.formats.oai_formats = lambda: []
    assert error_codes(oai_get(app, verb="ListMetadataFormats")) == ["noMetadataFormats"]


def test_list_metadata_formats(app, oai_get, records):
    root = oai_get(app, verb="ListMetadataFormats")
    registry = app.app.registry.kohaweb.formats
    shown = {e.findtext("oai:metadataPrefix", namespaces=NS): (e.findtext("oai:schema", namespaces=NS),
                                                                e.findtext("oai:metadataNamespace", namespaces=NS))
             for e in root.iterfind(".//oai:metadataFormat", NS)}
    assert shown == {f.prefix: (f.schema, f.namespace) for f in registry.oai_formats() if f.is_xml}
    assert {"oai_dc", "marcxml"} <= set(shown)
    root = oai_get(app, verb="ListMetadataFormats", identifier=f"oai:library.example.org:{records[0]}")
    assert {"oai_dc", "marcxml"} <= {e.text for e in root.iterfind(".//oai:metadataPrefix", NS)}


def _first_token(app, oai_get):
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="oai_dc")
    return token_of(root).text


def test_bad_resumption_tokens(app, oai_get, records, clock):
    token = _first_token(app, oai_get)
    payload, _, mac = token.rpartition(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac
    foreign = signing.sign("another-site-secret-0123456789abcdef", "oai-resumption",
                           signing.unsign(TEST_SECRET, "oai-resumption", token, now=clock.time()),
                           max_age=3600, now=clock.time())
    for bad in (tampered, "garbage", "", foreign, token + "x"):
        root = oai_get(app, verb="ListIdentifiers", resumptionToken=bad)
        assert error_codes(root) == ["badResumptionToken"], bad
        assert request_attrs(root) == {"verb": "ListIdentifiers", "resumptionToken": bad}
    # a token of one verb is refused by another
    assert error_codes(oai_get(app, verb="ListRecords", resumptionToken=token)) == ["badResumptionToken"]
    # ... and after its lifetime (one day by default)
    assert oai_get(app, verb="ListIdentifiers", resumptionToken=token).find("oai:ListIdentifiers", NS) is not None
    clock.tick(86400 + 1)
    assert error_codes(oai_get(app, verb="ListIdentifiers", resumptionToken=token)) == ["badResumptionToken"]


def test_token_lifetime_is_announced(app, oai_get, records):
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="oai_dc")
    assert token_of(root).get("expirationDate") == "2024-03-02T12:00:05Z"


def test_get_record(app, oai_get, records, catalog, clock):
    identifier = f"oai:library.example.org:{records[0]}"
    root = oai_get(app, verb="GetRecord", metadataPrefix="marcxml", identifier=identifier)
    record = root.find("oai:GetRecord/oai:record", NS)
    assert record.findtext("oai:header/oai:identifier", namespaces=NS) == identifier
    assert record.findtext("oai:header/oai:datestamp", namespaces=NS) == "2024-03-01T12:00:00Z"
    stored = catalog.marc(records[0])
    assert record.find("oai:metadata/marc:record", NS) is not None
    assert record.findtext(".//marc:datafield[@tag='245']/marc:subfield[@code='a']", namespaces=NS) == stored["245"]["a"]
    root = oai_get(app, verb="GetRecord", metadataPrefix="oai_dc", identifier=identifier)
    assert root.find("oai:GetRecord/oai:record/oai:metadata/oai_dc:dc", NS) is not None
    # deleted: a header with status="deleted" and the deletion time
    clock.tick(60)
    catalog.delete_record(records[0])
    catalog.session.commit()
    root = oai_get(app, verb="GetRecord", metadataPrefix="marcxml", identifier=identifier)
    header = root.find("oai:GetRecord/oai:record/oai:header", NS)
    assert header.get("status") == "deleted"
    assert header.findtext("oai:datestamp", namespaces=NS) == "2024-03-01T12:01:05Z"
    assert root.find("oai:GetRecord/oai:record/oai:metadata", NS) is None


def test_deleted_record_policy_no_hides_deletions(oai_app, oai_get, records, catalog, clock):
    app = oai_app(**{"oai.deleted_record": "no"})
    catalog.delete_record(records[0])
    catalog.session.commit()
    clock.tick()
    identifier = f"oai:library.example.org:{records[0]}"
    assert error_codes(oai_get(app, verb="GetRecord", metadataPrefix="marcxml", identifier=identifier)) \
        == ["idDoesNotExist"]
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml")
    assert identifier not in [e.text for e in root.iterfind(".//oai:identifier", NS)]
    assert root.find(".//oai:header[@status='deleted']", NS) is None


def test_koha_identifiers(oai_app, oai_get, records):
    app = oai_app(**{"oai.identifier_scheme": "koha", "oai.archive_id": "KOHA-OAI-TEST"})
    root = oai_get(app, verb="GetRecord", metadataPrefix="marcxml", identifier=f"KOHA-OAI-TEST:{records[1]}")
    assert root.findtext(".//oai:header/oai:identifier", namespaces=NS) == f"KOHA-OAI-TEST:{records[1]}"
    assert error_codes(oai_get(app, verb="GetRecord", metadataPrefix="marcxml",
                               identifier=f"oai:library.example.org:{records[1]}")) == ["idDoesNotExist"]


@pytest.mark.parametrize("accept, encoding, decode", [
    ("gzip", "gzip", gzip.decompress), ("deflate", "deflate", zlib.decompress),
    ("br;q=1, deflate;q=0.2, gzip;q=0.5", "gzip", gzip.decompress), ("br", None, bytes),
    ("gzip;q=0", None, bytes), (None, None, bytes)])
def test_compression_over_http(oai_server, oai_schema, records, accept, encoding, decode):
    """webtest decodes bodies itself, so this goes over real HTTP."""
    import urllib.request

    from kohaweb.testing import assert_valid

    with oai_server() as url:
        for query in ("verb=ListRecords&metadataPrefix=marcxml", "verb=Identify", "verb=Nope"):
            request = urllib.request.Request(url + "?" + query, headers={"Accept-Encoding": accept} if accept else {})
            with urllib.request.urlopen(request) as response:
                assert response.headers.get("Content-Encoding") == encoding
                assert "Accept-Encoding" in response.headers["Vary"]
                assert_valid(oai_schema, decode(response.read()))
