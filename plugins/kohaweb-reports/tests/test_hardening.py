"""Issue 22: report SQL that executes text, reads files or catalogues, or builds huge values.

Each attack is refused twice, separately: by the checker (an allowlist of functions and
constructs per database) and by the database itself (the reports role's column grants; SQLite's
authorizer) when the SQL is handed to the runner's execution layer unchecked.
"""

from __future__ import annotations

import pytest
from kohaweb_reports.prepare import Prepared, prepare
from kohaweb_reports.runner import ReportFailed
from kohaweb_reports.safety import Guard, Refused
from sqlalchemy import text

# the outside run's attack strings, verbatim
TS_STAT = ("SELECT word FROM ts_stat('SELECT to_tsvector(''simple'', translate(encode(convert_to(userid||'':''||password,"
           "''UTF8''),''hex''),''0123456789'',''ghijklmnop'')) FROM borrowers')")
TS_REWRITE = ("SELECT ts_rewrite('x'::tsquery, 'SELECT ''x''::tsquery, to_tsquery(''simple'', translate(encode("
              "convert_to(password,''UTF8''),''hex''),''0123456789'',''ghijklmnop'')) FROM borrowers')")
PG_READ_FILE = "SELECT pg_read_file('/etc/passwd')"
PG_AUTHID = "SELECT rolname, rolpassword FROM pg_authid"
SQLITE_PRINTF = ("SELECT printf('%.*c',800000000,'x'), printf('%.*c',800000000,'x'), "
                 "printf('%.*c',800000000,'x')")
PG_REPEAT = "SELECT repeat('x',200000000) FROM generate_series(1, 10) LIMIT 3"
MARIADB_REPEAT = "SELECT REPEAT('x',200000000) FROM items LIMIT 3"

GUARD = Guard.from_columns({"borrowers": ["borrowernumber", "surname", "userid", "password"], "items": ["itemnumber"],
                            "api_keys": ["client_id", "secret"], "saved_sql": ["id", "savedsql"]},
                           ["sessions"], ["borrowers", "items"])

# statement -> the name the refusal must mention
CHECKER_REFUSES = {
    "postgresql": {
        TS_STAT: "TS_STAT", TS_REWRITE: "TS_REWRITE", PG_READ_FILE: "PG_READ_FILE", PG_AUTHID: "rolpassword",
        "SELECT rolname FROM pg_authid": "pg_authid",
        PG_REPEAT: "REPEAT",
        "SELECT query_to_xml('select 1', true, true, '')": "QUERY_TO_XML",
        "SELECT current_setting('data_directory')": "CURRENT_SETTING",
        "SELECT set_config('role', 'postgres', false)": "SET_CONFIG",
        "SELECT current_user": "CURRENT_USER",
        "SELECT current_role, session_user, user": "current_role",
        "SELECT version()": "VERSION",
        "SELECT pg_catalog.upper(surname) FROM borrowers": "pg_catalog.upper",
        "SELECT lpad('x', 200000000, 'y')": "LPAD",
        "SELECT pg_sleep(30)": "PG_SLEEP",
        "SELECT * FROM dblink('dbname=x', 'select 1') AS t(a int)": "DBLINK",
    },
    "mariadb": {
        MARIADB_REPEAT: "REPEAT",
        "SELECT LOAD_FILE('/etc/passwd')": "LOAD_FILE",
        "SELECT SLEEP(30)": "SLEEP",
        "SELECT BENCHMARK(100000000, MD5('x'))": "BENCHMARK",
        "SELECT @@datadir": "@@datadir",
        "SELECT USER()": "USER",
        "SELECT DATABASE()": "SCHEMA",  # named as it would run
        "SELECT SPACE(200000000)": "REPEAT",  # named as it would run
        "SELECT authentication_string FROM mysql.user": "mysql.user",
    },
    "sqlite": {
        SQLITE_PRINTF: "PRINTF",
        "SELECT * FROM pragma_table_info('borrowers')": "PRAGMA_TABLE_INFO",
        "SELECT * FROM pragma_table_list": "pragma_table_list",
        "SELECT * FROM dbstat": "dbstat",
        "SELECT zeroblob(800000000)": "ZEROBLOB",
        "SELECT randomblob(800000000)": "RANDOMBLOB",
        "SELECT load_extension('x')": "LOAD_EXTENSION",
        "SELECT sqlite_version()": "SQLITE_VERSION",
    },
    "all": {
        "SELECT secret FROM api_keys": "secret",
        "SELECT client_id FROM api_keys": "api_keys",
        "SELECT savedsql FROM saved_sql": "saved_sql",
        "SELECT evil_write()": "EVIL_WRITE",
        "SELECT surname FROM borrowers WHERE itemnumber IN (SELECT no_such_function(1))": "NO_SUCH_FUNCTION",
    },
}

