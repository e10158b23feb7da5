"""Reports cannot write, cannot hang, cannot read secrets: every attempt is refused with a 400
JSON error and leaves the database exactly as it was, on every database."""

from __future__ import annotations

import pytest
from kohaweb_reports.prepare import Prepared
from kohaweb_reports.runner import ReportFailed
from kohaweb_reports.safety import Guard
from sqlalchemy import text

WRITES = {
    "all": [
        "INSERT INTO branches (branchcode, branchname) VALUES ('ZZZ', 'evil')",
        "UPDATE items SET barcode = 'evil'",
        "DELETE FROM items",
        "DROP TABLE items",
        "CREATE TABLE evil (x INTEGER)",
        "CREATE TABLE evil AS SELECT * FROM items",
        "ALTER TABLE items ADD COLUMN evil INTEGER",
        "TRUNCATE TABLE items",
        "REPLACE INTO branches (branchcode, branchname) VALUES ('CPL', 'evil')",
        "SELECT 1; DELETE FROM items",
        "SELECT * FROM items; DROP TABLE items;",
        "DELETE FROM items; SELECT 1",
        "WITH x AS (SELECT 1) DELETE FROM items",
        "WITH x AS (SELECT itemnumber FROM items) UPDATE items SET barcode = 'evil'",
        "SELECT * FROM items FOR UPDATE",
        "CREATE VIEW evil AS SELECT 1 AS x",
        "BEGIN",
        "COMMIT",
        "/* SELECT */ DELETE FROM items",
        "SELECT 1 /* ; */ ; DELETE FROM items",
    ],
    "sqlite": [
        "ATTACH DATABASE ':memory:' AS evil",
        "ATTACH DATABASE 'evil.sqlite' AS evil",
        "PRAGMA query_only = OFF",
        "PRAGMA writable_schema = ON",
        "SELECT load_extension('/tmp/evil')",
        "SELECT * FROM pragma_table_info('items')",
        "VACUUM",
        "VACUUM INTO '/tmp/evil.sqlite'",
        "INSERT OR REPLACE INTO branches (branchcode, branchname) VALUES ('CPL', 'evil')",
    ],
    "postgresql": [
        "WITH d AS (DELETE FROM items RETURNING itemnumber) SELECT * FROM d",
        "WITH u AS (UPDATE items SET barcode = 'evil' RETURNING itemnumber) SELECT count(*) FROM u",
        "WITH i AS (INSERT INTO branches (branchcode, branchname) VALUES ('ZZZ', 'e') RETURNING 1) SELECT * FROM i",
        "SELECT * INTO evil FROM items",
        "SELECT * FROM items FOR SHARE",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT lo_import('/etc/passwd')",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT pg_catalog.pg_terminate_backend(1)",
        "SELECT pg_advisory_lock(1)",
        "SELECT nextval('items_itemnumber_seq')",
        "SELECT dblink_exec('dbname=postgres', 'DROP TABLE items')",
        "SELECT pg_sleep(30)",
        "COPY items TO '/tmp/evil'",
        "SET default_transaction_read_only = off",
        "SELECT evil_write()",  # a function the parser cannot see into: the transaction stops it
    ],
    "mariadb": [
        "SELECT * FROM items INTO OUTFILE '/tmp/evil'",
        "SELECT * INTO OUTFILE '/tmp/evil' FROM items",
        "SELECT 1 INTO @evil",
        "SELECT @evil := 1",
        "SELECT * FROM items LOCK IN SHARE MODE",
        "SELECT SLEEP(30)",
        "SELECT BENCHMARK(100000000, MD5('x'))",
        "SELECT LOAD_FILE('/etc/passwd')",
        "SELECT GET_LOCK('evil', 10)",
        "/*! DELETE FROM items */ SELECT 1",
        "SELECT 1 /*!50000 ; DELETE FROM items */",
        "HANDLER items OPEN",
        "LOAD DATA INFILE '/tmp/evil' INTO TABLE items",
        "CALL evil_proc()",
        "SET SESSION TRANSACTION READ WRITE",
        "SELECT evil_write()",  # a function the parser cannot see into: the transaction stops it
    ],
}

