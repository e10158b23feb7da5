"""The checker and the SQL it generates, without a database: parsed, not grepped."""

from __future__ import annotations

import datetime as dt

import pytest
from kohaweb_reports.placeholders import ParameterError, bind, find_placeholders
from kohaweb_reports.prepare import prepare
from kohaweb_reports.safety import Guard, Refused

GUARD = Guard.from_columns({"borrowers": ["borrowernumber", "userid", "password", "surname"],
                            "items": ["itemnumber", "barcode"]}, ["sessions"])
BACKENDS = ["sqlite", "postgresql", "mariadb"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sql", [
    "SELECT 'DELETE FROM items' AS words",            # keywords inside strings are data
    "SELECT barcode FROM items -- DROP TABLE items",  # ...and inside comments, which are dropped
    "SELECT barcode AS lastupdate FROM items",        # Koha's regex refuses this
    "  select barcode from items  ;  ",
    "(SELECT barcode FROM items)",
    "WITH x AS (SELECT barcode FROM items) SELECT * FROM x",
    "SELECT barcode FROM items UNION ALL SELECT userid FROM borrowers",
    "SELECT i.* FROM items i JOIN borrowers b ON b.borrowernumber = i.itemnumber",
    "SELECT x.* FROM (SELECT surname FROM borrowers) x",
    "SELECT * FROM items WHERE barcode IN (SELECT surname FROM borrowers)",
])
def test_read_only_queries_are_accepted(backend, sql):
    prepared = prepare(sql, backend, GUARD, 10)
    assert "DROP" not in prepared.sql.upper()


@pytest.mark.parametrize("backend", BACKENDS)
def test_limit_is_capped_and_a_smaller_one_kept(backend):
    assert prepare("SELECT barcode FROM items", backend, GUARD, 10).sql.endswith("LIMIT 11")
    assert prepare("SELECT barcode FROM items LIMIT 1000", backend, GUARD, 10).sql.endswith("LIMIT 11")
    assert prepare("SELECT barcode FROM items LIMIT 3", backend, GUARD, 10).sql.endswith("LIMIT 3")


def test_comments_never_reach_the_database():
    prepared = prepare("SELECT /* hello */ barcode FROM items -- bye", "mariadb", GUARD, 10)
    assert "hello" not in prepared.sql and "bye" not in prepared.sql


@pytest.mark.parametrize("backend, marker", [("sqlite", "?"), ("postgresql", "%s"), ("mariadb", "%s")])
def test_placeholders_become_driver_parameters(backend, marker):
    prepared = prepare("SELECT barcode FROM items WHERE barcode LIKE <<Pattern>> AND itemnumber IN <<N|list>> "
                       "AND barcode <> '50% off' AND itemnumber > <<Since|date>>", backend, GUARD, 10,
                       ["a%", "1\n2\n3", "2024-01-31"])
    assert prepared.sql.count(marker) == 5
    assert "a%" not in prepared.sql
    expected_day = "2024-01-31" if backend == "sqlite" else dt.date(2024, 1, 31)
    assert prepared.params == ("a%", "1", "2", "3", expected_day)
    # the literal % is doubled only where the driver formats with %
    assert ("50%% off" in prepared.sql) == (backend != "sqlite")


def test_placeholder_forms():
    found = find_placeholders("<<A>> <<B|date>> <<C|list>> <<D:in>> <<E|branches>> (<<F|list>>)")
    assert [(p.label, p.kind) for p in found] == [("A", "text"), ("B", "date"), ("C", "list"), ("D", "list"),
                                                  ("E", "text"), ("F", "list")]
    assert [p.parenthesised for p in found] == [False] * 5 + [True]


def test_marker_names_cannot_be_forged():
    # a report cannot guess the per-run marker names to smuggle in parameters of its own
    first, second = bind("SELECT <<A>>", ["x"]), bind("SELECT <<A>>", ["x"])
    assert first.nonce != second.nonce
    with pytest.raises(Refused):
        prepare("SELECT :kwp_00000000_0", "sqlite", GUARD, 10)
    # even someone who learnt this process's marker names gets a refusal, not an error
    from kohaweb_reports.prepare import _process_nonce

    with pytest.raises(Refused):
        prepare(f"SELECT <<A>>, :kwp_{_process_nonce()}_7", "sqlite", GUARD, 10, ["x"])


@pytest.mark.parametrize("values, names", [
    ([], []), (["1", "2"], []), (["1"], ["Nope"]), (["1", "2"], ["A"]), (["x"], []),
])
def test_parameter_mismatches(values, names):
    with pytest.raises(ParameterError):
        bind("SELECT <<A|date>>", values, names)


@pytest.mark.parametrize("sql, code", [
    ("SELECT surname FROM borrowers WHERE userid = 'x' OR 1 = 1; UPDATE borrowers SET surname = 'x'",
     "multiple_statements"),
    ("SELECT * FROM borrowers", "secret_column"),
    ("SELECT surname FROM borrowers b WHERE EXISTS (SELECT 1 FROM borrowers WHERE password IS NULL)",
     "secret_column"),
    ("SELECT * FROM sessions", "forbidden_table"),
    # every way for * to reach borrowers' columns, through parentheses and joins
    ("SELECT * FROM (borrowers)", "secret_column"),
    ("SELECT * FROM items, borrowers", "secret_column"),
    ("SELECT * FROM items CROSS JOIN (borrowers)", "secret_column"),
    ("SELECT * FROM (borrowers JOIN items ON 1 = 1)", "secret_column"),
    ("SELECT * FROM items JOIN (borrowers b JOIN items i2 ON 1 = 1) ON 1 = 1", "secret_column"),
    ("SELECT x.* FROM (borrowers JOIN items ON 1 = 1) AS x", "secret_column"),
    ("SELECT x FROM (borrowers JOIN items ON 1 = 1) AS x", "secret_column"),
    ("SELECT * FROM items WHERE barcode IN (SELECT * FROM borrowers)", "secret_column"),
    ("SELECT LOAD_EXTENSION('x')", "function"),
    ("INSERT INTO items (barcode) SELECT barcode FROM items", "not_select"),
])
def test_refusals(sql, code):
    for backend in BACKENDS:
        with pytest.raises(Refused) as refused:
            prepare(sql, backend, GUARD, 10)
        assert refused.value.code == code


@pytest.mark.parametrize("sql", [
    "SELECT " + "(" * 3000 + "1" + ")" * 3000,
    "SELECT 1" + " + 1" * 4000,
    "SELECT " + "-" * 5000 + "1",
    "SELECT '" + "x" * 100000,
    "SELECT " + "NOT " * 5000 + "1",
])
def test_pathological_sql_is_refused_not_crashed(sql):
    for backend in BACKENDS:
        try:
            prepare(sql, backend, GUARD, 10)
        except Refused:
            pass
