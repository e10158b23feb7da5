"""The SRU authorities database (/sru/authorities and Koha's /authorities): explain, searchRetrieve
and scan on the real authority records of ../shared/data, diagnostics, and yaz-client."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlencode

import pytest
from lxml import etree

from kohaweb import marc
from kohaweb.authorities import Authorities
from kohaweb.preferences import set_preference
from kohaweb.testing import assert_valid

SRW = "http://www.loc.gov/zing/srw/"
NS = {"zs": SRW, "diag": "http://www.loc.gov/zing/srw/diagnostic/", "marc": "http://www.loc.gov/MARC21/slim",
      "ex": "http://explain.z3950.org/dtd/2.0/"}
FILES = ("lcnetdev__marcauth-to-madsrdf/no2021084916.marcxml.xml", "lcnetdev__marcauth-to-madsrdf/sh2001011656.marcxml.xml",
         "lcnetdev__marcauth-to-madsrdf/n2015013824.marcxml.xml", "pkiraly__qa-catalogue/authority.sample.xml",
         "evergreen-library-system__Evergreen/auth-subset100.mrc")


@pytest.fixture
def sru(make_app):
    return make_app(services=["sru"])


@pytest.fixture
def schema(xml_schema):
    return xml_schema("srw-types", "MARC21slim")


@pytest.fixture
def authorities(dbsession, shared_data) -> list[int]:
    store = Authorities(dbsession)
    ids = [store.add(r.record).authid for name in FILES
           for r in marc.read_records(str(shared_data / "authority" / name)) if r.record is not None]
    dbsession.commit()
    return ids


def get(app, schema, path="/sru/authorities", **params):
    response = app.get(path + ("?" + urlencode(params) if params else ""))
    assert response.status_int == 200 and response.content_type == "text/xml"
    assert_valid(schema, response.body)
    return etree.fromstring(response.body)


def find(app, schema, query, path="/sru/authorities", **params):
    return get(app, schema, path, operation="searchRetrieve", version="1.2", query=query, **params)


def total(doc) -> int:
    return int(doc.findtext(f"{{{SRW}}}numberOfRecords"))


def diags(doc) -> list[int]:
    return [int(u.rsplit("/", 1)[1]) for u in doc.xpath("//diag:diagnostic/diag:uri/text()", namespaces=NS)]


def test_explain_names_the_database_and_koha_indexes(sru, schema, authorities):
    for path in ("/sru/authorities", "/authorities"):
        doc = get(sru, schema, path)
        assert doc.findtext(".//ex:serverInfo/ex:database", namespaces=NS) == "authorities"
        names = set(doc.xpath(".//ex:indexInfo/ex:index/ex:map/ex:name/text()", namespaces=NS))
        assert {"Heading", "Heading-Main", "See-from", "See-also-from", "Match", "Match-heading", "authtype",
                "Local-number", "LC-card-number", "Any", "id", "serverChoice"} <= names
    # the bibliographic database is unchanged beside it
    assert get(sru, schema, "/biblios").findtext(".//ex:serverInfo/ex:database", namespaces=NS) == "biblios"


def test_search_retrieve_on_every_koha_index(sru, schema, authorities):
    queries = {
        'Heading="buena vista"': 1, "See-from=oneota": 1, "See-also-from=basalt": 1, "See-also=basalt": 1,
        'Match="oneota mining"': 1, 'Match-heading="Buena Vista Mining District (Nev.)"': 1,
        'Match-heading="Buena Vista"': 0, "authtype=PERSO_NAME": 28, "authtype=GEOGR_NAME": 2,
        "LC-card-number=no2021084916": 1, 'LC-card-number="no 2021084916"': 1, "Any=esmeralda": 1,
        "heading-main=hillen*": 5, "HEADING=hillen* and heading=tycho": 1, "cql.serverChoice=nevada": 1, "cql.anywhere=creek or any=mining": 2,
        "cql.allRecords=1": 30, "Heading=hillen* not Heading=tycho": 4,
    }
    for query, expected in queries.items():
        doc = find(sru, schema, query, maximumRecords=50)
        assert diags(doc) == [], query
        assert total(doc) == expected, query
        assert len(doc.findall(".//zs:record", NS)) == expected
    doc = find(sru, schema, f"rec.id={authorities[0]}")
    assert total(doc) == 1
    record = doc.find(".//zs:recordData/marc:record", NS)
    assert record.findtext("marc:controlfield[@tag='001']", namespaces=NS) == str(authorities[0])
    assert record.findtext("marc:leader", namespaces=NS)[6] == "z"
    # Koha's path answers the same
    assert total(find(sru, schema, "See-from=oneota", path="/authorities")) == 1


def test_paging_sorting_and_string_packing(sru, schema, authorities):
    doc = find(sru, schema, "heading-main=hillen*", maximumRecords=2, startRecord=2)
    assert total(doc) == 5 and len(doc.findall(".//zs:record", NS)) == 2
    assert doc.findtext("zs:nextRecordPosition", namespaces=NS) == "4"
    doc = find(sru, schema, "heading-main=hillen* sortBy Heading", maximumRecords=5)
    headings = [r.findtext("marc:datafield[@tag='100']/marc:subfield[@code='a']", namespaces=NS)
                for r in doc.iterfind(".//marc:record", NS)]
    assert headings[0].startswith("Hillen, W") and headings[-1].startswith("Hillenius")
    reverse = find(sru, schema, "heading-main=hillen* sortBy Heading/descending", maximumRecords=5)
    assert [r.findtext("marc:controlfield[@tag='001']", namespaces=NS) for r in reverse.iterfind(".//marc:record", NS)] \
        == [r.findtext("marc:controlfield[@tag='001']", namespaces=NS) for r in doc.iterfind(".//marc:record", NS)][::-1]
    packed = find(sru, schema, "See-from=oneota", recordPacking="string", recordSchema="marc21")
    text = packed.findtext(".//zs:recordData", namespaces=NS)
    assert "Buena Vista" in text and text.startswith("<record")


def test_scan(sru, schema, authorities):
    doc = get(sru, schema, operation="scan", version="1.2", scanClause="Heading=hillen", maximumTerms=3)
    terms = [(t.findtext("zs:value", namespaces=NS), int(t.findtext("zs:numberOfRecords", namespaces=NS)))
             for t in doc.iterfind(".//zs:term", NS)]
    assert terms[0] == ("hillen", 2) and len(terms) == 3
    doc = get(sru, schema, operation="scan", version="1.1", scanClause="authtype=perso", maximumTerms=1)
    assert doc.findtext(".//zs:term/zs:value", namespaces=NS) == "perso"


def test_bad_input_gets_diagnostics(sru, schema, authorities):
    cases = {
        "dc.title=x": 16, "Title=x": 16, "foo.Heading=x": 15, 'Heading=""': 27, 'Heading="': 10, "Heading=a and": 10,
        "Heading encloses x": 19, "Heading =/stem running": 20, "Heading=x sortBy Any": 88, "Heading=*a": 28,
    }
    for query, number in cases.items():
        doc = find(sru, schema, query)
        assert diags(doc) == [number], query
        assert total(doc) == 0
    assert diags(find(sru, schema, "Heading=hillen*", recordSchema="dc")) == [66]
    assert diags(find(sru, schema, "Heading=hillen*", startRecord=99)) == [61]
    assert diags(find(sru, schema, "Heading=x", maximumRecords="lots")) == [6]
    assert diags(get(sru, schema, operation="searchRetrieve", version="1.2")) == [7]
    assert diags(get(sru, schema, operation="scan", version="1.2", scanClause="rec.id=1")) == [4]
    assert diags(get(sru, schema, operation="scan", version="1.2", scanClause="a and b")) == [10]
    assert diags(get(sru, schema, operation="fly", version="1.2")) == [4]
    assert diags(get(sru, schema, operation="explain", version="3.0")) == [5]


def test_an_index_being_rebuilt_is_not_searched(sru, schema, authorities, dbsession):
    set_preference(dbsession, "AuthoritySearchIndexStatus", "rebuilding", "Choice")
    dbsession.commit()
    assert diags(find(sru, schema, "Heading=x")) == [2]
    assert diags(get(sru, schema)) == []  # explain still answers


@pytest.mark.skipif(shutil.which("yaz-client") is None, reason="yaz-client (Debian package yaz) not installed")
def test_yaz_client_against_the_authorities_database(live_server, authorities):
    with live_server(services=["sru"]) as url:
        script = (f"sru get 1.2\nopen {url}/sru/authorities\nfind See-from=oneota\nshow 1\n"
                  f"find heading-main=hillen*\nscan Heading=hillen\nsru post 1.1\nfind authtype=GEOGR_NAME\n"
                  f"open {url}/authorities\nfind dc.title=x\nquit\n")
        run = subprocess.run(["yaz-client"], input=script, capture_output=True, text=True, timeout=60)
    out = run.stdout
    hits = [int(line.split(":")[1]) for line in out.splitlines() if line.startswith("Number of hits")]
    assert hits == [1, 1, 5, 2, 0], out  # show repeats the count
    assert "schema=info:srw/schema/1/marcxml-v1.1" in out and "Buena Vista Mining District" in out
    assert "hillen:" in out or "hillen " in out  # the scan lists the term with its count
    assert "info:srw/diagnostic/1/16" in out or "Unsupported index" in out


def test_biblio_search_through_see_from_forms_when_switched_on(sru, schema, authorities, dbsession):
    """IncludeSeeFromInSearches: a variant form (451 of the real LC authority) finds the records
    under the authorised heading (151) on /sru and /biblios; off by default."""
    from kohaweb.catalog import Catalog

    record = marc.parse_xml('<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500'
                            '</leader><datafield tag="245" ind1="1" ind2="0"><subfield code="a">Silver mines'
                            '</subfield></datafield><datafield tag="651" ind1=" " ind2="0"><subfield code="a">'
                            'Buena Vista Mining District (Nev.)</subfield></datafield></record>')
    Catalog(dbsession).add_record(record)
    dbsession.commit()
    query = 'dc.subject="oneota mining district"'
    assert total(find(sru, schema, query, path="/sru")) == 0
    set_preference(dbsession, "IncludeSeeFromInSearches", "1", "YesNo")
    dbsession.commit()
    for path in ("/sru", "/biblios"):
        doc = find(sru, schema, query, path=path)
        assert total(doc) == 1 and "Silver mines" in etree.tostring(doc).decode()
    assert total(find(sru, schema, 'dc.title="oneota mining district"', path="/sru")) == 0  # not a heading index


def test_unimarc_authorities_are_served_as_valid_marcxml(sru, schema, dbsession):
    import pymarc

    record = pymarc.Record(leader="00000nx  a2200000   450 ")
    record.add_field(pymarc.Field(tag="100", indicators=pymarc.Indicators(" ", " "),
                                  subfields=[pymarc.Subfield("a", "20240101afrey50      ba0")]))
    record.add_field(pymarc.Field(tag="200", indicators=pymarc.Indicators(" ", "1"), subfields=[
        pymarc.Subfield("a", "Hugo"), pymarc.Subfield("b", "Victor"), pymarc.Subfield("f", "1802-1885")]))
    record.add_field(pymarc.Field(tag="400", indicators=pymarc.Indicators(" ", "1"), subfields=[
        pymarc.Subfield("a", "Hugo"), pymarc.Subfield("b", "Victor-Marie")]))
    authid = Authorities(dbsession, marc.UNIMARC).add(record).authid
    dbsession.commit()
    for query in ("Heading=victor", 'See-from="victor marie"', "authtype=NP", "Heading-Main=hugo"):
        doc = find(sru, schema, query)
        assert total(doc) == 1, query
    got = doc.find(".//marc:record", NS)
    assert got.findtext("marc:controlfield[@tag='001']", namespaces=NS) == str(authid)
    assert got.findtext("marc:datafield[@tag='152']/marc:subfield[@code='b']", namespaces=NS) == "NP"
