"""OAI-PMH under hostile input (issue 22): POST bodies far larger than any OAI request (a 200 MB
anonymous POST once cost 686 MB), control characters, and a database outage, which OAI-PMH
itself answers with HTTP 503 and Retry-After (its flow-control mechanism)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import webtest
from lxml import etree

from kohaweb.app import make_app as build_app
from kohaweb.testing import assert_valid, make_settings
from kohaweb.testing_outage import outage_engine

from .conftest import BASE_SETTINGS, NS

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_post_bodies_larger_than_an_oai_request_are_refused(oai_app, oai_get, oai_schema, sample_records):
    sample_records(1)
    app = oai_app(**{"oai.max_post_size": "2048"})
    refused = app.post("/oai", "verb=Identify&x=" + "a" * 5000, headers=FORM, status=413)
    assert "at most 2048 bytes" in refused.text
    app.post("/cgi-bin/koha/oai.pl", "verb=Identify&x=" + "a" * 5000, headers=FORM, status=413)
    # an ordinary POST is answered as before
    assert oai_get(app, method="POST", verb="Identify").find("oai:Identify", NS) is not None


def test_large_anonymous_post_over_http_is_refused_unparsed(oai_server, sample_records):
    """Over real HTTP (waitress): 20 MB of form is answered 413 from its declared length; the
    form is never parsed into memory."""
    sample_records(1)
    with oai_server() as url:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        size = 20 * 1024 * 1024
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Type", FORM["Content-Type"])
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        chunk = b"verb=Identify&x=" + b"a" * (1024 * 1024 - 16)
        for _ in range(size // len(chunk)):
            conn.send(chunk)
        conn.send(b"a" * (size % len(chunk)))
        response = conn.getresponse()
        assert response.status == 413
        conn.close()


def test_control_characters_are_oai_errors(oai_app, oai_get, sample_records):
    sample_records(1)
    app = oai_app()
    for args, code in (({"verb": "GetRecord", "identifier": "\x01", "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
                       ({"verb": "ListRecords", "resumptionToken": "\x01\x02"}, "badResumptionToken"),
                       ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "\x0b"}, "badArgument"),
                       ({"verb": "\x01"}, "badVerb")):
        root = oai_get(app, **args)
        assert [e.get("code") for e in root.iterfind("oai:error", NS)] == [code]


def test_database_outage_is_503_with_retry_after(database_url, tmp_path, oai_schema, sample_records):
    sample_records(2)
    with outage_engine(database_url, tmp_path) as (engine, cut, restore):
        raw = make_settings(database_url, ["oai"], **{**BASE_SETTINGS, "kohaweb.retry_after": "120"})
        app = webtest.TestApp(build_app(raw, engine=engine))
        args = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
        assert_valid(oai_schema, etree.fromstring(app.get("/oai", args).body))
        cut()
        for request_args in (args, {"verb": "GetRecord", "identifier": "oai:library.example.org:1",
                                    "metadataPrefix": "oai_dc"}):
            down = app.get("/oai", request_args, status=503)
            assert down.headers["Retry-After"] == "120"
        restore()
        assert_valid(oai_schema, etree.fromstring(app.get("/oai", args).body))
