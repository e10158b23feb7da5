"""Sorted pages come out the same whichever way they are found: by fetching the sort keys of
every hit, or by walking the sort key's index until the page is full (what a common word takes)."""

from __future__ import annotations

import random

import pymarc
import pytest

from kohaweb import search
from kohaweb.catalog import Catalog
from kohaweb.search import Clause, SortKey, results

WORDS = ["coral", "reef", "atlas", "moss", "delta"]


def _record(title: str | None, author: str | None, year: int | None) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data=f"240101s{year or '    '}    xx            000 0 eng d"))
    if author:
        record.add_field(pymarc.Field(tag="100", indicators=pymarc.Indicators("1", " "),
                                      subfields=[pymarc.Subfield("a", author)]))
    subfields = [pymarc.Subfield("a", title)] if title else []
    subfields.append(pymarc.Subfield("c", "common"))  # every record has the word "common"
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"), subfields=subfields))
    return record


@pytest.fixture
def catalogue(dbsession, reference_data):
    rng = random.Random(5)
    records = []
    for n in range(60):
        title = None if n % 11 == 0 else " ".join(rng.choice(WORDS) for _ in range(2))  # ties and gaps
        author = None if n % 7 == 0 else rng.choice(["Adams", "Baker", "Cole"])
        records.append(_record(title, author, None if n % 5 == 0 else 1990 + n % 9))
    Catalog(dbsession).add_records(records)
    dbsession.commit()


KEYS = [(SortKey("title"),), (SortKey("title", ascending=False),), (SortKey("title", missing="low"),),
        (SortKey("author"), SortKey("date", ascending=False)), (SortKey("date", missing="low"), SortKey("title")),
        # one key with long runs of equal values (and of records without one): ties by record number
        (SortKey("date", ascending=False),), (SortKey("date", missing="low"),), (SortKey("author"),)]


@pytest.mark.parametrize("pages", [(4, 4), (1, 64)], ids=["fixed pages", "growing pages"])
@pytest.mark.parametrize("keys", KEYS, ids=lambda k: ",".join(f"{s.index}{'' if s.ascending else '-'}{s.missing}" for s in k))
@pytest.mark.parametrize("word", ["common", WORDS[0]], ids=["every record", "some records"])
def test_walking_the_sort_index_gives_the_fetched_order(dbsession, catalogue, monkeypatch, keys, pages, word):
    node = Clause("title", "=", word)
    fetched = [search.search(dbsession, node, offset=o, limit=7, sort=keys).ids for o in range(0, 63, 7)]
    monkeypatch.setattr(results, "FETCH_ALWAYS", 0)
    # many small pages: runs of equal values cross them; growing ones double from the first
    monkeypatch.setattr(results, "MIN_SORT_PAGE", pages[0])
    monkeypatch.setattr(results, "SORT_PAGE", pages[1])
    monkeypatch.setattr(results, "_walk_is_cheaper", lambda total, hits, needed: True)
    first_pages = []
    leading_rows = results._leading_rows
    monkeypatch.setattr(results, "_leading_rows", lambda *a, **k: first_pages.append(a[4]) or leading_rows(*a, **k))
    monkeypatch.setattr(results, "RUN_SLICE", 2)  # runs of equal values read in several slices
    walked = [search.search(dbsession, node, offset=o, limit=7, sort=keys).ids for o in range(0, 63, 7)]
    assert walked == fetched
    assert first_pages and max(first_pages) <= pages[1]
    if word == "common":  # a word in every record starts with a small page
        assert pages[0] == pages[1] or min(first_pages) < pages[1]
    total = search.search(dbsession, node, limit=0).total
    assert sorted(sum(fetched, [])) == sorted(set(sum(fetched, []))) and len(sum(fetched, [])) == total
    assert total == 60 or 0 < total < 60


def test_a_common_word_walks_and_a_rarer_one_fetches(dbsession, monkeypatch):
    import numpy as np

    calls = []
    monkeypatch.setattr(results.postings, "size", lambda session: 1_000_000)
    monkeypatch.setattr(results, "_leading_rows", lambda *a, **k: calls.append("walk") or [])
    # 5,000 of a million: a hit every 200 rows, the first 10 within about 2,000 rows: fewer than
    # the 5,000 look-ups of their keys
    results._sorted_page(dbsession, np.arange(1, 5_001), (SortKey("title"),), 10)
    assert calls == ["walk"]
    # 3,000 of a million: the walk would read about 3,300 rows; reading their keys is the cheaper
    results._sorted_page(dbsession, np.arange(1, 3_001), (SortKey("title"),), 10)
    assert calls == ["walk"]


def test_the_walk_reads_about_where_the_first_hits_should_be():
    # 10 hits wanted among 4,000 of 100,000 records: one every 25 rows, 250 rows, read 4 times over
    assert results._first_page(100_000, 4_000, 10) == 4 * 251
    assert results._first_page(100_000, 50_000, 10) == results.MIN_SORT_PAGE  # a very common word
    assert results._first_page(1_000_000, 5_000, 10) == results.SORT_PAGE  # never more than a full page


def test_the_keys_of_many_hits_are_read_in_one_statement_on_postgresql(dbsession, catalogue):
    from sqlalchemy import event, select

    statements = []
    numbers = list(range(1, 2_501))  # more than an IN list takes; 60 of them exist
    columns = results._columns((SortKey("title"),))
    engine = dbsession.get_bind()
    listener = lambda conn, cursor, statement, *rest: statements.append(statement.split()[0])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        rows = results._rows_of(dbsession, columns, numbers)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    expected = dbsession.execute(select(*columns).order_by(results.tables.records.c.biblionumber)).all()
    assert sorted(rows) == expected and len(rows) == 60
    # one statement whatever the count on PostgreSQL (an array parameter); IN lists of 1,000 elsewhere
    assert statements.count("SELECT") == (1 if engine.dialect.name == "postgresql" else 3)