SECRETS = {
    "all": [
        "SELECT password FROM borrowers",
        "SELECT userid, password AS p FROM borrowers",
        "SELECT * FROM borrowers",
        "SELECT b.* FROM borrowers b",
        "SELECT b.*, i.barcode FROM borrowers b JOIN items i ON 1 = 1",
        "SELECT * FROM items JOIN borrowers ON 1 = 1",
        "SELECT x FROM (SELECT password AS x FROM borrowers) t",
        "SELECT * FROM (SELECT * FROM borrowers) t",
        "WITH b AS (SELECT * FROM borrowers) SELECT surname FROM b",
        "SELECT surname FROM borrowers WHERE password LIKE '$2b$%'",
        "SELECT surname FROM borrowers ORDER BY password",
        "SELECT userid FROM borrowers UNION SELECT password FROM borrowers",
        "SELECT secret FROM api_keys",
        "SELECT * FROM api_keys",
        "SELECT access_token FROM oauth_access_tokens",
        "SELECT * FROM sessions",
        "SELECT * FROM patron_logins",  # a view over borrowers.password
    ],
    "sqlite": [
        'SELECT "PassWord" FROM borrowers',
        "SELECT [password] FROM borrowers",
        "SELECT sql FROM sqlite_master",
    ],
    "postgresql": [
        "SELECT b FROM borrowers b",
        "SELECT row_to_json(b) FROM borrowers b",
        "SELECT to_jsonb(b.*) FROM borrowers b",
        "SELECT (b).password FROM borrowers b",
        "SELECT borrowers FROM borrowers",
        "SELECT p FROM borrowers AS b(n, c, u, p)",  # positional column renaming
        "SELECT query_to_xml('select password from borrowers', true, true, '')",
        "SELECT table_to_xml('borrowers', true, true, '')",
        "SELECT rolpassword FROM pg_authid",
        "SELECT * FROM pg_catalog.pg_shadow",
        "SELECT * FROM pg_user",
    ],
    "mariadb": [
        "SELECT `password` FROM borrowers",
        "SELECT `PASSWORD` FROM `borrowers`",
        "SELECT authentication_string FROM mysql.user",
        "SELECT * FROM information_schema.processlist",
        "SELECT JSON_OBJECT('p', password) FROM borrowers",
    ],
}

SLOW = {
    # a recursive CTE that would count to a billion
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
              "SELECT COUNT(*) FROM c",
    "postgresql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
                  "SELECT COUNT(*) FROM c",
    # MariaDB stops recursion at max_recursive_iterations (1000): join the CTE to itself instead
    "mariadb": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
               "SELECT COUNT(*) FROM c AS a, c AS b, c AS d, c AS e",
}


@pytest.fixture
def hidden_writers(engine, backend):
    """Database functions that write, which no parser can see into; dropped afterwards."""
    statements = {
        "postgresql": (["CREATE FUNCTION evil_write() RETURNS integer LANGUAGE sql AS "
                        "$$ DELETE FROM items; SELECT 1 $$"], ["DROP FUNCTION IF EXISTS evil_write()"]),
        "mariadb": (["CREATE FUNCTION evil_write() RETURNS INT MODIFIES SQL DATA "
                     "BEGIN DELETE FROM items; RETURN 1; END",
                     "CREATE PROCEDURE evil_proc() MODIFIES SQL DATA DELETE FROM items"],
                    ["DROP FUNCTION IF EXISTS evil_write", "DROP PROCEDURE IF EXISTS evil_proc"]),
    }.get(backend, ([], []))
    create, drop = statements
    with engine.begin() as conn:
        for sql in create:
            conn.execute(text(sql))
    yield
    with engine.begin() as conn:
        for sql in drop:
            conn.execute(text(sql))


