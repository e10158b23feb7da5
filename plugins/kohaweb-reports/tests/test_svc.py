"""The JSON report service: lookup, parameters, output, permissions, errors, caching."""

from __future__ import annotations

import csv
import io

import pytest

from kohaweb.testing import basic_auth

ITEMS_BY_BRANCH = ("SELECT homebranch, COUNT(*) AS n FROM items WHERE homebranch IS NOT NULL "
                   "GROUP BY homebranch ORDER BY homebranch")


@pytest.fixture
def catalogue(sample_records):
    return sample_records(6)


def test_plain_and_annotated_rows_in_column_order(reports_app, save_report, librarian, catalogue, dbsession):
    rid = save_report("SELECT biblionumber, title, author FROM biblio ORDER BY biblionumber")
    app = reports_app()
    plain = app.get("/svc/report", {"id": rid}, headers=librarian)
    assert plain.content_type == "application/json"
    assert plain.charset.lower() == "utf-8"
    assert "Content-Disposition" not in plain.headers
    assert [row[0] for row in plain.json] == sorted(catalogue)
    assert all(len(row) == 3 for row in plain.json)
    annotated = app.get("/svc/report", {"id": rid, "annotated": "1"}, headers=librarian)
    assert [list(obj) for obj in annotated.json] == [["biblionumber", "title", "author"]] * len(catalogue)
    assert [[o["biblionumber"], o["title"], o["author"]] for o in annotated.json] == plain.json


def test_dates_are_iso_8601(reports_app, save_report, librarian, dbsession):
    from kohaweb.models import Patron

    rid = save_report("SELECT borrowernumber, updated_on FROM borrowers ORDER BY borrowernumber")
    patron = dbsession.query(Patron).one()
    body = reports_app().get("/svc/report", {"id": rid}, headers=librarian).json
    assert body == [[patron.borrowernumber, patron.updated_on.isoformat()]]


def test_date_values_from_the_database_are_iso(reports_app, save_report, librarian, backend):
    expression = {"sqlite": "DATE('2024-02-29')", "postgresql": "DATE '2024-02-29'",
                  "mariadb": "DATE('2024-02-29')"}[backend]
    stamp = {"sqlite": "DATETIME('2024-02-29 13:05:09')", "postgresql": "TIMESTAMP '2024-02-29 13:05:09'",
             "mariadb": "TIMESTAMP('2024-02-29 13:05:09')"}[backend]
    rid = save_report(f"SELECT {expression} AS d, {stamp} AS t, 1.50 AS price, NULL AS empty")
    body = reports_app().get("/svc/report", {"id": rid, "annotated": "1"}, headers=librarian).json
    assert body[0]["d"] == "2024-02-29"
    assert body[0]["t"] == "2024-02-29T13:05:09"
    assert body[0]["price"] == 1.5
    assert body[0]["empty"] is None


def test_csv(reports_app, save_report, librarian, catalogue):
    rid = save_report(ITEMS_BY_BRANCH)
    response = reports_app().get("/svc/report", {"id": rid, "format": "csv"}, headers=librarian)
    assert response.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["homebranch", "n"]
    json_rows = reports_app().get("/svc/report", {"id": rid}, headers=librarian).json
    assert [[r[0], int(r[1])] for r in rows[1:]] == json_rows


def test_lookup_by_name_wins_over_id(reports_app, save_report, librarian):
    first = save_report("SELECT 'first' AS which", name="first")
    save_report("SELECT 'second' AS which", name="second")
    app = reports_app()
    assert app.get("/svc/report", {"name": "second", "id": first}, headers=librarian).json == [["second"]]
    assert app.get("/svc/report", {"id": first}, headers=librarian).json == [["first"]]


def test_unknown_report_is_404_json(reports_app, librarian):
    app = reports_app()
    response = app.get("/svc/report", {"id": 999999}, headers=librarian, status=404)
    app.get("/svc/report", {"id": "9" * 30}, headers=librarian, status=404)
    app.get("/opac/svc/report", {"id": "-" + "9" * 30}, status=404)
    assert response.json["error"]
    assert app.get("/svc/report", {"name": "nope"}, headers=librarian, status=404).json["error_code"] == "not_found"


