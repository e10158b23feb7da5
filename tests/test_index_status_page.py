"""The staff page /index-status: permissions, and what it says about a ready, a stale and a
half-rebuilt index."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kohaweb.catalog import Catalog
from kohaweb.search import rebuild, remove_record, state, tables


def login(app, userid: str, password: str) -> None:
    form = app.get("/login").forms[0]
    form["userid"], form["password"] = userid, password
    form.submit(status=303)


def cell(page, cell_id: str) -> str:
    return page.html.find(id=cell_id).text.strip()


@pytest.fixture
def app(make_app):
    return make_app()


def test_needs_catalogue_or_parameters(app, staff_user):
    assert "/login" in app.get("/index-status", headers={"Accept": "text/html"}, status=302).location
    login(app, *staff_user("circ", "circulate")[:2])
    app.get("/index-status", status=403)
    app.post("/logout", {"csrf_token": app.get("/").html.find("input", {"name": "csrf_token"})["value"]})
    for userid, permission in (("cat", "catalogue"), ("admin", "parameters")):
        login(app, *staff_user(userid, permission)[:2])
        assert cell(app.get("/index-status"), "status") == "ready"
        app.post("/logout", {"csrf_token": app.get("/").html.find("input", {"name": "csrf_token"})["value"]})


def test_read_only_no_post(app, staff_user):
    """The page changes nothing, so it takes no POST (and so needs no CSRF token)."""
    login(app, *staff_user("cat", "catalogue")[:2])
    assert app.post("/index-status", status=(404, 405)).status_int in (404, 405)


def test_ready_stale_and_rebuilding(app, staff_user, sample_records, dbsession, session_factory):
    ids = sample_records(5)
    login(app, *staff_user("cat", "catalogue")[:2])
    page = app.get("/index-status")
    assert (cell(page, "status"), cell(page, "records"), cell(page, "indexed")) == ("ready", "5", "5")
    assert "No rebuild needed" in cell(page, "rebuild-needed")

    # a change appends a delta segment; the page counts what the segment log holds
    catalog = Catalog(dbsession)
    record = catalog.marc(ids[0])
    record["245"]["a"] = "A changed title"
    catalog.update_record(ids[0], record)
    dbsession.commit()
    segments = dbsession.scalar(select(func.count()).select_from(tables.segments))
    blocks = dbsession.scalar(select(func.count(tables.segments.c.block.distinct())))
    assert segments >= 1
    page = app.get("/index-status")
    assert (cell(page, "segments"), cell(page, "blocks")) == (str(segments), str(blocks))

    # stale: the index cannot be trusted, whatever its counts
    state.set_status(dbsession, state.STALE)
    dbsession.commit()
    page = app.get("/index-status")
    assert cell(page, "status") == "stale"
    assert "A rebuild is needed" in cell(page, "rebuild-needed")
    assert "already had records" in cell(page, "rebuild-needed")

    # an index that lost a record (ready, but short of the catalogue)
    state.set_status(dbsession, state.READY)
    remove_record(dbsession, ids[-1])
    dbsession.commit()
    page = app.get("/index-status")
    assert (cell(page, "status"), cell(page, "records"), cell(page, "indexed")) == ("ready", "5", "4")
    assert "holds 4 records and the catalogue 5" in cell(page, "rebuild-needed")

    # a rebuild under way (or stopped half-way) shows how far it got
    state.set_status(dbsession, state.REBUILDING)
    dbsession.commit()
    page = app.get("/index-status")
    assert cell(page, "status") == "rebuilding" and cell(page, "progress") == "80 %"

    # after `kohaweb index rebuild` the page says all is well
    assert rebuild(session_factory) == 5
    page = app.get("/index-status")
    assert (cell(page, "status"), cell(page, "records"), cell(page, "indexed")) == ("ready", "5", "5")
    assert "No rebuild needed" in cell(page, "rebuild-needed")


def test_home_page_lists_the_page(app):
    assert "/index-status" in app.get("/").text