@pytest.fixture
def password_view(engine):
    with engine.begin() as conn:
        conn.execute(text("CREATE VIEW patron_logins AS SELECT userid, password FROM borrowers"))
    yield
    with engine.begin() as conn:
        conn.execute(text("DROP VIEW patron_logins"))


def run_all(app, headers, save_report, statements):
    """Save each statement as a report (as a Koha migration could), run it; return the
    statements that were not refused with a JSON 400."""
    not_refused = []
    for index, sql in enumerate(statements):
        rid = save_report(sql, name=f"attempt {index}", public=True)
        for path, extra in (("/svc/report", headers), ("/opac/svc/report", {})):
            response = app.get(path, {"id": rid}, headers=extra, expect_errors=True)
            if response.status_int != 400 or not response.json.get("error") or "$2b$" in response.text:
                not_refused.append((sql, path, response.status, response.text[:200]))
    return not_refused


def test_write_attempts_fail_and_change_nothing(reports_app, save_report, librarian, snapshot, sample_records,
                                                backend, hidden_writers):
    sample_records(4)
    statements = WRITES["all"] + WRITES[backend]
    app = reports_app()
    save_report("SELECT 1", name="existing")
    before = snapshot()
    assert before["items"][1], "the test needs items that a write could change"
    not_refused = run_all(app, librarian, save_report, statements)
    assert not_refused == []
    after = snapshot()
    before_reports, after_reports = before.pop("saved_sql"), after.pop("saved_sql")
    assert after == before
    assert set(before_reports[1]) <= set(after_reports[1])  # only the attempts were added


def test_secret_columns_cannot_be_read(reports_app, save_report, librarian, staff_user, password_view, backend):
    statements = SECRETS["all"] + SECRETS[backend]
    app = reports_app()
    assert run_all(app, librarian, save_report, statements) == []


def test_refusals_say_why(reports_app, save_report, librarian):
    app = reports_app()
    cases = {
        "SELECT * FROM borrowers": "secret_column",
        "DELETE FROM items": "not_select",
        "SELECT 1; SELECT 2": "multiple_statements",
        "SELECT * FROM items FOR UPDATE": "lock",
        "SELECT FROM WHERE": "syntax_error",
    }
    for sql, code in cases.items():
        rid = save_report(sql, name=code)
        body = app.get("/svc/report", {"id": rid}, headers=librarian, status=400).json
        assert body["error_code"] == code, (sql, body)
        assert len(body["error"]) > 10


def test_harmless_queries_on_the_same_tables_run(reports_app, save_report, librarian, staff_user, sample_records,
                                                 backend):
    sample_records(2)
    app = reports_app()
    allowed = [
        "SELECT COUNT(*) FROM borrowers",
        "SELECT surname, cardnumber, password_expiration_date FROM borrowers ORDER BY surname"
        if False else "SELECT surname, cardnumber FROM borrowers ORDER BY surname",
        "SELECT i.*, b.surname FROM items i LEFT JOIN borrowers b ON b.borrowernumber = i.itemnumber",
        "WITH c AS (SELECT homebranch, COUNT(*) AS n FROM items GROUP BY homebranch) SELECT * FROM c",
        "SELECT branchcode FROM branches UNION SELECT categorycode FROM categories",
        "SELECT biblionumber, title FROM biblio WHERE title LIKE '%a%' ORDER BY biblionumber",
    ]
    if backend == "mariadb":  # typical Koha reports
        allowed.append("SELECT barcode, DATE_SUB(CURDATE(), INTERVAL 1 MONTH) AS since, "
                       "GROUP_CONCAT(DISTINCT homebranch ORDER BY homebranch SEPARATOR ', ') AS libs "
                       "FROM items WHERE barcode REGEXP '^[0-9]' AND barcode NOT RLIKE 'x' GROUP BY barcode")
        allowed.append("SELECT biblionumber, ExtractValue(metadata, '//datafield[@tag=\"245\"]/subfield[@code=\"a\"]')"
                       " AS title FROM biblio_metadata")
    for sql in allowed:
        rid = save_report(sql, name=sql[:60])
        response = app.get("/svc/report", {"id": rid}, headers=librarian, expect_errors=True)
        assert response.status_int == 200, (sql, response.text)


