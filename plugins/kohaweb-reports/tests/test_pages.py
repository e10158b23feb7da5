"""The staff page at /reports."""

from __future__ import annotations

from sqlalchemy import func, select

from kohaweb.models import SavedReport


def login(app, userid="librarian", password="secret words"):
    form = app.get("/login").forms[0]
    form["userid"], form["password"] = userid, password
    form.submit(status=303)


def test_add_run_and_delete_from_the_page(reports_app, librarian, sample_records, dbsession):
    sample_records(3)
    app = reports_app()
    login(app)
    page = app.get("/reports")
    form = page.forms["new-report"]
    form["name"] = "By branch"
    form["sql"] = "SELECT homebranch, COUNT(*) AS n FROM items WHERE homebranch IN <<Libraries|list>> GROUP BY homebranch"
    shown = form.submit(status=303).follow()
    assert "By branch" in shown.text
    run = shown.forms["run-report"]
    run["param:Libraries|list"] = "CPL\nMPL\nFPL\nFFL"
    result = run.submit()
    assert "<th>homebranch</th>" in result.text and "<th>n</th>" in result.text
    assert "By branch" in app.get("/reports").text
    result.forms["delete-report"].submit(status=303)
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


def test_unsafe_sql_is_refused_on_the_page(reports_app, librarian, dbsession):
    app = reports_app()
    login(app)
    form = app.get("/reports").forms["new-report"]
    form["name"] = "Evil"
    form["sql"] = "SELECT * FROM borrowers"
    refused = form.submit(status=400)
    assert "secret" in refused.text and "SELECT * FROM borrowers" in refused.text
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


def test_forms_need_the_csrf_token(reports_app, librarian, dbsession):
    app = reports_app()
    login(app)
    app.post("/reports", {"name": "x", "sql": "SELECT 1"}, status=400)
    assert dbsession.scalar(select(func.count()).select_from(SavedReport)) == 0


def test_page_needs_reports_permission(reports_app, staff_user):
    app = reports_app()
    app.get("/reports", headers={"Accept": "text/html"}, status=302)
    staff_user("circ", "circulate")
    login(app, "circ", "correct horse battery")
    app.get("/reports", status=403)
