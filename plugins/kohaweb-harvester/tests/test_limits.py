"""The harvester's limits against misbehaving sources (real local servers): timeouts, the byte
cap, repeated resumption tokens, the page limit, malformed XML reported on the run."""

from __future__ import annotations

import logging

import pytest
from hostile import HostileSource
from kohaweb_harvester.models import HarvestRun, HarvestSource
from kohaweb_harvester.runner import Harvester
from kohaweb_harvester.sources import add_source
from kohaweb_harvester.transport import Transport
from oai_fixture import OAI, FixtureRecord, FixtureRepository, stamp
from sqlalchemy import func, select
from test_harvest import marc_payload

from kohaweb.models import Biblio
from kohaweb.testing import serve


def make_source(dbsession, url, name="hostile") -> int:
    source = add_source(dbsession, name, url)
    dbsession.commit()
    return source.id


def harvester(session_factory, retries=0, **limits) -> Harvester:
    transport = Transport(**{"connect_timeout": 2, "read_timeout": 5, **limits})
    return Harvester(session_factory, retries=retries, transport=transport, sleep=lambda s: None)


def page(records: list[str], token: str | None) -> bytes:
    body = "".join(f"<record><header><identifier>{i}</identifier><datestamp>{stamp(1)}</datestamp></header>"
                   f"<metadata>{marc_payload(n)}</metadata></record>" for n, i in enumerate(records, 1))
    token_xml = f"<resumptionToken>{token}</resumptionToken>" if token else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="{OAI}"><responseDate>2026-11-01T10:00:00Z'
            f'</responseDate><request verb="ListRecords">x</request><ListRecords>{body}{token_xml}</ListRecords>'
            "</OAI-PMH>").encode()


def no_tracebacks(caplog) -> bool:
    # only the harvester's own logging counts: the fixture server (waitress) may log its own
    # shutdown race (a closed trigger pipe) while the test's server stops
    return not [r for r in caplog.records if r.exc_info and r.name.startswith("kohaweb")]


def test_a_silent_source_times_out(dbsession, session_factory, reference_data, caplog):
    with HostileSource.silent() as url:
        source_id = make_source(dbsession, url)
        run = harvester(session_factory, retries=1, read_timeout=0.5).run(source_id)
    assert run.status == "failed"
    assert "unreachable after 2 attempts" in run.last_error and "timed out" in run.last_error.lower()
    assert run.finished is not None
    assert no_tracebacks(caplog)


def test_a_trickling_source_is_cut_at_the_response_time_limit(dbsession, session_factory, reference_data):
    with HostileSource.trickle(0.05) as url:
        source_id = make_source(dbsession, url)
        run = harvester(session_factory, read_timeout=5, response_timeout=0.5).run(source_id)
    assert run.status == "failed"
    assert "longer than the time allowed" in run.last_error


def test_an_endless_body_is_cut_at_the_byte_cap(dbsession, session_factory, reference_data, caplog):
    cap = 256 * 1024
    source = HostileSource.endless()
    with source as url:
        source_id = make_source(dbsession, url)
        run = harvester(session_factory, retries=3, max_bytes=cap).run(source_id)
    assert run.status == "failed"
    assert run.last_error == f"ResponseTooLarge: the response is larger than {cap} bytes"
    assert source.list_requests == 1, "a response too large is not asked for again"
    assert no_tracebacks(caplog)
    assert count(dbsession, Biblio) == 0


def test_an_announced_oversized_body_is_refused_before_reading(dbsession, session_factory, reference_data):
    with HostileSource.announces(300 * 1024 * 1024) as url:
        source_id = make_source(dbsession, url)
        run = harvester(session_factory, max_bytes=1024 * 1024).run(source_id)
    assert run.status == "failed"
    assert f"announces {300 * 1024 * 1024} bytes" in run.last_error


def test_a_repeated_resumption_token_stops_the_run(dbsession, session_factory, reference_data):
    # the fixture points page 0's token at page 1 ("1"); page 1 then gives "1" again, forever
    repository = FixtureRepository(raw_pages=[page(["oai:a"], "next"), page(["oai:b"], "1")])
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        run = harvester(session_factory).run(source_id)
    assert run.status == "failed"
    assert "repeated the resumptionToken '1'" in run.last_error
    assert [r.get("resumptionToken") for r in repository.requests if r.get("verb") == "ListRecords"] == [None, "1"]
    assert run.added == 1, "the pages before the loop are kept"
    dbsession.rollback()
    assert dbsession.get(HarvestSource, source_id).checkpoint is not None


