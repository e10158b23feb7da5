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


def _second_search(make_app, sample_records, statements, index: str, between=None) -> list[str]:
    """The statements of a one-word searchRetrieve on ``index`` (a title word of the catalogue),
    run a second time so that start-up reads are out of the way; SQLite's explicit BEGIN
    (kohaweb.db) is left out: the database is in the process, it is no round trip."""
    from kohaweb.sampledata import generate_records

    sample_records(30)
    title = next(generate_records(1, 1, "MARC21")).record["245"]["a"]
    word = max(title.split(), key=len).strip(".,:;/")
    app = make_app(services=["sru"])
    query = urlencode({"operation": "searchRetrieve", "version": "1.1", "query": f'{index}="{word}"',
                       "maximumRecords": "10", "recordSchema": "marcxml"})
    first = app.get("/sru?" + query)
    assert b"<zs:numberOfRecords>0<" not in first.body  # the word is there: every step runs
    if between is not None:
        between()
    statements.clear()
    app.get("/sru?" + query)
    return [s for s in statements if s != "BEGIN"]


@pytest.fixture
def still_clock(monkeypatch):
    """The search state's clock stopped: the second search runs within STATE_CACHE_SECONDS of the
    first however slow the machine. Returns a function that moves it on."""
    from kohaweb.search import state

    now = [1000.0]
    monkeypatch.setattr(state, "clock", lambda: now[0])

    def advance(seconds: float) -> None:
        now[0] += seconds

    return advance


def test_a_one_word_search_takes_two_statements(make_app, sample_records, statements, still_clock):
    made = _second_search(make_app, sample_records, statements, "dc.title")
    # the word's postings together with the records hidden from the public, the page's records;
    # relevance order of one word counts nothing more, and the preferences (index status,
    # IncludeSeeFromInSearches) were read by the first search and are trusted for a second
    assert len(made) == 2, made
    assert not any("systempreferences" in s for s in made), made


def test_the_preferences_are_read_again_once_the_cached_state_expires(make_app, sample_records, statements,
                                                                      still_clock):
    from kohaweb.search import state

    made = _second_search(make_app, sample_records, statements, "dc.title", between=lambda: still_clock(
        state.STATE_CACHE_SECONDS + 0.01))
    assert len(made) == 3, made
    assert "systempreferences" in made[0], made


def test_a_one_word_search_of_any_reads_both_of_its_indexes_at_once(make_app, sample_records, statements,
                                                                    still_clock):
    made = _second_search(make_app, sample_records, statements, "cql.serverChoice")
    # as a title word: the word's title occurrences come with its any occurrences (they score
    # it), and so does the count of the catalogue (two indexes' idfs weigh against each other)
    postings_reads = [s for s in made if s.startswith("SELECT search_postings.")]
    assert len(postings_reads) == 1, made  # any and title rows, the hidden records, the count together
    assert len(made) == 2, made
