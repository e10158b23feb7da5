"""The harvesting staff page at /harvest-sources: permissions, CSRF, add/edit/remove a source,
start a run and see its counts and errors."""

from __future__ import annotations

import pytest
from kohaweb_harvester.models import HarvestRun, HarvestSource
from kohaweb_harvester.runner import Harvester
from oai_fixture import FixtureRecord, FixtureRepository, stamp
from sqlalchemy import func, select
from test_harvest import marc_payload

from kohaweb.testing import see_other_writers, serve


def login(app, userid: str, password: str) -> None:
    form = app.get("/login").forms[0]
    form["userid"], form["password"] = userid, password
    form.submit(status=303)


@pytest.fixture
def app(make_app):
    return make_app(services=["harvester"])


@pytest.fixture
def admin(app, staff_user):
    login(app, *staff_user("harvestadmin", "parameters")[:2])
    return app


def execute_queued(app) -> None:
    """Run what the page queued, here and now (as `kohaweb harvest worker` would)."""
    site = app.app.registry.kohaweb
    harvester = Harvester.from_settings(site.session_factory, "MARC21", site.settings["harvester"])
    harvester.sleep = lambda seconds: None  # an unreachable source's retries, without waiting out the backoff
    with site.session_factory() as session:
        queued = list(session.scalars(select(HarvestRun.id).where(HarvestRun.status == "queued")))
    assert queued
    for run_id in queued:
        harvester.start(run_id)


def count(dbsession, model) -> int:
    see_other_writers(dbsession)  # see what the app committed since
    return dbsession.scalar(select(func.count()).select_from(model))


def test_page_needs_parameters_permission(app, staff_user, dbsession):
    dbsession.add(HarvestSource(name="kept", base_url="http://example.org/oai", metadata_prefix="marcxml"))
    dbsession.commit()
    source_id = dbsession.scalar(select(HarvestSource.id))
    assert "/login" in app.get("/harvest-sources", headers={"Accept": "text/html"}, status=302).location
    login(app, *staff_user("reader", "catalogue")[:2])
    app.get("/harvest-sources", status=403)
    app.get(f"/harvest-sources/{source_id}", status=403)
    # the permission is checked before the CSRF token
    app.post(f"/harvest-sources/{source_id}/runs", status=403)
    app.post(f"/harvest-sources/{source_id}/delete", status=403)
    assert count(dbsession, HarvestRun) == 0 and count(dbsession, HarvestSource) == 1


def test_posts_need_the_csrf_token(admin, dbsession):
    admin.post("/harvest-sources", {"name": "x", "base_url": "http://example.org/oai"}, status=400)
    assert count(dbsession, HarvestSource) == 0
    form = admin.get("/harvest-sources").forms["new-source"]
    form["name"], form["base_url"] = "x", "http://example.org/oai"
    form.submit(status=303)
    see_other_writers(dbsession)  # end the snapshot of the count above: the source the app added
    source_id = dbsession.scalar(select(HarvestSource.id))
    admin.post(f"/harvest-sources/{source_id}", {"name": "y", "base_url": "http://example.org/oai"}, status=400)
    admin.post(f"/harvest-sources/{source_id}/runs", status=400)
    admin.post(f"/harvest-sources/{source_id}/delete", status=400)
    assert count(dbsession, HarvestRun) == 0
    assert dbsession.scalar(select(HarvestSource.name)) == "x"


def test_add_run_edit_and_remove(admin, dbsession):
    repository = FixtureRepository(records=[FixtureRecord(f"oai:x:{n}", stamp(n), marc_payload(n)) for n in range(1, 4)])
    with serve(repository) as url:
        form = admin.get("/harvest-sources").forms["new-source"]
        form["name"], form["base_url"], form["sets"] = "Fixture", url + "/oai", ""
        page = form.submit(status=303).follow()
        assert "Source “Fixture” added." in page.text
        see_other_writers(dbsession)  # the source the app added
        source = dbsession.scalar(select(HarvestSource))
        assert (source.base_url, source.metadata_prefix, source.enabled) == (url + "/oai", "marcxml", True)

        page = page.forms["start-run"].submit(status=303).follow()
        assert "queued" in page.html.find(id="active-run").text
        assert page.forms.get("start-run") is None  # one active run per source
        again = admin.post(f"/harvest-sources/{source.id}/runs", {"csrf_token": page.forms["delete-source"]["csrf_token"].value},
                           status=303).follow()
        assert "already has a queued run" in again.text
        assert count(dbsession, HarvestRun) == 1

        execute_queued(admin)
        page = admin.get(f"/harvest-sources/{source.id}")
        cells = [td.text.strip() for td in page.html.find(id="runs").tbody.find("tr").find_all("td")]
        assert cells[1] == "completed" and cells[4:8] == ["3", "0", "0", "0"]
        assert "3 records harvested" in page.text
        assert ">3</td>" in admin.get("/harvest-sources").text.replace(" ", "")

    # the source is gone now: the next run fails and says why
    page = page.forms["start-run"].submit(status=303).follow()
    execute_queued(admin)
    page = admin.get(f"/harvest-sources/{source.id}")
    latest = page.html.find(id="runs").tbody.find("tr").find_all("td")
    assert latest[1].text.strip() == "failed" and latest[8].text.strip()

    # edit: a new name is kept; a new URL forgets the high-water mark
    see_other_writers(dbsession)  # the high-water mark the harvest set on `source`
    assert dbsession.get(HarvestSource, source.id).last_datestamp is not None
    form = page.forms["edit-source"]
    form["name"], form["base_url"], form["sets"], form["schedule"] = "Renamed", "https://other.example.org/oai", "a b", "daily"
    form["enabled"] = False
    page = form.submit(status=303).follow()
    assert "harvests it from the start" in page.text
    see_other_writers(dbsession)  # the edit the app committed
    edited = dbsession.get(HarvestSource, source.id)
    assert (edited.name, edited.base_url, edited.sets, edited.schedule, edited.enabled, edited.last_datestamp) == (
        "Renamed", "https://other.example.org/oai", "a b", "daily", False, None)

    form = page.forms["edit-source"]
    form["base_url"] = "ftp://nope"
    refused = form.submit(status=400)
    assert "http(s)" in refused.html.find(role="alert").text
    assert refused.forms["edit-source"]["base_url"].value == "ftp://nope"

    refused.forms["delete-source"].submit(status=303).follow()
    assert count(dbsession, HarvestSource) == 0 and count(dbsession, HarvestRun) == 0
    assert "No harvest sources yet." in admin.get("/harvest-sources").text


def test_duplicate_and_invalid_sources_are_refused(admin, dbsession):
    form = admin.get("/harvest-sources").forms["new-source"]
    form["name"], form["base_url"] = "one", "http://example.org/oai"
    form.submit(status=303)
    form = admin.get("/harvest-sources").forms["new-source"]
    form["name"], form["base_url"] = "one", "http://example.org/other"
    assert "exists" in form.submit(status=409).html.find(role="alert").text
    form["name"], form["base_url"], form["metadata_prefix"] = "two", "http://example.org/oai", "two words"
    assert "metadataPrefix" in form.submit(status=400).text
    form = admin.get("/harvest-sources").forms["new-source"]
    form["name"], form["base_url"] = "two", "http://example.org/two"
    page = form.submit(status=303).follow()
    form = page.forms["edit-source"]
    form["name"] = "one"
    assert "exists" in form.submit(status=409).text
    assert count(dbsession, HarvestSource) == 2


def test_home_page_lists_the_staff_page(app):
    assert "/harvest-sources" in app.get("/").text