def test_result_columns_are_checked_after_running(reports_app, save_report, librarian, staff_user):
    """Even if the schema check missed a table (created after it looked), no result column
    named like a secret leaves the server."""
    app = reports_app()
    service = app.app.registry.kohaweb.extras["reports"]
    service._guard = Guard({}, frozenset())  # as if the schema knew no secrets
    service._guard_time = float("inf")
    rid = save_report("SELECT * FROM borrowers")
    body = app.get("/svc/report", {"id": rid}, headers=librarian, status=400)
    # the database role (SQLite: the authorizer) refuses it before the result check can
    assert body.json["error_code"] in ("secret_column", "query_failed")
    assert "$2b$" not in body.text


def test_slow_reports_are_stopped(reports_app, save_report, librarian, backend):
    app = reports_app(**{"reports.timeout_ms": "300"})
    rid = save_report(SLOW[backend], public=True)
    for path, headers in (("/svc/report", librarian), ("/opac/svc/report", {})):
        body = app.get(path, {"id": rid}, headers=headers, status=400).json
        assert body["error_code"] == "timeout", body


def test_sleep_beyond_the_timeout_is_cut_off_by_the_database(reports_app, backend, snapshot):
    """The parser refuses sleep functions; this runs them past the parser to prove the
    database-side timeout stops them too."""
    sleep = {"postgresql": "SELECT pg_sleep(30)", "mariadb": "SELECT SLEEP(30)"}.get(backend, SLOW["sqlite"])
    runner = reports_app(**{"reports.timeout_ms": "300"}).app.registry.kohaweb.extras["reports"].runner
    with pytest.raises(ReportFailed) as failed:
        runner.run(Prepared(sleep, ()))
    # MariaDB's SLEEP() returns 1 when interrupted instead of raising, hence the second check
    assert failed.value.timeout


@pytest.mark.parametrize("statement", [
    "DELETE FROM items",
    "UPDATE items SET barcode = 'evil'",
    "INSERT INTO branches (branchcode, branchname) VALUES ('ZZZ', 'evil')",
    "CREATE TABLE evil (x INTEGER)",
    "DROP TABLE items",
])
def test_the_connection_itself_is_read_only(reports_app, sample_records, snapshot, statement):
    """Defence in depth: SQL that never went through the parser still cannot write."""
    sample_records(2)
    runner = reports_app().app.registry.kohaweb.extras["reports"].runner
    before = snapshot()
    with pytest.raises(ReportFailed):
        runner.run(Prepared(statement, ()))
    assert snapshot() == before


def test_report_connections_are_read_only_sessions(reports_app, backend):
    runner = reports_app().app.registry.kohaweb.extras["reports"].runner
    if backend == "sqlite":
        with pytest.raises(ReportFailed):  # the authorizer refuses every PRAGMA
            runner.run(Prepared("PRAGMA query_only", ()))
        raw = runner.engine().raw_connection()
        try:
            raw.driver_connection.set_authorizer(None)
            assert raw.driver_connection.execute("PRAGMA query_only").fetchone()[0] == 1
        finally:
            raw.invalidate()
        return
    probe = {"postgresql": "SELECT current_setting('transaction_read_only')", "mariadb": "SELECT @@session.tx_read_only"}[backend]
    assert str(runner.run(Prepared(probe, ())).rows[0][0]).lower() in ("1", "on")
