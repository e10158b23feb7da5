"""Number ranges ``X >= a and X <= b``: the fast path (one range read, plus the records with
several values under ``name#2``) answers exactly as the two half-open clauses intersected, which
CQL means: SOME value above a and SOME, maybe another, below b."""

from __future__ import annotations

import itertools

import pymarc
import pytest
from sqlalchemy import select

from kohaweb import search
from kohaweb.catalog import Catalog
from kohaweb.search import Boolean, Clause, indexer, posting_format, postings, query, state, tables

# (transcribed years in 260 $c: the "date" index; coded year in 008: "pubdate")
DATES: list[tuple[tuple[int, ...], int | None]] = [
    ((1950,), 1950), ((1900,), None), ((2000,), 2000), ((1960,), 1961), ((1955,), 1955),
    ((1900, 2000), 1900),  # outside on both sides: found by >= 1950 and <= 1960
    ((1900, 1940), 1940), ((1970, 2000), 1970), ((1950, 1960), None), ((1940, 1950), 1949),
    ((1960, 1970), 1960), ((1949, 1961), 1999), ((1945, 1950, 1999), 1945), ((), None), ((), 2001),
]
BOUNDS = [1899, 1900, 1901, 1945, 1950, 1955, 1960, 1999, 2000, 2001]


def _record(n: int, years: tuple[int, ...], coded: int | None) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data=f"240101s{coded or '    '}    xx            000 0 eng d"))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", f"common record{n}")]))
    if years:
        record.add_field(pymarc.Field(tag="260", indicators=pymarc.Indicators(" ", " "),
                                      subfields=[pymarc.Subfield("c", ", ".join(str(y) for y in years))]))
    return record


@pytest.fixture
def catalogue(dbsession, reference_data) -> dict[int, dict[str, set[int]]]:
    """{biblionumber: {"date": years, "pubdate": years}}"""
    numbers = [b.biblionumber for b in
               Catalog(dbsession).add_records([_record(n, years, coded) for n, (years, coded) in enumerate(DATES)])]
    Catalog(dbsession).set_suppressed(numbers[0])  # hidden from public searches
    dbsession.commit()
    return {number: {"date": set(years), "pubdate": {coded} if coded else set()}
            for number, (years, coded) in zip(numbers, DATES, strict=True)}


def _flag(session, layout: int | bool) -> None:
    """How the index says its numbers are listed: 0 plain, 1 several apart, 2 also by tens and
    hundreds (True: what the indexer writes)."""
    state.set_number_layout(session, state.NUMBER_LAYOUT if layout is True else int(layout))
    session.commit()


def _expected(catalogue, index: str, low: tuple[str, int], high: tuple[str, int]) -> list[int]:
    def ok(value: int, relation: str, bound: int) -> bool:
        return {">": value > bound, ">=": value >= bound, "<": value < bound, "<=": value <= bound}[relation]
    return sorted(n for n, values in catalogue.items()
                  if any(ok(v, *low) for v in values[index]) and any(ok(v, *high) for v in values[index]))


def _ids(session, node, public: bool = False) -> list[int]:
    return search.search(session, node, limit=1000, public=public).ids


@pytest.fixture
def fast_calls(monkeypatch) -> list:
    calls: list = []
    bounded = query._Evaluator.bounded

    def counting(self, one, other):
        calls.append((one, other))
        return bounded(self, one, other)

    monkeypatch.setattr(query._Evaluator, "bounded", counting)
    return calls


def test_the_index_lists_several_numbers_apart(dbsession, catalogue):
    p = tables.postings
    several = {(idx, term) for idx, term in dbsession.execute(
        select(p.c.idx, p.c.term).where(p.c.idx.in_([posting_format.multi_number_space("date"),
                                                    posting_format.multi_number_space("pubdate")])).distinct())}
    # pubdate has one value per record: nothing; date: only the years of records with two or more
    assert several == {("date#2", posting_format.number_term(y)) for values in catalogue.values()
                       if len(values["date"]) > 1 for y in values["date"]}


def test_values_outside_on_both_sides_match_as_cql_says(dbsession, catalogue, fast_calls):
    both_sides = next(n for n, values in catalogue.items() if values["date"] == {1900, 2000})
    node = Boolean("and", Clause("date", ">=", "1950"), Clause("date", "<=", "1960"))
    _flag(dbsession, True)
    assert both_sides in _ids(dbsession, node)
    assert fast_calls  # the fast path answered
    assert _ids(dbsession, node) == _expected(catalogue, "date", (">=", 1950), ("<=", 1960))


