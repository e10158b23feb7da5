"""Harvest sources through the REST API (permission parameters)."""

from hostile import wait_until
from oai_fixture import FixtureRecord, FixtureRepository, stamp
from test_harvest import marc_payload

from kohaweb.testing import basic_auth, serve


def test_manage_and_run_through_the_api(make_app, staff_user, dbsession):
    app = make_app(services=["harvester"], **{"kohaweb.auth.basic": "true", "harvester.run_in_web": "true"})
    admin = basic_auth(*staff_user("admin", "parameters")[:2])
    nobody = basic_auth(*staff_user("reader", "catalogue")[:2])
    app.get("/api/v1/harvest/sources", status=401)
    app.get("/api/v1/harvest/sources", headers=nobody, status=403)
    repository = FixtureRepository(records=[FixtureRecord(f"oai:x:{n}", stamp(n), marc_payload(n)) for n in range(1, 4)])
    with serve(repository) as url:
        created = app.post_json("/api/v1/harvest/sources", {"name": "x", "base_url": url + "/oai"}, headers=admin,
                                status=201).json
        app.post_json("/api/v1/harvest/sources", {"name": "x", "base_url": url + "/oai"}, headers=admin, status=409)
        bad = app.post_json("/api/v1/harvest/sources", {"name": "y", "base_url": "ftp://nope"}, headers=admin,
                            status=400).json
        assert bad["error_code"] == "invalid_source"
        app.post_json("/api/v1/harvest/sources", {"name": "z"}, headers=admin, status=400)
        source_url = f"/api/v1/harvest/sources/{created['source_id']}"
        app.post(source_url + "/runs", headers=admin, status=202)
        wait_until(lambda: app.get(source_url + "/runs", headers=admin).json[0]["status"] not in ("queued", "running"))
        runs = app.get(source_url + "/runs", headers=admin).json
        assert runs[0]["status"] == "completed" and runs[0]["added"] == 3
    assert app.get(source_url, headers=admin).json["records"] == 3
    app.delete(source_url, headers=admin, status=204)
    app.get(source_url, headers=admin, status=404)
    assert "/harvest/sources" in str(app.get("/api/v1/").json["paths"])
