"""The SRU server over HTTP: explain, searchRetrieve (paging, schemas, packing, sorting), scan,
every diagnostic, the not-ready index, and yaz-client as a real client."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from urllib.parse import urlencode

import pytest
from lxml import etree

from kohaweb.catalog import Catalog
from kohaweb.marc import read_records
from kohaweb.testing import assert_valid

SRW = "http://www.loc.gov/zing/srw/"
NS = {"zs": SRW, "diag": "http://www.loc.gov/zing/srw/diagnostic/", "marc": "http://www.loc.gov/MARC21/slim",
      "ex": "http://explain.z3950.org/dtd/2.0/", "xcql": "http://www.loc.gov/zing/cql/xcql/"}


@pytest.fixture
def sru(make_app):
    return make_app(services=["sru"])


@pytest.fixture
def srw_schema(xml_schema):
    return xml_schema("srw-types", "MARC21slim")


def get(app, schema, path="/sru", **params):
    response = app.get(path + ("?" + urlencode(params) if params else ""))
    assert response.status_int == 200
    assert response.content_type == "text/xml"
    assert_valid(schema, response.body)
    return etree.fromstring(response.body)


def diag_numbers(doc) -> list[int]:
    return [int(u.rsplit("/", 1)[1]) for u in doc.xpath("//diag:diagnostic/diag:uri/text()", namespaces=NS)]


def number_of_records(doc) -> int:
    return int(doc.findtext(f"{{{SRW}}}numberOfRecords"))


def test_explain_without_parameters_describes_the_live_configuration(sru, srw_schema, sample_records):
    doc = get(sru, srw_schema)
    assert doc.tag == f"{{{SRW}}}explainResponse"
    explain = doc.find(".//ex:explain", NS)
    assert explain.findtext("ex:serverInfo/ex:database", namespaces=NS) == "sru"
    assert explain.findtext("ex:databaseInfo/ex:title", namespaces=NS) == "Test library"
    names = {(n.get("set"), n.text) for n in explain.iterfind(".//ex:index/ex:map/ex:name", NS)}
    assert {("dc", "title"), ("cql", "serverChoice"), ("rec", "id"), ("bath", "isbn"), ("dc", "date")} <= names
    schemas = {s.get("name") for s in explain.iterfind(".//ex:schemaInfo/ex:schema", NS)}
    assert {"marcxml", "dc", "mods"} <= schemas  # mods comes from the installed kohaweb-mods plugin
    config = {(e.tag.split("}")[1], e.get("type")): e.text for e in explain.find("ex:configInfo", NS)}
    assert config[("default", "numberOfRecords")] == "10"
    assert config[("setting", "maximumRecords")] == "100"


def test_explain_honours_stylesheet_settings_and_biblios_path(make_app, srw_schema):
    app = make_app(services=["sru"], **{"sru.title": "Union catalogue", "sru.default_records": "5"})
    response = app.get("/biblios?operation=explain&version=1.1&stylesheet=/sru.xsl")
    assert b'<?xml-stylesheet type="text/xsl" href="/sru.xsl"?>' in response.body
    doc = etree.fromstring(response.body)
    assert_valid(srw_schema, doc)
    assert doc.findtext(".//ex:databaseInfo/ex:title", namespaces=NS) == "Union catalogue"
    assert doc.findtext(".//ex:serverInfo/ex:database", namespaces=NS) == "biblios"
    assert doc.xpath("string(.//ex:configInfo/ex:default[@type='numberOfRecords'])", namespaces=NS) == "5"


def test_paging_is_right_at_every_boundary(sru, srw_schema, sample_records):
    sample_records(40)
    total = number_of_records(get(sru, srw_schema, operation="searchRetrieve", version="1.2",
                                  query="cql.allRecords = 1", maximumRecords=0))
    assert total == 40
    seen = []
    start = 1
    while True:
        doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query="cql.allRecords = 1",
                  startRecord=start, maximumRecords=7)
        positions = [int(p) for p in doc.xpath("//zs:record/zs:recordPosition/text()", namespaces=NS)]
        assert positions == list(range(start, min(start + 7, total + 1)))
        seen += doc.xpath("//marc:record/marc:controlfield[@tag='001']/text()", namespaces=NS)
        nxt = doc.findtext(f"{{{SRW}}}nextRecordPosition")
        if start + 7 > total:
            assert nxt is None
            break
        assert int(nxt) == start + 7
        start = int(nxt)
    assert len(seen) == len(set(seen)) == 40
    # the last record exactly, then one past the end
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query="cql.allRecords = 1",
              startRecord=40, maximumRecords=10)
    assert doc.xpath("//zs:recordPosition/text()", namespaces=NS) == ["40"]
    assert doc.find(f"{{{SRW}}}nextRecordPosition") is None
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query="cql.allRecords = 1",
              startRecord=41)
    assert diag_numbers(doc) == [61]


def test_maximum_records_default_and_ceiling(make_app, srw_schema, sample_records):
    sample_records(30)
    app = make_app(services=["sru"], **{"sru.default_records": "3", "sru.maximum_records": "12"})
    doc = get(app, srw_schema, operation="searchRetrieve", version="1.2", query="cql.allRecords=1")
    assert len(doc.findall(".//zs:record", NS)) == 3
    doc = get(app, srw_schema, operation="searchRetrieve", version="1.2", query="cql.allRecords=1",
              maximumRecords=500)
    assert len(doc.findall(".//zs:record", NS)) == 12
    assert doc.findtext(f"{{{SRW}}}nextRecordPosition") == "13"


@pytest.mark.parametrize("schema_name, schemas, root", [
    ("marcxml", ("srw-types", "MARC21slim"), "{http://www.loc.gov/MARC21/slim}record"),
    ("info:srw/schema/1/marcxml-v1.1", ("srw-types", "MARC21slim"), "{http://www.loc.gov/MARC21/slim}record"),
    ("dc", ("srw-types", "oai_dc"), "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"),
    ("info:srw/schema/1/dc-v1.1", ("srw-types", "oai_dc"), "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"),
    ("mods", ("srw-types", "mods-3-7"), "{http://www.loc.gov/mods/v3}mods"),
])
def test_record_schemas_validate(sru, xml_schema, sample_records, schema_name, schemas, root):
    sample_records(5)
    schema = xml_schema(*schemas)
    doc = get(sru, schema, operation="searchRetrieve", version="1.2", query="cql.allRecords=1",
              recordSchema=schema_name, maximumRecords=5)
    data = doc.findall(".//zs:recordData", NS)
    assert len(data) == 5 and all(d[0].tag == root for d in data)
    for d in data:  # each record also valid on its own against its format's schema
        assert_valid(xml_schema(schemas[1]), d[0])


def test_string_packing(sru, srw_schema, sample_records):
    sample_records(2)
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query="cql.allRecords=1",
              recordPacking="string", maximumRecords=1)
    data = doc.find(".//zs:recordData", NS)
    assert len(data) == 0 and etree.fromstring(data.text.encode()).tag == "{http://www.loc.gov/MARC21/slim}record"


def test_sorting_with_sortby_and_sortkeys(sru, srw_schema, sample_records):
    sample_records(20)

    def years(doc):
        return [int(r.xpath("string(marc:datafield[@tag='264']/marc:subfield[@code='c'])", namespaces=NS)[:4])
                for r in doc.iterfind(".//marc:record", NS)]

    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2",
              query="cql.allRecords=1 sortBy dc.date/sort.descending", maximumRecords=20)
    assert years(doc) == sorted(years(doc), reverse=True)
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.1", query="cql.allRecords=1",
              sortKeys="dc.date,,1", maximumRecords=20)
    assert years(doc) == sorted(years(doc))


def test_echoed_request_with_xcql_and_extra_request_data(sru, srw_schema, sample_records):
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query="dc.title = river or fish",
              maximumRecords=0, **{"x-client": "test"})
    echo = doc.find("zs:echoedSearchRetrieveRequest", NS)
    assert echo.findtext("zs:query", namespaces=NS) == "dc.title = river or fish"
    assert echo.findtext("zs:xQuery/xcql:triple/xcql:boolean/xcql:value", namespaces=NS) == "or"
    assert echo.findtext(".//{info:kohaweb/sru/extraRequestData}x-client") == "test"


def test_repeated_requests_answer_the_same(sru, srw_schema, sample_records):
    """Parsed queries and the explain record are kept between requests: a repeat gives the same
    bytes, string packing after xml packing of the same record too, and text needing escapes is
    escaped in every place it is echoed."""
    sample_records(5)
    for params in ({"operation": "explain", "version": "1.2"},
                   {"operation": "explain", "version": "1.1", "recordPacking": "string"},
                   {"operation": "searchRetrieve", "version": "1.2", "query": 'dc.title = "a & <b>" or rec.id = 1',
                    "x-note": "<&>", "stylesheet": "/s.xsl?a=1&b=2"},
                   {"operation": "searchRetrieve", "version": "1.1", "query": "cql.allRecords = 1",
                    "recordPacking": "string", "maximumRecords": 2}):
        first = sru.get("/sru?" + urlencode(params)).body
        assert_valid(srw_schema, etree.fromstring(first))
        assert sru.get("/sru?" + urlencode(params)).body == first
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query='dc.title = "a & <b>" or rec.id = 1',
              **{"x-note": "<&>"})
    assert doc.findtext("zs:echoedSearchRetrieveRequest/zs:query", namespaces=NS) == 'dc.title = "a & <b>" or rec.id = 1'
    assert doc.findtext(".//xcql:term", namespaces=NS) == "a & <b>"
    assert doc.findtext(".//{info:kohaweb/sru/extraRequestData}x-note") == "<&>"


def test_post_and_the_index_in_step_with_changes(sru, srw_schema, dbsession, sample_records):
    ids = sample_records(3)
    query = {"operation": "searchRetrieve", "version": "1.2", "query": f"rec.id = {ids[0]}"}
    response = sru.post("/sru", query)
    assert number_of_records(etree.fromstring(response.body)) == 1
    Catalog(dbsession).delete_record(ids[0])
    dbsession.commit()
    response = sru.post("/sru", query)
    assert number_of_records(etree.fromstring(response.body)) == 0


def test_scan(sru, srw_schema, sample_records):
    sample_records(20)
    doc = get(sru, srw_schema, operation="scan", version="1.2", scanClause="dc.title = river",
              responsePosition=2, maximumTerms=5)
    terms = doc.findall(".//zs:term", NS)
    assert len(terms) == 5
    assert terms[1].findtext("zs:value", namespaces=NS) == "river"
    assert all(int(t.findtext("zs:numberOfRecords", namespaces=NS)) > 0 for t in terms)
    assert [t.findtext("zs:whereInList", namespaces=NS) for t in terms] == ["first", "inner", "inner", "inner",
                                                                            "last"]
    river = number_of_records(get(sru, srw_schema, operation="searchRetrieve", version="1.2",
                                  query="dc.title = river", maximumRecords=0))
    assert int(terms[1].findtext("zs:numberOfRecords", namespaces=NS)) == river


DIAGNOSTICS = [
    ({"operation": "searchRetrieve", "version": "2.0", "query": "x"}, 5),
    ({"operation": "searchRetrieve", "query": "x"}, 7),
    ({"operation": "searchRetrieve", "version": "1.2"}, 7),
    ({"operation": "scan", "version": "1.2"}, 7),
    ({"operation": "frobnicate", "version": "1.2"}, 4),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "x", "colour": "blue"}, 8),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "x", "sortKeys": "dc.title"}, 8),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "x", "startRecord": "0"}, 6),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "x", "maximumRecords": "-1"}, 6),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "x", "maximumRecords": "ten"}, 6),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "title ="}, 10),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "(a or b"}, 10),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "foo.title = x"}, 15),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "dc.nosuchindex = x"}, 16),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "dc.title encloses x"}, 19),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "dc.title =/rel.CORI x"}, 20),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "dc.isbn =/stem 123"}, 20),
    ({"operation": "searchRetrieve", "version": "1.2", "query": 'dc.title = ""'}, 27),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "dc.title = ?*"}, 28),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "dc.title = ri^ver"}, 31),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "dc.date > soon"}, 36),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "a and/foo b"}, 46),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "a prox/unit=paragraph b"}, 42),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "(a or b) prox c"}, 44),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "river", "startRecord": "1000"}, 61),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "river", "recordSchema": "pica"}, 66),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "river", "recordPacking": "json"}, 71),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "river", "recordXPath": "/record"}, 72),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "river sortBy dc.subject"}, 88),
    ({"operation": "searchRetrieve", "version": "1.2", "query": "river sortBy dc.title/sort.respectCase"}, 91),
    ({"operation": "searchRetrieve", "version": "1.1", "query": "river", "sortKeys": "dc.title,,1,1"}, 91),
    ({"operation": "searchRetrieve", "version": "1.1", "query": "river", "sortKeys": "dc.title,,1,0,omit"}, 92),
    ({"operation": "scan", "version": "1.2", "scanClause": "dc.title = river", "responsePosition": "30",
      "maximumTerms": "5"}, 120),
    ({"operation": "scan", "version": "1.2", "scanClause": "dc.title any river"}, 19),
    ({"operation": "scan", "version": "1.2", "scanClause": "a and b"}, 10),
    ({"operation": "scan", "version": "1.2", "scanClause": "rec.id = 1"}, 4),
    ({"operation": "explain", "version": "1.2", "recordPacking": "binary"}, 71),
    ({"operation": "explain", "version": "1.2", "query": "x"}, 8),
]


@pytest.mark.parametrize("params, number", DIAGNOSTICS, ids=[f"{n}-{i}" for i, (_, n) in enumerate(DIAGNOSTICS)])
def test_every_bad_request_gets_its_diagnostic(sru, srw_schema, sample_records, params, number):
    sample_records(15)
    doc = get(sru, srw_schema, **params)
    assert diag_numbers(doc) == [number]


def test_broken_stored_record_becomes_a_surrogate_diagnostic(sru, srw_schema, sample_records, dbsession):
    from kohaweb.models import BiblioMetadata

    ids = sample_records(2)
    dbsession.get(BiblioMetadata, ids[0]).metadata_xml = "<record>not closed"
    dbsession.commit()
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query="cql.allRecords=1")
    records = doc.findall(".//zs:record", NS)
    assert records[0].findtext("zs:recordSchema", namespaces=NS) == "info:srw/schema/1/diagnostics-v1.1"
    assert records[0].findtext(".//diag:uri", namespaces=NS).startswith("info:srw/diagnostic/1/")
    assert records[1].find(".//marc:record", NS) is not None


def test_refuses_a_half_built_index(sru, srw_schema, sample_records, dbsession):
    from kohaweb.search import state

    sample_records(3)
    state.set_status(dbsession, state.REBUILDING)
    dbsession.commit()
    doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query="river")
    assert diag_numbers(doc) == [2]
    doc = get(sru, srw_schema, operation="scan", version="1.2", scanClause="river")
    assert diag_numbers(doc) == [2]


CORPUS = ["dc.title = history", "history", "dc.subject = \"coral reefs\"", "dc.creator = müller",
          "dc.creator = muller", "bath.isbn = 0914378260", "dc.date within \"1900 1950\"", "dc.date < 1800",
          "dc.title any \"river garden\"", "dc.title all \"history world\"", "dc.title = hist*",
          "dc.title = histor?", "dc.publisher = gallimard and dc.date > 1990", "dc.title = récifs",
          "dc.title = 図書館", "bath.name = smith or dc.subject = music", "dc.title = the not dc.title = history",
          "dc.subject exact \"coral reefs\"", "dc.subject = ^history", "rec.id < 20", "dc.language = fre",
          "cql.allRecords = 1"]


def test_real_catalogue_queries(sru, srw_schema, dbsession, shared_data, sample_records):
    """A catalogue from the real MARC21 and UNIMARC collections (plus generated records) answers
    every query of a corpus with valid responses and the right number of records."""
    sample_records(60)
    catalog = Catalog(dbsession)
    for name, flavour in (("marc21-collection.xml", "MARC21"), ("unimarc-collection.xml", "UNIMARC")):
        records = [r.record for r in itertools.islice(
            (r for r in read_records(str(shared_data / name)) if r.record is not None), 150)]
        catalog.add_records(records, flavour=flavour, items=[[] for _ in records])
    dbsession.commit()
    found = 0
    for query in CORPUS:
        doc = get(sru, srw_schema, operation="searchRetrieve", version="1.2", query=query, maximumRecords=3)
        assert diag_numbers(doc) == [], query
        total = number_of_records(doc)
        found += bool(total)
        assert len(doc.findall(".//zs:record", NS)) == min(total, 3)
    assert found >= len(CORPUS) - 6


@pytest.mark.skipif(shutil.which("yaz-client") is None, reason="yaz-client (Debian package yaz) not installed")
def test_yaz_client_in_sru_mode(live_server, sample_records):
    sample_records(30)
    with live_server(services=["sru"]) as url:
        script = (f"sru get 1.2\nopen {url}/sru\nfind dc.title=river\nshow 1\nscan dc.title=river\n"
                  f"sru post 1.1\nfind dc.title=river and dc.date>1900\nfind dc.nosuch=x\nquit\n")
        run = subprocess.run(["yaz-client"], input=script, capture_output=True, text=True, timeout=60)
    out = run.stdout
    hits = [int(line.split(":")[1]) for line in out.splitlines() if line.startswith("Number of hits")]
    assert len(hits) == 4 and hits[0] == hits[1] > 0 and 0 < hits[2] <= hits[0] and hits[3] == 0
    assert "schema=info:srw/schema/1/marcxml-v1.1" in out and "<record xmlns" in out
    assert "river:" in out  # the scan lists the term with its count
    assert "info:srw/diagnostic/1/16" in out or "Unsupported index" in out