@pytest.mark.parametrize("index", ["date", "pubdate"])
@pytest.mark.parametrize("lower, upper", [(">=", "<="), (">", "<"), (">=", "<"), (">", "<=")])
def test_fast_and_slow_paths_answer_alike(dbsession, catalogue, fast_calls, index, lower, upper):
    queries = []
    for a, b in itertools.product(BOUNDS, BOUNDS):  # a > b too: no value inside, yet some records match
        low, high = Clause(index, lower, str(a)), Clause(index, upper, str(b))
        queries.append((Boolean("and", low, high), _expected(catalogue, index, (lower, a), (upper, b))))
        queries.append((Boolean("and", high, low), queries[-1][1]))
    _flag(dbsession, False)
    slow = [_ids(dbsession, node) for node, _ in queries]
    assert not fast_calls
    _flag(dbsession, 1)  # several numbers apart, every year read
    several = [_ids(dbsession, node) for node, _ in queries]
    _flag(dbsession, True)
    fast = [_ids(dbsession, node) for node, _ in queries]
    assert len(fast_calls) == 2 * len(queries)
    assert fast == several == slow == [expected for _, expected in queries]
    answers = [expected for _, expected in queries]
    assert any(answers) and not all(answers)  # not vacuous
    if index == "date":  # a > b: only records with several years match
        assert _expected(catalogue, index, (lower, 1999), (upper, 1901))


@pytest.mark.parametrize("public", [False, True])
def test_ranges_inside_longer_and_chains(dbsession, catalogue, fast_calls, public):
    title = Clause("title", "=", "common")
    low, high = Clause("date", ">=", "1950"), Clause("date", "<", "1961")
    nodes = [
        Boolean("and", Boolean("and", title, low), high),
        Boolean("and", Boolean("and", low, title), high),
        Boolean("and", Boolean("and", high, low), title),
        Boolean("and", Boolean("and", Clause("title", "=", "nosuchword"), low), high),  # empty first: stops
        Boolean("and", Boolean("and", Boolean("and", low, Clause("pubdate", ">", "1945")), high),
                Clause("pubdate", "<=", "1960")),
        Boolean("or", Boolean("and", low, high), Clause("title", "=", "record2")),
        Boolean("and", Boolean("and", low, high), Clause("date", "<=", "1900")),  # a third bound
    ]
    _flag(dbsession, False)
    slow = [_ids(dbsession, node, public) for node in nodes]
    assert not fast_calls
    _flag(dbsession, True)
    assert [_ids(dbsession, node, public) for node in nodes] == slow
    assert len(fast_calls) == 6 + 1  # the chain with two pairs takes the fast path twice (nosuchword: none)
    assert slow[0] == _expected(catalogue, "date", (">=", 1950), ("<", 1961)) if not public else True
    assert slow[3] == []


def test_errors_and_other_relations_keep_the_plain_evaluation(dbsession, catalogue, fast_calls):
    _flag(dbsession, True)
    with pytest.raises(search.QueryError) as caught:
        _ids(dbsession, Boolean("and", Clause("date", ">=", "soon"), Clause("date", "<=", "1960")))
    assert caught.value.code == "invalid_term"
    assert _ids(dbsession, Boolean("and", Clause("date", "=", "1950"), Clause("date", "<=", "1960"))) == \
        sorted(n for n, values in catalogue.items() if 1950 in values["date"])
    assert not fast_calls


def test_the_flag_is_read_with_the_other_search_preferences(dbsession, catalogue, fast_calls):
    _flag(dbsession, True)
    assert search.search_state(dbsession).multi_numbers
    statements: list = []
    from sqlalchemy import event

    engine = dbsession.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        _ids(dbsession, Boolean("and", Clause("date", ">=", "1950"), Clause("date", "<=", "1960")))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert fast_calls and not any("systempreferences" in s for s in statements)
    _flag(dbsession, False)
    assert not search.search_state(dbsession).multi_numbers


def test_rebuild_sets_the_flag(dbsession, session_factory, catalogue, fast_calls):
    _flag(dbsession, False)
    node = Boolean("and", Clause("date", ">=", "1950"), Clause("date", "<=", "1960"))
    before = _ids(dbsession, node)
    assert not fast_calls
    dbsession.rollback()
    assert indexer.rebuild(session_factory, batch=4) == len(DATES)
    dbsession.rollback()
    assert state.number_layout(dbsession) == state.NUMBER_LAYOUT
    assert _ids(dbsession, node) == before and fast_calls


