"""CQL answered as Koha's Zebra answers it: the relation modifiers Koha's pqf.properties maps
(relevant, stem, phonetic, fuzzy), relevance order, dc.date against pubdate, single-letter
truncation."""

from __future__ import annotations

from urllib.parse import urlencode

import pymarc
import pytest
from lxml import etree

from kohaweb.catalog import Catalog

SRW = "http://www.loc.gov/zing/srw/"
NS = {"zs": SRW, "diag": "http://www.loc.gov/zing/srw/diagnostic/", "marc": "http://www.loc.gov/MARC21/slim"}


def _record(title: str, *, coded: str = "2001", transcribed: str | None = None, note: str | None = None):
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data=f"240101s{coded}    xx            000 0 eng d"))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"),
                                  subfields=[pymarc.Subfield("a", title)]))
    if transcribed:
        record.add_field(pymarc.Field(tag="260", indicators=pymarc.Indicators(" ", " "),
                                      subfields=[pymarc.Subfield("b", "Press,"), pymarc.Subfield("c", transcribed)]))
    if note:
        record.add_field(pymarc.Field(tag="500", indicators=pymarc.Indicators(" ", " "),
                                      subfields=[pymarc.Subfield("a", note)]))
    return record


@pytest.fixture
def catalogue(dbsession):
    records = [_record("Harbour lights", note="jazz", transcribed="c1985."),
               _record("Jazz jazz jazz", coded="1985", transcribed="1990."),
               _record("Running with jazz"), _record("Colour studies")]
    ids = [b.biblionumber for b in Catalog(dbsession).add_records(records)]
    dbsession.commit()
    return ids


def _search(app, query: str) -> tuple[int, list[int], list[int]]:
    response = app.get("/sru?" + urlencode({"operation": "searchRetrieve", "version": "1.2", "query": query,
                                            "maximumRecords": "10", "recordSchema": "marcxml"}))
    doc = etree.fromstring(response.body)
    diagnostics = [int(u.rsplit("/", 1)[1]) for u in doc.xpath("//diag:diagnostic/diag:uri/text()", namespaces=NS)]
    titles = doc.xpath("//marc:datafield[@tag='245']/marc:subfield[@code='a']/text()", namespaces=NS)
    total = doc.findtext(f"{{{SRW}}}numberOfRecords")
    return int(total or 0), titles, diagnostics


def test_modifiers_koha_maps_are_answered(make_app, catalogue):
    app = make_app(services=["sru"])
    assert _search(app, "dc.title =/stem runs") == (1, ["Running with jazz"], [])
    assert _search(app, "dc.title =/fuzzy color") == (1, ["Colour studies"], [])
    assert _search(app, "dc.title =/phonetic kolor")[0] == 0  # Metaphone keeps the first letter's sound
    assert _search(app, "dc.title =/phonetic/cql.fuzzy colur")[0] == 1
    assert _search(app, "dc.title =/relevant \"jazz harbour\"")[0] == 3  # any of the words
    assert _search(app, "dc.identifier =/stem 123")[2] == [20]


def test_relevance_order_by_default_and_on_request(make_app, catalogue):
    ranked = ["Jazz jazz jazz", "Running with jazz", "Harbour lights"]
    assert _search(make_app(services=["sru"]), "jazz")[1] == ranked
    by_number = make_app(services=["sru"], **{"sru.relevance_order": "false"})
    assert _search(by_number, "jazz")[1] == ["Harbour lights", "Jazz jazz jazz", "Running with jazz"]
    assert _search(by_number, "cql.serverChoice =/relevant jazz")[1] == ranked
    assert _search(by_number, "jazz sortBy dc.title/sort.descending")[1] == ["Running with jazz", "Jazz jazz jazz",
                                                                             "Harbour lights"]


def test_dc_date_is_the_transcribed_date(make_app, catalogue):
    app = make_app(services=["sru"])
    assert _search(app, "dc.date=1985")[1] == ["Harbour lights"]  # 260 $c c1985, as Koha's copydate
    assert _search(app, "dc.pubdate=1985")[1] == ["Jazz jazz jazz"]  # 008/07-10
    assert _search(app, "dc.date within \"1984 1991\" sortBy rec.id")[1] == ["Harbour lights", "Jazz jazz jazz"]


def test_single_letter_truncation_answers(make_app, catalogue):
    app = make_app(services=["sru"])
    assert _search(app, "dc.title=j* sortBy rec.id")[:2] == (2, ["Jazz jazz jazz", "Running with jazz"])
    assert _search(app, "dc.title=?*")[2] == [28]


def test_explain_advertises_the_modifiers(make_app):
    response = make_app(services=["sru"]).get("/sru?operation=explain&version=1.2")
    doc = etree.fromstring(response.body)
    supported = set(doc.xpath("//*[local-name()='supports'][@type='relationModifier']/text()"))
    assert {"relevant", "stem", "phonetic", "fuzzy"} <= supported