# the same kinds of attack, as they reach the database when the checker is bypassed
DATABASE_REFUSES = {
    "postgresql": [TS_STAT, TS_REWRITE, PG_READ_FILE, PG_AUTHID, "SELECT * FROM borrowers",
                   # leaving the role: the session user is the role itself, not the site's user
                   "SELECT set_config('role', 'postgres', true)",
                   "WITH r AS (SELECT set_config('role', 'postgres', true) AS x) SELECT r.x, b.password "
                   "FROM r, borrowers b",
                   "SELECT query_to_xml('select password from borrowers', true, true, '')"],
    "mariadb": ["SELECT * FROM borrowers", "SELECT authentication_string FROM mysql.user",
                "SELECT surname FROM borrowers UNION SELECT password FROM borrowers",
                "SELECT LOAD_FILE('/etc/passwd') FROM borrowers WHERE password IS NOT NULL"],
    "sqlite": ["SELECT * FROM pragma_table_info('borrowers')", "SELECT * FROM pragma_table_list",
               "SELECT * FROM dbstat", "SELECT name FROM pragma_table_list", "SELECT sql FROM sqlite_master",
               "SELECT * FROM borrowers", "SELECT zeroblob(10)", "SELECT load_extension('x')",
               "SELECT sqlite_version()"],
    "all": ["SELECT password FROM borrowers", "SELECT secret FROM api_keys", "SELECT client_id FROM api_keys",
            "SELECT savedsql FROM saved_sql", "SELECT access_token FROM oauth_access_tokens",
            "SELECT variable FROM systempreferences", "SELECT code FROM user_permissions"],
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_the_checker_refuses_what_is_not_on_its_allowlist_and_names_it(backend):
    for sql, name in {**CHECKER_REFUSES["all"], **CHECKER_REFUSES[backend]}.items():
        with pytest.raises(Refused) as refused:
            prepare(sql, backend, GUARD, 10)
        assert name.lower() in refused.value.reason.lower(), (sql, refused.value.reason)


KOHA_LIKE = {
    # Koha's report library (MariaDB), the functions its reports use
    "mariadb": ["SELECT CONCAT(b.title, ' ', IFNULL(b.author, '')) AS t, COUNT(*), SUM(i.price), "
                "GROUP_CONCAT(DISTINCT i.homebranch ORDER BY i.homebranch SEPARATOR ', ') AS libs, "
                "DATE_FORMAT(i.dateaccessioned, '%Y-%m') AS month, YEAR(i.dateaccessioned), "
                "DATEDIFF(CURDATE(), i.dateaccessioned) AS age, COALESCE(i.itemcallnumber, '-'), "
                "SUBSTRING(b.title, 1, 10), LPAD(i.itemnumber, 8, '0'), "
                "ExtractValue(m.metadata, '//datafield[@tag=\"245\"]/subfield[@code=\"a\"]') AS title245 "
                "FROM biblio b JOIN items i ON i.biblionumber = b.biblionumber "
                "JOIN biblio_metadata m ON m.biblionumber = b.biblionumber "
                "WHERE i.dateaccessioned > DATE_SUB(CURDATE(), INTERVAL 100 YEAR) "
                "GROUP BY b.biblionumber, b.title, b.author, i.dateaccessioned, i.itemcallnumber, i.itemnumber, m.metadata "
                "ORDER BY b.biblionumber LIMIT 5"],
    "postgresql": ["SELECT concat(b.title, ' ', coalesce(b.author, '')) AS t, count(*), sum(i.price), "
                   "string_agg(DISTINCT i.homebranch, ', ') AS libs, to_char(i.dateaccessioned, 'YYYY-MM'), "
                   "extract(year FROM i.dateaccessioned), current_date - i.dateaccessioned AS age, "
                   "substring(b.title FROM 1 FOR 10), lpad(i.itemnumber::text, 8, '0'), "
                   "row_number() OVER (ORDER BY b.biblionumber) "
                   "FROM biblio b JOIN items i ON i.biblionumber = b.biblionumber "
                   "WHERE i.dateaccessioned > current_date - interval '100 years' "
                   "GROUP BY b.biblionumber, b.title, b.author, i.dateaccessioned, i.itemnumber ORDER BY 1 LIMIT 5"],
    "sqlite": ["SELECT b.title || ' ' || ifnull(b.author, '') AS t, count(*), sum(i.price), "
               "group_concat(DISTINCT i.homebranch) AS libs, strftime('%Y-%m', i.dateaccessioned), "
               "julianday('now') - julianday(i.dateaccessioned) AS age, coalesce(i.itemcallnumber, '-'), "
               "substr(b.title, 1, 10), printf('%08d', i.itemnumber), row_number() OVER (ORDER BY b.biblionumber) "
               "FROM biblio b JOIN items i ON i.biblionumber = b.biblionumber "
               "WHERE i.dateaccessioned > date('now', '-100 years') "
               "GROUP BY b.biblionumber, b.title, b.author, i.dateaccessioned, i.itemnumber ORDER BY 1 LIMIT 5"],
}


def test_a_librarians_usual_functions_run(reports_app, save_report, librarian, sample_records, backend):
    sample_records(3)
    app = reports_app()
    for sql in KOHA_LIKE[backend]:
        rid = save_report(sql)
        response = app.get("/svc/report", {"id": rid}, headers=librarian, expect_errors=True)
        assert response.status_int == 200, response.text
        assert len(response.json) >= 3


@pytest.mark.parametrize("sql", [TS_STAT, TS_REWRITE, PG_READ_FILE, PG_AUTHID])
def test_the_public_attack_is_refused_when_saved_and_when_run(reports_app, save_report, librarian, staff_user,
                                                               sql, dbsession):
    """As reproduced: a user with only ``reports`` saves it as a public report, anyone runs it."""
    from kohaweb.models import SavedReport

    app = reports_app()
    refused = app.post_json("/api/v1/reports", {"name": "words", "sql": sql, "public": True},
                            headers=librarian, status=400)
    assert "$2b$" not in refused.text
    assert dbsession.query(SavedReport).count() == 0
    rid = save_report(sql, public=True)  # as a Koha migration could store it
    for path, headers in (("/opac/svc/report", {}), ("/svc/report", librarian)):
        response = app.get(path, {"id": rid}, headers=headers, status=400)
        # (MariaDB cannot even parse PostgreSQL's ::tsquery)
        assert response.json["error_code"] in ("function", "system_table", "secret_column", "syntax_error")
        assert "$2b$" not in response.text and "root:" not in response.text


def test_the_database_refuses_what_the_checker_would_have(reports_app, librarian, staff_user, backend, engine):
    """The execution layer directly, no checker: the reports role (SQLite: authorizer) refuses."""
    runner = reports_app().app.registry.kohaweb.extras["reports"].runner
    for sql in DATABASE_REFUSES["all"] + DATABASE_REFUSES[backend]:
        with pytest.raises(ReportFailed) as failed:
            runner.run(Prepared(sql, ()))
        assert "$2b$" not in failed.value.message
        assert any(word in failed.value.message.lower() for word in ("denied", "not authorized", "prohibited",
                                                                     "vtable constructor failed")), \
            (sql, failed.value.message)
    # ...as the reports role itself, never the site's user
    whoami = {"postgresql": "SELECT session_user, current_user", "mariadb": "SELECT CURRENT_USER(), USER()"}
    if backend in whoami:
        assert [str(v).split("@")[0] for v in runner.run(Prepared(whoami[backend], ())).rows[0]] == \
            ["kohaweb_reports"] * 2
    # ...while the same connection reads what reports may read
    rows = runner.run(Prepared("SELECT surname, cardnumber FROM borrowers ORDER BY surname", ())).rows
    assert rows and all(len(row) == 2 for row in rows)


def test_ts_stat_reads_hashes_as_the_owner_but_not_as_the_reports_role(reports_app, librarian, backend, engine):
    """Proves the attack is real on this database and that the role is what stops it."""
    if backend != "postgresql":
        # the same proof on the other databases: the site's connection reads the hash, reports' cannot
        attack = "SELECT password FROM borrowers"
    else:
        attack = TS_STAT
    with engine.connect() as conn:
        assert conn.execute(text(attack)).fetchall(), "the owner's connection reads the secret"
    runner = reports_app().app.registry.kohaweb.extras["reports"].runner
    with pytest.raises(ReportFailed):
        runner.run(Prepared(attack, ()))


def test_reports_never_run_as_the_owner(reports_app, save_report, librarian, backend, database_url, engine):
    """A reports connection that can read a secret column is refused with a clear 503."""
    if backend == "sqlite":
        # no owner on SQLite: even pointed at the file directly, the authorizer stays on
        app = reports_app(**{"reports.database_url": database_url})
        runner = app.app.registry.kohaweb.extras["reports"].runner
        with pytest.raises(ReportFailed):
            runner.run(Prepared("SELECT password FROM borrowers", ()))
        return
    rid = save_report("SELECT surname FROM borrowers", public=True)
    for settings in ({"reports.database_url": database_url},  # the owner (and a superuser here)
                     {"reports.role": "kohaweb_reports_never_set_up", "reports.setup_role": "false"}):
        app = reports_app(**settings)
        staff = app.get("/svc/report", {"id": rid}, headers=librarian, status=503).json
        assert staff["error_code"] == "reports_unavailable"
        assert "setup-role" in staff["error"] or "database_url" in staff["error"], staff
        public = app.get("/opac/svc/report", {"id": rid}, status=503).json
        assert public == {"error": "reports are unavailable", "error_code": "reports_unavailable"}


def test_setup_role_is_idempotent_and_grants_only_readable_columns(run_cli, backend, engine):
    for command in ("report", "reports"):
        status, out, err = run_cli(command, "setup-role")
        assert status == 0, err
    if backend == "sqlite":
        assert "authorizer" in out
        return
    assert "cannot read secret columns" in out
    with engine.connect() as conn:
        if backend == "postgresql":
            role = conn.execute(text("SELECT rolsuper, rolcanlogin, rolinherit FROM pg_roles "
                                     "WHERE rolname = 'kohaweb_reports'")).one()
            assert tuple(role) == (False, True, False)  # a login of its own (password from kohaweb.secret)
            assert conn.execute(text(
                "SELECT has_column_privilege('kohaweb_reports', 'borrowers', 'surname', 'SELECT'), "
                "has_column_privilege('kohaweb_reports', 'borrowers', 'password', 'SELECT'), "
                "has_table_privilege('kohaweb_reports', 'borrowers', 'SELECT'), "
                "has_table_privilege('kohaweb_reports', 'api_keys', 'SELECT'), "
                "has_table_privilege('kohaweb_reports', 'saved_sql', 'SELECT'), "
                "has_table_privilege('kohaweb_reports', 'oauth_access_tokens', 'SELECT'), "
                "has_table_privilege('kohaweb_reports', 'systempreferences', 'SELECT'), "
                "has_column_privilege('kohaweb_reports', 'items', 'itemnumber', 'SELECT')")).one() == (
                True, False, False, False, False, False, False, True)
        else:
            grants = "\n".join(row[0] for row in conn.execute(text("SHOW GRANTS FOR 'kohaweb_reports'@'%'")))
            assert "`surname`" in grants and "`items`" in grants
            for secret in ("`password`", "`api_keys`", "`saved_sql`", "`oauth_access_tokens`",
                           "`systempreferences`", "ALL PRIVILEGES", "FILE", "GRANT OPTION"):
                assert secret not in grants, (secret, grants)


# --- limits ----------------------------------------------------------------------------------

BIG_VALUES = {
    # SQLite's printf answers NULL past the value length limit; group_concat fails with TOOBIG.
    # Scaled down: SQLite (3.40) still counts up to the width after the limit (about 3 s per
    # 800,000,000), which no progress handler interrupts; that is why the checker refuses it.
    "sqlite": ["SELECT printf('%.*c',80000000,'x'), printf('%.*c',80000000,'x'), printf('%.*c',80000000,'x')",
               "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
                              "SELECT group_concat('xxxxxxxxxx', '') FROM c"],
    # the outside run's 200 MB rows, scaled down to keep the test light: one row passes the cap
    "postgresql": ["SELECT repeat('x',20000000) FROM generate_series(1, 10) LIMIT 3"],
    "mariadb": ["SELECT REPEAT('x',2000000) FROM items LIMIT 3", MARIADB_REPEAT],
}


def test_big_values_are_bounded_in_bytes(reports_app, sample_records, backend):
    """The checker refuses the builders; run unchecked, the byte cap (SQLite: the value length
    limit; MariaDB: max_allowed_packet) bounds them: result_too_large or a small result, never
    the timeout and never a 500."""
    from kohaweb_reports.runner import value_size

    sample_records(3)
    max_bytes = 1_000_000
    runner = reports_app(**{"reports.max_bytes": str(max_bytes), "reports.timeout_ms": "10000"}) \
        .app.registry.kohaweb.extras["reports"].runner
    for sql in BIG_VALUES[backend]:
        try:
            result = runner.run(Prepared(sql, ()))
        except ReportFailed as failed:
            assert failed.code == "result_too_large", \
                (sql, failed.message)
        else:
            assert sum(value_size(v) for row in result.rows for v in row) <= max_bytes, sql


def test_a_result_over_the_byte_cap_is_a_json_400(reports_app, save_report, librarian, sample_records):
    sample_records(20)
    rid = save_report("SELECT a.title, b.title, a.author FROM biblio a, biblio b ORDER BY a.biblionumber, b.biblionumber",
                      public=True)
    app = reports_app(**{"reports.max_bytes": "1000", "reports.max_rows": "200"})
    for path, headers in (("/svc/report", librarian), ("/opac/svc/report", {})):
        body = app.get(path, {"id": rid}, headers=headers, status=400).json
        assert body["error_code"] == "result_too_large" and "1000 bytes" in body["error"]
    small = reports_app(**{"reports.max_bytes": "1000000", "reports.max_rows": "200"})
    assert len(small.get("/svc/report", {"id": rid}, headers=librarian).json) == 200


def test_the_result_cache_is_bounded_in_bytes():
    from kohaweb_reports.cache import ResultCache
    from kohaweb_reports.runner import Result

    cache = ResultCache(100, max_bytes=100)
    for key in range(3):
        cache.put(key, Result(["x"], [("x" * 40,)], False, 40), 60)
    assert cache.bytes == 80 and cache.get(0) is None and cache.get(2) is not None
    cache.put("big", Result(["x"], [("x" * 200,)], False, 200), 60)
    assert cache.get("big") is None and cache.bytes == 80
    cache.discard_report(1)
    assert len(cache) == 2 and cache.bytes == 80  # report ids are the first item of tuple keys only


def test_value_sizes_count_text_bytes_and_nested_values():
    from kohaweb_reports.runner import value_size

    assert value_size("abc") == 3 and value_size("é") == 2 and value_size(b"\0" * 10) == 10
    assert value_size(["ab", ["cd"]]) == 4
    assert value_size({"key": "x" * 1000}) == 1003  # PostgreSQL json arrives as a dict


def test_without_a_site_secret(engine, clean_db, librarian, backend):
    """No password can be derived: PostgreSQL falls back to SET ROLE from the site's user (the
    role still refuses the attack), MariaDB refuses to run with a clear error, SQLite needs none."""
    from kohaweb_reports import SETTINGS
    from kohaweb_reports.runner import ReportsUnavailable
    from kohaweb_reports.service import ReportService

    from kohaweb.settings import parse_settings

    service = ReportService(engine, parse_settings({}, "reports", SETTINGS), secret="")
    try:
        if backend == "mariadb":
            with pytest.raises(ReportsUnavailable) as unavailable:
                service.runner.run(Prepared("SELECT surname FROM borrowers", ()))
            assert "kohaweb.secret" in str(unavailable.value)
            return
        attack = TS_STAT if backend == "postgresql" else "SELECT password FROM borrowers"
        with pytest.raises(ReportFailed):
            service.runner.run(Prepared(attack, ()))
        if backend == "postgresql":
            assert service.runner.run(Prepared("SELECT session_user, current_user", ())).rows == \
                [("postgres", "kohaweb_reports")]
        assert service.runner.run(Prepared("SELECT surname FROM borrowers", ())).rows == [("Librarian",)]
    finally:
        service.dispose()


def test_readable_tables_decide_what_the_checker_and_the_role_allow(reports_app, save_report, librarian):
    app = reports_app(**{"reports.readable_tables": "items biblio"})
    rid = save_report("SELECT surname FROM borrowers")
    body = app.get("/svc/report", {"id": rid}, headers=librarian, status=400).json
    assert body["error_code"] == "forbidden_table" and "borrowers" in body["error"]
    runner = app.app.registry.kohaweb.extras["reports"].runner
    with pytest.raises(ReportFailed):
        runner.run(Prepared("SELECT surname FROM borrowers", ()))
    assert runner.run(Prepared("SELECT COUNT(*) FROM items", ())).rows[0][0] == 0
