"""SRU under hostile input (issue 22): a stylesheet that would end its processing instruction,
control characters, queries too long, too deeply nested or with too many booleans, oversized
POST bodies and a database outage. Each answer is a schema-valid SRU response with the
diagnostic for it; none logs a traceback or the whole query."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

import pytest
import webtest
from lxml import etree

from kohaweb.app import make_app as build_app
from kohaweb.testing import assert_valid, make_settings
from kohaweb.testing_outage import outage_engine

SRW = "http://www.loc.gov/zing/srw/"
NS = {"zs": SRW, "diag": "http://www.loc.gov/zing/srw/diagnostic/"}


@pytest.fixture
def sru(make_app):
    return make_app(services=["sru"], **{"sru.max_query_length": "2000", "sru.max_post_size": "4096"})


@pytest.fixture
def srw_schema(xml_schema):
    return xml_schema("srw-types", "MARC21slim")


def answer(app, schema, query_string: str, status: int = 200):
    response = app.get("/sru?" + query_string, status=status)
    assert response.content_type == "text/xml"
    assert_valid(schema, response.body)
    return response, etree.fromstring(response.body)


def diagnostics(doc) -> list[tuple[int, str | None]]:
    return [(int(d.findtext("diag:uri", namespaces=NS).rsplit("/", 1)[1]), d.findtext("diag:details", namespaces=NS))
            for d in doc.iterfind(".//diag:diagnostic", NS)]


@pytest.mark.parametrize("operation", ["explain", "searchRetrieve", "scan"])
def test_stylesheet_that_would_end_the_processing_instruction(sru, srw_schema, operation, sample_records):
    sample_records(1)
    extra = {"searchRetrieve": "&query=dc.title%3Dx", "scan": "&scanClause=dc.title%3Dx", "explain": ""}[operation]
    response, doc = answer(sru, srw_schema, f"version=1.2&operation={operation}&stylesheet=%3F%3E{extra}")
    assert [n for n, _ in diagnostics(doc)] == [111]
    assert b"xml-stylesheet" not in response.body and doc.tag == f"{{{SRW}}}{operation}Response"
    # an ordinary stylesheet is still referenced
    response, _ = answer(sru, srw_schema, f"version=1.2&operation={operation}&stylesheet=/s.xsl{extra}")
    assert b'<?xml-stylesheet type="text/xsl" href="/s.xsl"?>' in response.body


@pytest.mark.parametrize(("query_string", "expected"), [
    ("version=1.1&operation=searchRetrieve&query=a%01b", 10),
    ("version=1.1&operation=searchRetrieve&query=%22a%0Bb%22", 10),
    ("version=1.1&operation=scan&scanClause=dc.title%3D%1Fa", 10),
    ("version=1.1&operation=searchRetrieve&query=a&recordSchema=marc%00xml", 6),
    ("version=1.1&operation=searchRetrieve&query=a&x-note=%07", 6),
    ("version=1.1%02&operation=searchRetrieve&query=a", 6),
    ("version=1.1&operation=search%08Retrieve&query=a", 6),
    ("version=1.1&operation=searchRetrieve&query=a&%01=1", 8),
    ("version=1.1&operation=explain&stylesheet=%EF%BF%BE", 6),
])
def test_control_characters_are_diagnostics(sru, srw_schema, sample_records, caplog, query_string, expected):
    sample_records(1)
    with caplog.at_level(logging.INFO):
        _, doc = answer(sru, srw_schema, query_string)
    assert [n for n, _ in diagnostics(doc)] == [expected]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_query_length_depth_and_booleans_are_bounded(sru, srw_schema, sample_records, caplog):
    sample_records(1)
    # ten times the length limit and twenty times Python's recursion limit: what a parser that
    # read it would choke on. (Not longer: WebOb's decoding of the query string grows with the
    # square of its length, 20 s at 200,000 parentheses, which is WebOb's time, not ours.)
    nested = "(" * 20_000 + "dc.title=x" + ")" * 20_000
    chain = " and ".join(["dc.title=x"] * 20_000)
    with caplog.at_level(logging.DEBUG):
        for query, expected in ((nested, 12), (chain, 12), ("a" * 2001, 12)):
            _, doc = answer(sru, srw_schema, urlencode({"version": "1.2", "operation": "searchRetrieve",
                                                        "query": query}))
            assert [n for n, _ in diagnostics(doc)] == [expected]
            assert diagnostics(doc)[0][1] == "2000"  # details: the maximum supported
        for query, expected in (("(" * 33 + "x" + ")" * 33, 13), (" or ".join(["x"] * 102), 38),
                                ('dc.title="' + "a(" * 40 + '" and dc.title="' + "x and " * 300 + '"', None)):
            _, doc = answer(sru, srw_schema, urlencode({"version": "1.2", "operation": "searchRetrieve",
                                                        "query": query}))
            assert [n for n, _ in diagnostics(doc)] == ([expected] if expected else [])
        _, doc = answer(sru, srw_schema, urlencode({"version": "1.2", "operation": "scan",
                                                    "scanClause": "(" * 100 + "dc.title=x" + ")" * 100}))
        assert [n for n, _ in diagnostics(doc)] == [13]
    # within the limits the deepest and longest queries are answered
    _, doc = answer(sru, srw_schema, urlencode({"version": "1.2", "operation": "searchRetrieve",
                                                "query": "(" * 32 + " or ".join(["dc.title=x"] * 100) + ")" * 32}))
    assert diagnostics(doc) == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert all(len(r.getMessage()) < 2000 for r in caplog.records)


def test_large_post_bodies_are_refused_before_they_are_parsed(sru, srw_schema):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    sru.post("/sru", "version=1.2&operation=searchRetrieve&query=" + "a" * 5000, headers=form, status=413)
    response = sru.post("/sru", "version=1.2&operation=searchRetrieve&query=" + quote("dc.title=x"), headers=form)
    assert_valid(srw_schema, response.body)


def test_database_outage_is_diagnostic_2_with_retry_after(database_url, tmp_path, srw_schema, sample_records):
    sample_records(1)
    with outage_engine(database_url, tmp_path) as (engine, cut, restore):
        app = webtest.TestApp(build_app(make_settings(database_url, ["sru"], **{"kohaweb.retry_after": "11"}),
                                        engine=engine))
        query = "version=1.2&operation=searchRetrieve&query=dc.title%3Dx"
        answer(app, srw_schema, query)
        cut()
        for operation_query in (query, "version=1.2&operation=scan&scanClause=dc.title%3Dx"):
            response, doc = answer(app, srw_schema, operation_query, status=503)
            assert response.headers["Retry-After"] == "11"
            assert [n for n, _ in diagnostics(doc)] == [2]
        restore()
        answer(app, srw_schema, query)