@pytest.mark.parametrize("query", [{}, {"id": "abc"}, {"id": "ID", "format": "xml"}, "id=ID&name=%ff",
                                   "id=ID&sql_params=" + "%0A".join(["x"] * 1001)])
def test_bad_request_parameters(reports_app, save_report, librarian, query):
    rid = save_report("SELECT 1 AS one FROM items WHERE barcode IN <<Barcodes|list>>")
    if isinstance(query, dict):
        query = {k: str(rid) if v == "ID" else v for k, v in query.items()}
    else:
        query = query.replace("ID", str(rid))
    response = reports_app().get("/svc/report", query, headers=librarian, status=400)
    assert response.json["error"]


def test_staff_service_needs_reports_permission(reports_app, save_report, staff_user):
    rid = save_report("SELECT 1 AS one", public=True)
    app = reports_app()
    app.get("/svc/report", {"id": rid}, headers={"Accept": "application/json"}, status=401)
    userid, password, _ = staff_user("cataloguer", "catalogue")
    app.get("/svc/report", {"id": rid}, headers=basic_auth(userid, password), status=403)


@pytest.mark.parametrize("path", ["/opac/svc/report", "/cgi-bin/koha/opac/svc/report", "/cgi-bin/koha/svc/report"])
def test_public_paths_serve_only_public_reports(reports_app, save_report, path):
    public = save_report("SELECT 'open' AS x", name="open", public=True)
    private = save_report("SELECT 'closed' AS x", name="closed")
    app = reports_app()
    assert app.get(path, {"id": public}).json == [["open"]]
    assert app.get(path, {"name": "open"}).json == [["open"]]
    hidden = app.get(path, {"id": private}, status=404)
    assert hidden.json == app.get(path, {"id": 999999}, status=404).json  # no hint it exists
    app.get(path, {"name": "closed"}, status=404)


def test_koha_staff_path_runs_private_reports_for_staff(reports_app, save_report, librarian, staff_user):
    private = save_report("SELECT 'closed' AS x")
    app = reports_app()
    assert app.get("/cgi-bin/koha/svc/report", {"id": private}, headers=librarian).json == [["closed"]]
    userid, password, _ = staff_user("circ", "circulate")
    app.get("/cgi-bin/koha/svc/report", {"id": private}, headers=basic_auth(userid, password), status=404)
    wrong = basic_auth("librarian", "wrong password")
    assert app.get("/cgi-bin/koha/svc/report", {"id": private}, headers=wrong, status=401).json["error"]


def test_cors_origin_on_public_results(reports_app, save_report):
    rid = save_report("SELECT 1 AS one", public=True)
    response = reports_app(**{"reports.cors_origin": "*"}).get("/opac/svc/report", {"id": rid})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_positional_sql_params(reports_app, save_report, librarian, catalogue):
    rid = save_report("SELECT COUNT(*) AS n FROM items WHERE homebranch = <<Library|branches>> "
                      "AND itype = <<Item type|itemtypes>>")
    app = reports_app()
    everything = app.get("/svc/report", {"id": save_report(ITEMS_BY_BRANCH)}, headers=librarian).json
    branch, _ = everything[0]
    by_branch = app.get("/svc/report", [("id", rid), ("sql_params", branch), ("sql_params", "BK")],
                        headers=librarian).json
    none = app.get("/svc/report", [("id", rid), ("sql_params", "BK"), ("sql_params", branch)],
                   headers=librarian).json
    assert int(none[0][0]) == 0
    assert 0 <= int(by_branch[0][0])


def test_param_names_fill_repeated_placeholders(reports_app, save_report, librarian):
    rid = save_report("SELECT <<Word>> AS a, <<Other>> AS b, <<Word>> AS c")
    body = reports_app().get("/svc/report", [("id", rid), ("sql_params", "two"), ("param_names", "Other"),
                                              ("sql_params", "one"), ("param_names", "Word")],
                             headers=librarian).json
    assert body == [["one", "two", "one"]]


