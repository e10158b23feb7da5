"""``/api/v1/oai/sets``: permission-protected CRUD of OAI sets; rules rebuild membership, and
the result is what OAI-PMH serves."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kohaweb.models import Item
from kohaweb.testing import basic_auth


@pytest.fixture
def app(oai_app):
    return oai_app(**{"kohaweb.auth.basic": "true"})


@pytest.fixture
def admin(staff_user):
    userid, password, _ = staff_user("setadmin", "parameters")
    return basic_auth(userid, password)


def test_permissions(app, staff_user, admin):
    assert app.get("/api/v1/oai/sets", status=401).json["error"]
    userid, password, _ = staff_user("cataloguer", "catalogue")
    assert app.get("/api/v1/oai/sets", headers=basic_auth(userid, password), status=403).json[
        "required_permissions"]
    assert app.get("/api/v1/oai/sets", headers=admin).json == []
    assert app.get("/api/v1/oai/sets/999", headers=admin, status=404).json["error_code"] == "not_found"


def test_crud_and_membership(app, admin, add_records, dbsession, oai_get, oai, clock):
    ids = add_records(10)
    body = {"spec": "cpl", "name": "At Centerville", "descriptions": ["Held at CPL"],
            "mappings": [{"field": "952", "subfield": "a", "value": "CPL"}]}
    created = app.post_json("/api/v1/oai/sets", body, headers=admin, status=201)
    set_id = created.json["set_id"]
    assert created.headers["Location"].endswith(f"/api/v1/oai/sets/{set_id}")
    at_cpl = sorted(set(dbsession.scalars(select(Item.biblionumber).where(Item.homebranch == "CPL"))))
    assert at_cpl and created.json["records"] == len(at_cpl)
    assert app.post_json("/api/v1/oai/sets", body, headers=admin, status=409).json["error_code"] == "duplicate_spec"
    assert app.post_json("/api/v1/oai/sets", {**body, "spec": "bad spec"}, headers=admin, status=400)
    assert app.post_json("/api/v1/oai/sets", {**body, "spec": "x", "mappings": [{"field": "952", "value": "CPL"}]},
                         headers=admin, status=400).json["error_code"] == "bad_mapping"
    clock.tick()
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", set="cpl")
    assert sorted(int(i.rsplit(":", 1)[1]) for i in oai.identifiers(root)) == at_cpl
    # replace the rules: CPL AND BK
    body["mappings"].append({"field": "952", "subfield": "y", "value": "BK", "rule_operator": "and"})
    updated = app.put_json(f"/api/v1/oai/sets/{set_id}", body, headers=admin).json
    cpl_books = set(dbsession.scalars(select(Item.biblionumber).where(Item.homebranch == "CPL", Item.itype == "BK")))
    assert updated["records"] == len(cpl_books)
    assert updated["mappings"][1] == {"field": "952", "subfield": "y", "operator": "equal", "value": "BK",
                                      "rule_operator": "and"}
    assert [s["spec"] for s in app.get("/api/v1/oai/sets", headers=admin).json] == ["cpl"]
    app.delete(f"/api/v1/oai/sets/{set_id}", headers=admin, status=204)
    assert app.get("/api/v1/oai/sets", headers=admin).json == []
    assert set(ids)  # the records themselves are untouched
    assert oai.error_codes(oai_get(app, verb="ListSets")) == ["noSetHierarchy"]


def test_listed_in_the_openapi_document(app):
    document = app.get("/api/v1/").json
    assert "/oai/sets" in document["paths"] and "/oai/sets/{set_id}" in document["paths"]
    assert document["paths"]["/oai/sets"]["get"]["x-koha-authorization"]