def test_the_index_lists_numbers_by_tens_and_hundreds(dbsession, catalogue):
    p = tables.postings
    spaces = {index: [posting_format.number_space(index), posting_format.multi_number_space(index)] for index in ("date", "pubdate")}
    buckets = [posting_format.number_bucket_space(space, step) for both in spaces.values() for space in both
               for step in posting_format.NUMBER_BUCKETS]
    listed = set(dbsession.execute(select(p.c.idx, p.c.term).where(p.c.idx.in_(buckets)).distinct()))
    assert listed == {(posting_format.number_bucket_space(space, step), posting_format.number_term(value // step))
                      for values in catalogue.values() for index in ("date", "pubdate")
                      for space in spaces[index][:1 if len(values[index]) < 2 else 2]
                      for value in values[index] for step in posting_format.NUMBER_BUCKETS}
    assert {("date#/10", posting_format.number_term(195)), ("date#/100", posting_format.number_term(19)),
            ("date#2/10", posting_format.number_term(200))} <= listed


@pytest.mark.parametrize("index", ["date", "pubdate"])
def test_single_ranges_read_whole_decades_and_centuries_alike(dbsession, catalogue, monkeypatch, index):
    spaces: list[str] = []
    docs_in_ranges = postings.docs_in_ranges

    def recording(session, ranges):
        spaces.extend(namespace for namespace, _, _ in ranges)
        return docs_in_ranges(session, ranges)

    monkeypatch.setattr(postings, "docs_in_ranges", recording)  # the evaluator's store is this module
    values = [0, 1, 1899, 1900, 1901, 1909, 1910, 1945, 1949, 1950, 1999, 2000, 2001, 2099, 2100, 9999]
    nodes = []
    for relation in ("<", "<=", ">", ">="):
        for value in values:
            nodes.append((Clause(index, relation, str(value)), _single(catalogue, index, relation, value)))
    for low, high in itertools.combinations(values, 2):
        nodes.append((Clause(index, "within", f"{low} {high}"),
                      sorted(n for n, found in catalogue.items() if any(low <= v <= high for v in found[index]))))
    nodes.append((Clause(index, "within", "2000 1900"), []))
    _flag(dbsession, False)
    plain = [_ids(dbsession, node) for node, _ in nodes]
    assert set(spaces) == {posting_format.number_space(index)}
    spaces.clear()
    _flag(dbsession, True)
    bucketed = [_ids(dbsession, node) for node, _ in nodes]
    assert bucketed == plain == [expected for _, expected in nodes]
    assert {posting_format.number_bucket_space(posting_format.number_space(index), step)
            for step in posting_format.NUMBER_BUCKETS} <= set(spaces)
    assert any(plain) and not all(plain)  # not vacuous


def _single(catalogue, index: str, relation: str, bound: int) -> list[int]:
    def ok(value: int) -> bool:
        return {">": value > bound, ">=": value >= bound, "<": value < bound, "<=": value <= bound}[relation]
    return sorted(n for n, values in catalogue.items() if any(ok(v) for v in values[index]))


def test_range_pieces_cover_exactly_the_numbers_between():
    import random

    rng = random.Random(3)
    assert posting_format.number_range_pieces(1950, 2000) == [(1, 2000, 2000), (10, 195, 199)]
    assert posting_format.number_range_pieces(1953, 1958) == [(1, 1953, 1958)]
    for _ in range(3000):
        low = rng.randint(0, 3000)
        high = rng.randint(low, low + rng.choice([0, 3, 30, 300, 3000]))
        covered: list[int] = []
        for step, first, last in posting_format.number_range_pieces(low, high):
            assert step in (1, *posting_format.NUMBER_BUCKETS) and first <= last
            covered += range(first * step, (last + 1) * step)
        assert sorted(covered) == list(range(low, high + 1))  # every number once, none outside


def test_ranges_after_edits_and_deletions(dbsession, catalogue, fast_calls):
    """Edits and deletions leave removals in the number namespaces and their buckets (delta rows
    not yet compacted); a range read over several namespaces at once folds each term alone."""
    catalog = Catalog(dbsession)
    numbers = sorted(catalogue)
    changes = {numbers[2]: ((1905, 1999), 1905), numbers[5]: ((), None), numbers[7]: ((1955,), 2001)}
    for number, (years, coded) in changes.items():
        catalog.update_record(number, _record(number, years, coded))
        catalogue[number] = {"date": set(years), "pubdate": {coded} if coded else set()}
    catalog.delete_record(numbers[9])
    del catalogue[numbers[9]]
    dbsession.commit()
    p = tables.postings
    assert dbsession.execute(select(p.c.idx).where(p.c.idx.like("date#%/%"), p.c.dels.is_not(None))).first()
    nodes = []
    for low, high in itertools.product([1899, 1900, 1950, 1999, 2000], [1904, 1950, 1999, 2001]):
        nodes.append((Clause("date", "within", f"{low} {high}"),
                      sorted(n for n, v in catalogue.items() if any(low <= y <= high for y in v["date"]))))
        nodes.append((Boolean("and", Clause("date", ">=", str(low)), Clause("date", "<=", str(high))),
                      _expected(catalogue, "date", (">=", low), ("<=", high))))
        nodes.append((Clause("pubdate", ">", str(low)), _single(catalogue, "pubdate", ">", low)))
    _flag(dbsession, True)
    assert [_ids(dbsession, node) for node, _ in nodes] == [expected for _, expected in nodes]
    assert fast_calls