def test_values_are_bound_never_pasted(reports_app, save_report, librarian, snapshot, catalogue):
    rid = save_report("SELECT <<Text>> AS echoed")
    before = snapshot()
    evil = "x'); DELETE FROM items; --"
    body = reports_app().get("/svc/report", [("id", rid), ("sql_params", evil)], headers=librarian).json
    assert body == [[evil]]
    assert snapshot() == before


def test_list_and_date_placeholders(reports_app, save_report, librarian, catalogue, backend):
    rid = save_report("SELECT COUNT(*) AS n FROM items WHERE homebranch IN <<Libraries|list>> "
                      "AND dateaccessioned >= <<Since|date>>")
    app = reports_app()
    everything = app.get("/svc/report", {"id": save_report(ITEMS_BY_BRANCH)}, headers=librarian).json
    branches = [row[0] for row in everything]
    total = sum(int(row[1]) for row in everything)
    counted = app.get("/svc/report", [("id", rid), ("sql_params", "\n".join(branches)),
                                      ("sql_params", "1900-01-01")], headers=librarian).json
    with_dates = app.get("/svc/report", {"id": save_report(
        "SELECT COUNT(*) FROM items WHERE dateaccessioned IS NOT NULL")}, headers=librarian).json
    assert int(counted[0][0]) == int(with_dates[0][0]) <= total
    parenthesised = save_report("SELECT COUNT(*) FROM items WHERE homebranch IN (<<L|list>>)")
    assert app.get("/svc/report", [("id", parenthesised), ("sql_params", branches[0])],
                   headers=librarian).json == [[int(everything[0][1])]]


@pytest.mark.parametrize("values", [[], ["a", "b", "c"], ["not a date", "CPL"], ["", "2020-01-01"]])
def test_bad_parameter_values_are_400(reports_app, save_report, librarian, values):
    rid = save_report("SELECT COUNT(*) FROM items WHERE dateaccessioned >= <<Since|date>> "
                      "AND homebranch IN <<L|list>>")
    query = [("id", rid)] + [("sql_params", v) for v in values]
    assert reports_app().get("/svc/report", query, headers=librarian, status=400).json["error"]


def test_row_limit(reports_app, save_report, librarian, catalogue):
    rid = save_report("SELECT biblionumber FROM biblio ORDER BY biblionumber")
    app = reports_app(**{"reports.max_rows": "4"})
    response = app.get("/svc/report", {"id": rid}, headers=librarian)
    assert response.json == [[n] for n in sorted(catalogue)[:4]]
    assert response.headers["X-Report-Truncated"] == "4"
    own_limit = save_report("SELECT biblionumber FROM biblio ORDER BY biblionumber LIMIT 2")
    response = app.get("/svc/report", {"id": own_limit}, headers=librarian)
    assert response.json == [[n] for n in sorted(catalogue)[:2]]
    assert "X-Report-Truncated" not in response.headers


def test_failing_sql_shows_database_message_to_staff_only(reports_app, save_report, librarian):
    rid = save_report("SELECT no_such_column FROM items", public=True)
    app = reports_app()
    staff = app.get("/svc/report", {"id": rid}, headers=librarian, status=400).json
    assert "no_such_column" in staff["error"]
    public = app.get("/opac/svc/report", {"id": rid}, status=400).json
    assert "no_such_column" not in public["error"]
    assert public["error_code"] == staff["error_code"] == "query_failed"


def test_results_are_cached_per_parameters(reports_app, save_report, librarian, dbsession):
    from kohaweb.models import Library

    rid = save_report("SELECT COUNT(*) AS n FROM branches WHERE branchcode > <<Above>>", cache_expiry=300)
    app = reports_app()
    first = app.get("/svc/report", [("id", rid), ("sql_params", "0")], headers=librarian)
    assert first.headers["X-Report-Cache"] == "miss"
    count = first.json[0][0]
    dbsession.add(Library(branchcode="ZZZ", branchname="another"))
    dbsession.commit()
    # a change in the data is not seen while the result is cached...
    again = app.get("/svc/report", [("id", rid), ("sql_params", "0")], headers=librarian)
    assert again.headers["X-Report-Cache"] == "hit" and again.json == [[count]]
    # ...and every parameter is part of the key
    other = app.get("/svc/report", [("id", rid), ("sql_params", "00")], headers=librarian)
    assert other.headers["X-Report-Cache"] == "miss" and other.json == [[count + 1]]
    named = app.get("/svc/report", [("id", rid), ("sql_params", "0"), ("param_names", "Above")], headers=librarian)
    assert named.headers["X-Report-Cache"] == "miss" and named.json == [[count + 1]]


