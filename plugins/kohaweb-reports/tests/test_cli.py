"""``kohaweb report add|list|run|delete``."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from kohaweb.models import SavedReport


def test_add_list_run_delete(run_cli, sample_records, dbsession):
    ids = sorted(sample_records(3))
    status, out, err = run_cli("report", "add", "Titles", "--sql",
                               "SELECT biblionumber, title FROM biblio WHERE biblionumber <= <<Up to>> "
                               "ORDER BY biblionumber;", "--description", "all titles", "--public")
    assert status == 0, err
    report_id = int(out.split()[2].rstrip(":"))
    status, out, _ = run_cli("report", "list")
    assert status == 0 and f"{report_id}\tpublic\t300s\tTitles" in out
    status, out, err = run_cli("report", "run", "Titles", "--param", str(ids[1]))
    assert status == 0, err
    assert [row[0] for row in json.loads(out)] == ids[:2]
    status, out, _ = run_cli("report", "run", str(report_id), "-p", f"Up to={ids[0]}", "--format", "annotated")
    assert status == 0 and [list(row) for row in json.loads(out)] == [["biblionumber", "title"]]
    status, out, _ = run_cli("report", "run", str(report_id), "-p", str(ids[2]), "--format", "csv")
    assert out.splitlines()[0] == "biblionumber,title" and len(out.splitlines()) == 4
    status, out, _ = run_cli("report", "delete", "Titles")
    assert status == 0
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


def test_add_reads_sql_from_stdin(run_cli, dbsession):
    status, _, err = run_cli("report", "add", "Counts", stdin="SELECT COUNT(*) FROM items\n")
    assert status == 0, err
    assert dbsession.scalar(select(SavedReport.savedsql)) == "SELECT COUNT(*) FROM items"


def test_unsafe_sql_is_not_saved(run_cli, dbsession):
    for sql in ("DELETE FROM items", "SELECT * FROM borrowers", "SELECT 1; DROP TABLE items"):
        status, _, err = run_cli("report", "add", "Evil", "--sql", sql)
        assert status == 1 and "cannot be saved" in err
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


def test_errors_are_one_line(run_cli):
    status, _, err = run_cli("report", "run", "nope")
    assert status == 1 and "no report" in err
    run_cli("report", "add", "Twice", "--sql", "SELECT 1")
    status, _, err = run_cli("report", "add", "Twice", "--sql", "SELECT 2")
    assert status == 1 and "exists" in err
    run_cli("report", "add", "Broken", "--sql", "SELECT no_such_column FROM items")
    status, _, err = run_cli("report", "run", "Broken")
    assert status == 1 and "no_such_column" in err
    status, _, err = run_cli("report", "run", "Twice", "--param", "extra")
    assert status == 1 and "sql_params" in err
