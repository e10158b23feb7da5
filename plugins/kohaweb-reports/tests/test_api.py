"""``/api/v1/reports``: the REST resource for saved reports."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kohaweb.models import SavedReport


@pytest.fixture
def api(reports_app, librarian):
    app = reports_app()

    def call(method: str, path: str, status: int | str = "*", **kwargs):
        kwargs.setdefault("headers", librarian)
        return getattr(app, method.lower() + ("_json" if method in ("POST", "PUT") else ""))(
            "/api/v1" + path, status=status, **kwargs)

    return call


def test_create_read_update_delete(api, dbsession):
    created = api("POST", "/reports", 201, params={"name": "Loans", "sql": "SELECT COUNT(*) FROM issues;",
                                                  "description": "open loans", "public": True,
                                                  "cache_expiry": 60})
    body = created.json
    assert created.headers["Location"].endswith(f"/api/v1/reports/{body['report_id']}")
    assert body["sql"] == "SELECT COUNT(*) FROM issues"  # one trailing ; is dropped, as Koha does
    assert (body["name"], body["description"], body["public"], body["cache_expiry"]) == ("Loans", "open loans", True, 60)
    rid = body["report_id"]
    assert api("GET", f"/reports/{rid}", 200).json == body
    listed = api("GET", "/reports", 200)
    assert listed.headers["X-Total-Count"] == "1" and listed.json[0]["report_id"] == rid
    changed = api("PUT", f"/reports/{rid}", 200, params={"public": False, "sql": "SELECT 2 AS two"}).json
    assert changed["public"] is False and changed["sql"] == "SELECT 2 AS two" and changed["name"] == "Loans"
    api("DELETE", f"/reports/{rid}", 204)
    api("GET", f"/reports/{rid}", 404)
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


@pytest.mark.parametrize("sql, code", [
    ("DELETE FROM items", "not_select"),
    ("SELECT * FROM borrowers", "secret_column"),
    ("SELECT 1; DROP TABLE items", "multiple_statements"),
    ("SELECT pg_sleep(10)", "function"),
    ("SELECT <<", "syntax_error"),
])
def test_unsafe_sql_is_refused_before_saving(api, dbsession, sql, code):
    response = api("POST", "/reports", 400, params={"name": "Evil", "sql": sql})
    assert response.json["error_code"] == code
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


def test_update_to_unsafe_sql_changes_nothing(api, dbsession):
    rid = api("POST", "/reports", 201, params={"name": "Fine", "sql": "SELECT 1 AS one"}).json["report_id"]
    api("PUT", f"/reports/{rid}", 400, params={"sql": "UPDATE items SET barcode = NULL"})
    assert api("GET", f"/reports/{rid}", 200).json["sql"] == "SELECT 1 AS one"


def test_duplicate_name_is_409(api):
    api("POST", "/reports", 201, params={"name": "Same", "sql": "SELECT 1"})
    assert api("POST", "/reports", 409, params={"name": "Same", "sql": "SELECT 2"}).json["error_code"] == "duplicate_name"
    other = api("POST", "/reports", 201, params={"name": "Other", "sql": "SELECT 2"}).json["report_id"]
    api("PUT", f"/reports/{other}", 409, params={"name": "Same"})


@pytest.mark.parametrize("body", [
    {"name": "x"},
    {"sql": "SELECT 1"},
    {"name": "x", "sql": "SELECT 1", "cache_expiry": -1},
    {"name": "x", "sql": "SELECT 1", "cache_expiry": 2592001},
    {"name": "x", "sql": "SELECT 1", "public": "yes"},
    {"name": "", "sql": "SELECT 1"},
    {"name": "x", "sql": "SELECT 1", "report_id": 5},
])
def test_bad_bodies_are_400(api, dbsession, body):
    assert api("POST", "/reports", 400, params=body).json["error"]
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


def test_needs_reports_permission(reports_app, staff_user):
    from kohaweb.testing import basic_auth

    app = reports_app()
    app.get("/api/v1/reports", status=401)
    userid, password, _ = staff_user("circ", "circulate")
    app.get("/api/v1/reports", headers=basic_auth(userid, password), status=403)


def test_saved_report_runs_through_svc(api, reports_app, librarian):
    rid = api("POST", "/reports", 201, params={"name": "Echo", "sql": "SELECT <<Word>> AS word"}).json["report_id"]
    app = reports_app()
    assert app.get("/svc/report", [("id", rid), ("sql_params", "hello")], headers=librarian).json == [["hello"]]


def test_edit_drops_cached_results(reports_app, librarian):
    app = reports_app()
    rid = app.post_json("/api/v1/reports", {"name": "C", "sql": "SELECT 1 AS n", "cache_expiry": 600},
                        headers=librarian, status=201).json["report_id"]
    assert app.get("/svc/report", {"id": rid}, headers=librarian).json == [[1]]
    app.put_json(f"/api/v1/reports/{rid}", {"sql": "SELECT 2 AS n"}, headers=librarian, status=200)
    response = app.get("/svc/report", {"id": rid}, headers=librarian)
    assert response.json == [[2]] and response.headers["X-Report-Cache"] == "miss"


def test_reports_are_in_the_openapi_document(reports_app):
    document = reports_app().get("/api/v1/").json
    assert set(document["paths"]["/reports"]) >= {"get", "post"}
    assert set(document["paths"]["/reports/{report_id}"]) >= {"get", "put", "delete"}
