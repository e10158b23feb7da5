"""The statements one searchRetrieve makes: its fixed cost is counted in round trips, so a change
that adds one per request shows here (latency itself is measured in bench/bench_sru.py)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine


@pytest.fixture
def statements():
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split())[:80])

    event.listen(Engine, "before_cursor_execute", note)
    yield seen
    event.remove(Engine, "before_cursor_execute", note)


def test_a_one_word_search_takes_four_statements(make_app, sample_records, statements):
    from kohaweb.sampledata import generate_records

    sample_records(30)
    title = next(generate_records(1, 1, "MARC21")).record["245"]["a"]
    word = max(title.split(), key=len).strip(".,:;/")
    app = make_app(services=["sru"])
    query = urlencode({"operation": "searchRetrieve", "version": "1.1", "query": f'dc.title="{word}"',
                       "maximumRecords": "10", "recordSchema": "marcxml"})
    first = app.get("/sru?" + query)
    assert b"<zs:numberOfRecords>0<" not in first.body  # the word is there: every step runs
    statements.clear()
    app.get("/sru?" + query)
    # the preferences (index status, IncludeSeeFromInSearches), the word's postings, the records
    # hidden from the public, the page's records; relevance order of one word counts nothing more
    # (SQLite's explicit BEGIN, kohaweb.db, is no round trip: the database is in the process)
    assert len([s for s in statements if s != "BEGIN"]) == 4, statements


def test_a_one_word_search_of_any_reads_both_of_its_indexes_at_once(make_app, sample_records, statements):
    from kohaweb.sampledata import generate_records

    sample_records(30)
    title = next(generate_records(1, 1, "MARC21")).record["245"]["a"]
    word = max(title.split(), key=len).strip(".,:;/")
    app = make_app(services=["sru"])
    query = urlencode({"operation": "searchRetrieve", "version": "1.1", "query": f'cql.serverChoice="{word}"',
                       "maximumRecords": "10", "recordSchema": "marcxml"})
    app.get("/sru?" + query)
    statements.clear()
    app.get("/sru?" + query)
    # as a title word, plus: the word's title occurrences come with its any occurrences (they
    # score it), and the catalogue is counted (two indexes' idfs weigh against each other)
    postings_reads = [s for s in statements if s.startswith("SELECT search_postings.")]
    assert len(postings_reads) == 2, statements  # the word (any and title together), the hidden records
    assert len([s for s in statements if s != "BEGIN"]) == 5, statements