def test_no_cache_when_expiry_is_zero(reports_app, save_report, librarian):
    rid = save_report("SELECT 1 AS one", cache_expiry=0)
    app = reports_app()
    app.get("/svc/report", {"id": rid}, headers=librarian)
    assert app.get("/svc/report", {"id": rid}, headers=librarian).headers["X-Report-Cache"] == "miss"


def test_running_records_last_run_only(reports_app, save_report, librarian, dbsession):
    from kohaweb.models import SavedReport

    rid = save_report("SELECT 1 AS one")
    before = dbsession.get(SavedReport, rid)
    modified = before.last_modified
    dbsession.rollback()  # end the read snapshot
    reports_app().get("/svc/report", {"id": rid}, headers=librarian)
    after = dbsession.get(SavedReport, rid)
    assert after.last_run is not None
    assert after.last_modified == modified


def test_koha_column_markers_become_aliases(reports_app, save_report, librarian):
    rid = save_report("SELECT [[r.branchcode|Library code]], [[r.branchname|Name \"quoted\"]] FROM branches r")
    body = reports_app().get("/svc/report", {"id": rid, "annotated": "1"}, headers=librarian).json
    assert list(body[0]) == ["Library code", 'Name "quoted"']


def test_too_many_running_reports_is_429(reports_app, save_report, librarian):
    rid = save_report("SELECT 1 AS one")
    app = reports_app(**{"reports.max_running": "1"})
    running = app.app.registry.kohaweb.extras["reports"].runner._running
    assert running.acquire(blocking=False)  # as if another request's report were running
    try:
        response = app.get("/svc/report", {"id": rid}, headers=librarian, status=429)
        assert response.json["error_code"] == "too_many_running_reports" and response.headers["Retry-After"]
    finally:
        running.release()
    assert app.get("/svc/report", {"id": rid}, headers=librarian).json == [[1]]


def test_unreachable_report_database_is_503(reports_app, save_report, librarian, backend, tmp_path):
    url = {"sqlite": f"sqlite:///{tmp_path}/missing/none.sqlite",
           "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/none",
           "mariadb": "mysql+pymysql://root@127.0.0.1:1/none"}[backend]
    rid = save_report("SELECT 1 AS one")
    response = reports_app(**{"reports.database_url": url}).get("/svc/report", {"id": rid}, headers=librarian,
                                                                 status=503)
    assert response.json["error_code"] == "unavailable"


def test_values_json_cannot_express_are_text():
    import datetime as dt
    from decimal import Decimal

    from kohaweb_reports.output import plain

    assert plain(float("nan")) == "nan" and plain(Decimal("Infinity")) == "Infinity"
    assert plain(Decimal("2.50")) == 2.5 and plain(Decimal("3.000")) == 3
    assert plain([dt.date(2024, 1, 2), None]) == ["2024-01-02", None]
    assert plain(b"\xff\x00") == "/wA=" and plain(b"abc") == "abc"
    assert plain(dt.timedelta(hours=1, minutes=2)) == "1:02:00"


def test_cache_is_shared_by_the_server_threads(live_server, save_report):
    import json
    from concurrent.futures import ThreadPoolExecutor
    from urllib.request import urlopen

    rid = save_report("SELECT 'shared' AS word", public=True, cache_expiry=600)
    with live_server(services=["reports"]) as base:
        url = f"{base}/opac/svc/report?id={rid}"

        def fetch(_):
            with urlopen(url, timeout=10) as response:
                return response.headers["X-Report-Cache"], json.loads(response.read())

        assert fetch(0) == ("miss", [["shared"]])
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(fetch, range(32)))
    assert results == [("hit", [["shared"]])] * 32