def test_the_page_limit_stops_a_run_and_the_next_one_continues(dbsession, session_factory, reference_data):
    repository = FixtureRepository(records=[FixtureRecord(f"oai:f:{n}", stamp(n), marc_payload(n))
                                            for n in range(1, 13)], page_size=2)
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        first = Harvester(session_factory, max_pages=3).run(source_id)
        assert (first.status, first.added) == ("failed", 6)
        assert "stopped after 3 pages" in first.last_error
        second = Harvester(session_factory).run(source_id)
    assert (second.status, second.added) == ("completed", 6)
    assert count(dbsession, Biblio) == 12


@pytest.mark.parametrize("body, expected", [
    (f'<?xml version="1.0"?><OAI-PMH xmlns="{OAI}"><responseDate>2026-11-01T10:00:00Z</responseDate>'
     "<ListRecords><record><header><identifier>a</identifier></headr></record></ListRecords></OAI-PMH>",
     "MalformedResponse: the source sent malformed XML: Opening and ending tag mismatch"),
    ("<html><body>Moved</body></html>", "MalformedResponse: not an OAI-PMH response (root element html)"),
    ("", "MalformedResponse: the source sent an empty response"),
])
def test_malformed_responses_fail_the_run_with_the_parser_message(body, expected, dbsession, session_factory,
                                                                  reference_data, caplog):
    caplog.set_level(logging.INFO)
    repository = FixtureRepository(raw_pages=[body.encode()])
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        run = harvester(session_factory, retries=2).run(source_id)
    assert run.status == "failed"
    assert run.last_error.startswith(expected), run.last_error
    assert len([r for r in repository.requests if r.get("verb") == "ListRecords"]) == 1, "not retried"
    assert no_tracebacks(caplog)
    assert count(dbsession, Biblio) == 0


def test_entities_are_never_resolved(dbsession, session_factory, reference_data):
    dc = ('<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
          'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title></oai_dc:dc>')
    body = ('<?xml version="1.0"?><!DOCTYPE OAI-PMH [<!ENTITY e SYSTEM "file:///etc/passwd"><!ENTITY l "lol">]>'
            f'<OAI-PMH xmlns="{OAI}"><responseDate>2026-11-01T10:00:00Z</responseDate><ListRecords>'
            f'<record><header><identifier>oai:x:1</identifier><datestamp>{stamp(1)}</datestamp></header>'
            f'<metadata>{dc.format("Secret &e;")}</metadata></record>'
            f'<record><header><identifier>oai:x:2</identifier><datestamp>{stamp(1)}</datestamp></header>'
            f'<metadata>{dc.format("Plain title")}</metadata></record></ListRecords></OAI-PMH>')
    repository = FixtureRepository(raw_pages=[body.encode()])
    with serve(repository) as url:
        source = add_source(dbsession, "entities", url + "/oai", "oai_dc")
        dbsession.commit()
        run = harvester(session_factory).run(source.id)
    assert (run.status, run.added, run.failed) == ("completed", 1, 1), run.last_error
    assert run.last_error.startswith("oai:x:1: ")
    dbsession.rollback()
    assert dbsession.scalars(select(Biblio.title)).all() == ["Plain title"]


def test_a_body_cut_short_is_retried(dbsession, session_factory, reference_data):
    repository = FixtureRepository(records=[FixtureRecord(f"oai:f:{n}", stamp(n), marc_payload(n))
                                            for n in range(1, 4)])
    cuts = {"left": 2}

    def cut_twice(environ, start_response):
        if "ListRecords" in environ.get("QUERY_STRING", "") and cuts["left"]:
            cuts["left"] -= 1
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", "100000")])
            return [b'<?xml version="1.0"?><OAI-PMH']  # the server closes after these bytes
        return repository(environ, start_response)

    waits = []
    with serve(cut_twice) as url:
        source_id = make_source(dbsession, url + "/oai")
        run = Harvester(session_factory, backoff=0.5, sleep=waits.append).run(source_id)
    assert (run.status, run.added) == ("completed", 3), run.last_error
    assert waits == [0.5, 1.0]


def count(session, model) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_runs_record_their_worker_and_heartbeat(dbsession, session_factory, reference_data):
    repository = FixtureRepository(records=[FixtureRecord("oai:f:1", stamp(1), marc_payload(1))])
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        run = Harvester(session_factory).run(source_id)
    dbsession.rollback()
    stored = dbsession.get(HarvestRun, run.id)
    assert stored.status == "completed" and stored.active_source_id is None
    assert stored.worker.endswith(f":{__import__('os').getpid()}") and stored.heartbeat is not None
