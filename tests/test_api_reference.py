"""/api/v1 reference lists (item types, patron categories, authorised values, circulation rules)
and library writes."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select
from test_api import session_headers

from kohaweb import circulation
from kohaweb.models import AuthorisedValue, CirculationRule, Hold, ItemType, Library, Patron, PatronCategory


@pytest.fixture
def api(make_app):
    return make_app()


@pytest.fixture
def users(api, staff_user, reference_data):
    """Headers by role: each role has exactly the permission its resources need."""
    roles = {"cat": ("catalogue",), "params": ("parameters",), "circ": ("circulate",),
             # Koha's sub-permissions only: reading rules (circulate) and writing them (parameters)
             "rules": ("circulate:circulate_remaining_permissions", "parameters:manage_circ_rules")}
    return {name: session_headers(api, *staff_user(name, *perms)[:2]) for name, perms in roles.items()}


@pytest.fixture
def authorised_values(dbsession):
    rows = [("LOC", "GEN", "General stacks", "Stacks"), ("LOC", "CHILD", "Children's area", None),
            ("LOC", "REF", "Reference", "Reference room"), ("CCODE", "FIC", "Fiction", "Fiction")]
    for category, value, lib, lib_opac in rows:
        dbsession.add(AuthorisedValue(category=category, authorised_value=value, lib=lib, lib_opac=lib_opac))
    dbsession.commit()
    return rows


def test_document_lists_the_new_paths_and_stays_valid(api):
    doc = api.get("/api/v1/").json
    validate(doc)
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/libraries"]) and {"get", "put", "delete"} <= set(paths["/libraries/{library_id}"])
    for name in ("/item_types", "/patron_categories", "/authorised_value_categories",
                 "/authorised_value_categories/{authorised_value_category_name}/authorised_values"):
        assert "get" in paths[name], name
    assert {"get", "put"} <= set(paths["/circulation_rules"])
    assert paths["/libraries"]["post"]["x-koha-authorization"] == {"permissions": {"parameters": "manage_libraries"}}
    assert paths["/patron_categories"]["get"]["x-koha-authorization"] == {
        "permissions": {"parameters": "manage_patron_categories"}}
    assert paths["/circulation_rules"]["put"]["x-koha-authorization"] == {
        "permissions": {"parameters": "manage_circ_rules"}}
    assert paths["/circulation_rules"]["get"]["x-koha-authorization"] == {
        "permissions": {"circulate": "circulate_remaining_permissions"}}
    assert set(paths["/libraries/{library_id}"]["delete"]["responses"]) >= {"204", "401", "403", "404", "409"}


# --- item types / patron categories -----------------------------------------------------------

def test_item_types_list_filter_page_and_order(api, users, dbsession):
    rows = dbsession.scalars(select(ItemType).order_by(ItemType.itemtype)).all()
    got = api.get("/api/v1/item_types", headers=users["cat"])
    assert [t["item_type_id"] for t in got.json] == [r.itemtype for r in rows]
    assert got.headers["X-Total-Count"] == str(len(rows))
    ref = next(t for t in got.json if t["item_type_id"] == "REF")
    assert ref == {"item_type_id": "REF", "description": "Reference", "rentalcharge": None,
                   "not_for_loan_status": True, "hide_in_opac": False}
    page = api.get("/api/v1/item_types?_per_page=2&_page=2&_order_by=-item_type_id", headers=users["cat"])
    assert [t["item_type_id"] for t in page.json] == sorted((r.itemtype for r in rows), reverse=True)[2:4]
    assert 'rel="next"' in page.headers["Link"] and page.headers["X-Total-Count"] == str(len(rows))
    q = quote(json.dumps({"not_for_loan_status": True}))
    assert [t["item_type_id"] for t in api.get(f"/api/v1/item_types?q={q}", headers=users["cat"]).json] == ["REF"]
    by_description = api.get("/api/v1/item_types?description=dvd", headers=users["cat"]).json
    assert [t["item_type_id"] for t in by_description] == ["DVD"]
    api.get("/api/v1/item_types", status=401)
    assert api.get("/api/v1/item_types", headers=users["circ"], status=403).json["required_permissions"] == \
        {"catalogue": 1}
    bad = api.get("/api/v1/item_types?_order_by=nope", headers=users["cat"], status=400).json
    assert bad["errors"][0]["path"] == "/query/_order_by"
    unknown = api.get("/api/v1/item_types?itemtype=BK", headers=users["cat"], status=400).json
    assert unknown["errors"] == [{"path": "/query/itemtype", "message": "Malformed query string"}]
    bad_q = api.get("/api/v1/item_types?q=" + quote('{"nope": 1}'), headers=users["cat"], status=400).json
    assert bad_q["error_code"] == "invalid_query"


def test_patron_categories_need_parameters(api, users, dbsession):
    rows = dbsession.scalars(select(PatronCategory).order_by(PatronCategory.categorycode)).all()
    got = api.get("/api/v1/patron_categories?_per_page=-1", headers=users["params"]).json
    assert [c["patron_category_id"] for c in got] == [r.categorycode for r in rows]
    kid = next(c for c in got if c["patron_category_id"] == "K")
    assert kid == {"patron_category_id": "K", "name": "Kid", "category_type": "C", "enrolment_period": 24,
                   "block_expired_patron_opac_actions": "follow_syspref_BlockExpiredPatronOpacActions"}
    adults = api.get("/api/v1/patron_categories?category_type=A&_match=exact", headers=users["params"]).json
    assert {c["patron_category_id"] for c in adults} == {r.categorycode for r in rows if r.category_type == "A"}
    api.get("/api/v1/patron_categories", status=401)
    assert api.get("/api/v1/patron_categories", headers=users["cat"], status=403).json["required_permissions"] == \
        {"parameters": "manage_patron_categories"}
    api.get("/api/v1/patron_categories?_per_page=0", headers=users["params"], status=400)


# --- authorised values --------------------------------------------------------------------------

def test_authorised_value_categories_and_values(api, users, dbsession, authorised_values):
    categories = api.get("/api/v1/authorised_value_categories", headers=users["cat"])
    assert categories.json == [{"category_name": "CCODE"}, {"category_name": "LOC"}]
    assert categories.headers["X-Total-Count"] == "2"
    assert api.get("/api/v1/authorised_value_categories?category_name=lo", headers=users["cat"]).json == \
        [{"category_name": "LOC"}]
    assert api.get("/api/v1/authorised_value_categories?_order_by=-category_name&_per_page=1",
                   headers=users["cat"]).json == [{"category_name": "LOC"}]

    values = api.get("/api/v1/authorised_value_categories/LOC/authorised_values", headers=users["cat"])
    assert values.headers["X-Total-Count"] == "3"
    assert [v["value"] for v in values.json] == ["GEN", "CHILD", "REF"]  # by id
    child = next(v for v in values.json if v["value"] == "CHILD")
    row = dbsession.scalar(select(AuthorisedValue).where(AuthorisedValue.authorised_value == "CHILD"))
    assert child == {"authorised_value_id": row.id, "category_name": "LOC", "value": "CHILD",
                     "description": "Children's area", "opac_description": None}
    ordered = api.get("/api/v1/authorised_value_categories/LOC/authorised_values?_order_by=%2Bvalue&_per_page=2",
                      headers=users["cat"]).json
    assert [v["value"] for v in ordered] == ["CHILD", "GEN"]
    q = quote(json.dumps({"opac_description": {"-like": "Ref%"}}))
    assert [v["value"] for v in api.get(f"/api/v1/authorised_value_categories/LOC/authorised_values?q={q}",
                                        headers=users["cat"]).json] == ["REF"]
    missing = api.get("/api/v1/authorised_value_categories/NOPE/authorised_values", headers=users["cat"], status=404)
    assert missing.json == {"error": "Category not found", "error_code": "not_found"}
    api.get("/api/v1/authorised_value_categories/LOC/authorised_values", status=401)
    api.get("/api/v1/authorised_value_categories/LOC/authorised_values", headers=users["circ"], status=403)
    api.get("/api/v1/authorised_value_categories", headers=users["params"], status=403)
    too_long = api.get("/api/v1/authorised_value_categories/" + "X" * 33 + "/authorised_values",
                       headers=users["cat"], status=400).json
    assert too_long["errors"][0]["path"] == "/path/authorised_value_category_name"


# --- library writes -----------------------------------------------------------------------------

def test_library_add_update_delete(api, users, dbsession):
    body = {"library_id": "NEW", "name": "Newtown", "city": "Newtown", "postal_code": "12345",
            "pickup_location": False}
    created = api.post_json("/api/v1/libraries", body, headers=users["params"], status=201)
    assert created.location.endswith("/api/v1/libraries/NEW")
    assert created.json["library_id"] == "NEW" and created.json["pickup_location"] is False
    assert created.json["public"] is True  # the column's default
    assert api.get("/api/v1/libraries/NEW", headers=users["cat"]).json == created.json
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    assert dbsession.get(Library, "NEW").branchcity == "Newtown"

    conflict = api.post_json("/api/v1/libraries", {"library_id": "new", "name": "Again"},
                             headers=users["params"], status=409).json
    assert conflict["error_code"] == "duplicate_id" and conflict["conflict"] == "NEW"

    updated = api.put_json("/api/v1/libraries/NEW", {"library_id": "NEW", "name": "New Town", "public": False},
                           headers=users["params"]).json
    assert updated["name"] == "New Town" and updated["public"] is False and updated["city"] == "Newtown"
    renamed = api.put_json("/api/v1/libraries/NEW", {"library_id": "OTHER", "name": "x"},
                           headers=users["params"], status=400).json
    assert renamed["error_code"] == "invalid_parameter_value" and renamed["path"] == "/body/library_id"
    api.put_json("/api/v1/libraries/NOPE", {"library_id": "NOPE", "name": "x"}, headers=users["params"], status=404)

    dbsession.rollback()
    dbsession.add(CirculationRule(branchcode="NEW", rule_name="maxissueqty", rule_value="3"))
    dbsession.commit()
    api.delete("/api/v1/libraries/NEW", headers=users["params"], status=204)
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    assert dbsession.get(Library, "NEW") is None
    assert dbsession.scalar(select(CirculationRule).where(CirculationRule.branchcode == "NEW")) is None
    api.delete("/api/v1/libraries/NEW", headers=users["params"], status=404)


def test_library_writes_validation_and_permissions(api, users):
    missing = api.post_json("/api/v1/libraries", {"library_id": "X1"}, headers=users["params"], status=400).json
    assert missing["error_code"] == "invalid_parameters"
    assert missing["errors"][0]["path"] == "/body"  # name is required
    for body, where in (({"library_id": "", "name": "x"}, "/body/library_id"),
                        ({"library_id": "X" * 11, "name": "x"}, "/body/library_id"),
                        ({"library_id": "X1", "name": "x", "branchname": "y"}, "/body"),
                        ({"library_id": "X1", "name": "x", "public": "yes"}, "/body/public"),
                        ({"library_id": "X1", "name": "x", "postal_code": "9" * 26}, "/body/postal_code")):
        errors = api.post_json("/api/v1/libraries", body, headers=users["params"], status=400).json["errors"]
        assert errors[0]["path"] == where, body
    api.post_json("/api/v1/libraries", {"library_id": "X1", "name": "x"}, status=401)
    denied = api.post_json("/api/v1/libraries", {"library_id": "X1", "name": "x"}, headers=users["cat"], status=403)
    assert denied.json["required_permissions"] == {"parameters": "manage_libraries"}
    api.put_json("/api/v1/libraries/CPL", {"library_id": "CPL", "name": "x"}, headers=users["cat"], status=403)
    api.delete("/api/v1/libraries/FPL", headers=users["circ"], status=403)
    api.delete("/api/v1/libraries/FPL", status=401)
    api.post("/api/v1/libraries", "library_id=X1", headers=users["params"], status=415)


def test_library_delete_refused_while_in_use(api, users, dbsession, sample_records):
    sample_records(3)
    # CPL: the staff users' library (and maybe items'); MPL gets a patron and a hold
    in_use = api.delete("/api/v1/libraries/CPL", headers=users["params"], status=409).json
    assert in_use["error_code"] == "library_in_use" and "patron(s)" in in_use["error"]
    api.post_json("/api/v1/libraries", {"library_id": "ITM", "name": "Items only"}, headers=users["params"],
                  status=201)
    from kohaweb.models import Item

    dbsession.rollback()
    item = dbsession.scalars(select(Item)).first()
    item.holdingbranch = "ITM"
    dbsession.commit()
    held = api.delete("/api/v1/libraries/ITM", headers=users["params"], status=409).json
    assert "1 item(s)" in held["error"] and "patron" not in held["error"]
    api.post_json("/api/v1/libraries", {"library_id": "PICK", "name": "Pickup"}, headers=users["params"], status=201)
    dbsession.rollback()
    patron = dbsession.scalar(select(Patron).where(Patron.userid == "circ"))
    circulation.place_hold(dbsession, patron, item.biblionumber, pickup_branch="PICK")
    dbsession.commit()
    assert "1 hold(s)" in api.delete("/api/v1/libraries/PICK", headers=users["params"], status=409).json["error"]
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    assert dbsession.get(Library, "PICK") is not None and dbsession.scalars(select(Hold)).all()


# --- circulation rules --------------------------------------------------------------------------

def rules_url(**params: str) -> str:
    return "/api/v1/circulation_rules?" + "&".join(f"{k}={quote(v)}" for k, v in params.items())


def test_circulation_rules_effective(api, users, dbsession):
    dbsession.add_all([CirculationRule(branchcode="CPL", rule_name="issuelength", rule_value="28"),
                       CirculationRule(branchcode="CPL", itemtype="DVD", rule_name="issuelength", rule_value="3"),
                       CirculationRule(categorycode="K", rule_name="maxissueqty", rule_value="5")])
    dbsession.commit()
    default = api.get("/api/v1/circulation_rules", headers=users["circ"]).json
    assert len(default) == 1
    assert default[0]["context"] == {"library_id": "*", "patron_category_id": "*", "item_type_id": "*"}
    assert default[0]["issuelength"] == "21" and default[0]["maxissueqty"] == "30"
    assert default[0]["holdallowed"] is None  # no rule: null, as Koha
    cases = [({"library_id": "CPL", "item_type_id": "DVD"}, "3"), ({"library_id": "CPL", "item_type_id": "BK"}, "28"),
             ({"library_id": "MPL", "item_type_id": "DVD"}, "7"), ({"item_type_id": "DVD"}, "7"), ({}, "21")]
    for scope, expected in cases:
        got = api.get(rules_url(rules="issuelength,maxissueqty", **scope), headers=users["circ"]).json
        assert got[0]["issuelength"] == expected, scope
        assert set(got[0]) == {"issuelength", "maxissueqty", "context"}
        # the same choice as the circulation code makes
        assert expected == circulation.get_rule(dbsession, "issuelength", branchcode=scope.get("library_id"),
                                                itemtype=scope.get("item_type_id"))
    kid = api.get(rules_url(rules="maxissueqty", patron_category_id="K", library_id="CPL"), headers=users["circ"]).json
    assert kid == [{"maxissueqty": "5", "context": {"library_id": "CPL", "patron_category_id": "K",
                                                    "item_type_id": "*"}}]
    unknown_kind = api.get(rules_url(rules="nope, issuelength"), headers=users["circ"]).json[0]
    assert unknown_kind["nope"] is None and unknown_kind["issuelength"] == "21"


def test_circulation_rules_as_stored(api, users, dbsession):
    dbsession.add(CirculationRule(branchcode="CPL", itemtype="DVD", rule_name="issuelength", rule_value="3"))
    dbsession.commit()
    stored = api.get(rules_url(effective="false", rules="issuelength,renewalsallowed,holdallowed"),
                     headers=users["circ"]).json
    contexts = [(s["context"]["library_id"], s["context"]["patron_category_id"], s["context"]["item_type_id"])
                for s in stored]
    assert contexts == [("*", "*", "*"), ("*", "*", "DVD"), ("CPL", "*", "DVD")]
    assert stored[0] == {"issuelength": "21", "renewalsallowed": "2", "holdallowed": None,
                         "context": {"library_id": "*", "patron_category_id": "*", "item_type_id": "*"}}
    assert stored[2]["issuelength"] == "3" and stored[2]["renewalsallowed"] is None
    only_dvd = api.get(rules_url(effective="false", item_type_id="DVD", rules="issuelength"), headers=users["circ"])
    assert [s["context"]["library_id"] for s in only_dvd.json] == ["*", "CPL"]
    any_library = api.get(rules_url(effective="false", library_id="*", rules="issuelength"), headers=users["circ"])
    assert {s["context"]["library_id"] for s in any_library.json} == {"*"}


def test_circulation_rules_errors_and_permissions(api, users):
    for name in ("library_id", "item_type_id", "patron_category_id"):
        bad = api.get(rules_url(**{name: "NOPE"}), headers=users["circ"], status=400).json
        assert bad["error_code"] == "invalid_parameter_value" and bad["path"] == f"/query/{name}"
    invalid = api.get(rules_url(effective="maybe"), headers=users["circ"], status=400).json
    assert invalid["errors"][0]["path"] == "/query/effective"
    api.get("/api/v1/circulation_rules?_page=1", headers=users["circ"], status=400)
    api.get("/api/v1/circulation_rules", status=401)
    assert api.get("/api/v1/circulation_rules", headers=users["cat"], status=403).json["required_permissions"] == \
        {"circulate": "circulate_remaining_permissions"}
    assert api.get("/api/v1/circulation_rules", headers=users["rules"]).json  # the sub-permission is enough
    context = {"library_id": "*", "patron_category_id": "*", "item_type_id": "*"}
    api.put_json("/api/v1/circulation_rules", {"context": context, "issuelength": 1}, status=401)
    # writing rules is Koha's parameters: manage_circ_rules, which circulate does not imply
    denied = api.put_json("/api/v1/circulation_rules", {"context": context, "issuelength": 1},
                          headers=users["circ"], status=403).json
    assert denied["required_permissions"] == {"parameters": "manage_circ_rules"}


def test_circulation_rules_put(api, users, dbsession):
    context = {"library_id": "CPL", "patron_category_id": "*", "item_type_id": "BK"}
    result = api.put_json("/api/v1/circulation_rules",
                          {"context": context, "issuelength": 10, "renewalsallowed": "4", "holdallowed": "from_home_library"},
                          headers=users["rules"]).json
    assert result == {"issuelength": "10", "renewalsallowed": "4", "holdallowed": "from_home_library",
                      "context": context}
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    assert circulation.get_rule(dbsession, "issuelength", branchcode="CPL", itemtype="BK") == "10"
    assert circulation.get_rule(dbsession, "holdallowed", branchcode="CPL", itemtype="BK") == "from_home_library"
    # a second PUT updates in place; null deletes, as does "" for a kind that cannot be blank
    again = api.put_json("/api/v1/circulation_rules",
                         {"context": context, "issuelength": "12", "renewalsallowed": None, "holdallowed": ""},
                         headers=users["rules"]).json
    assert again["issuelength"] == "12" and again["renewalsallowed"] is None and again["holdallowed"] is None
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    rows = dbsession.scalars(select(CirculationRule).where(CirculationRule.branchcode == "CPL")).all()
    assert [(r.rule_name, r.rule_value, r.itemtype) for r in rows] == [("issuelength", "12", "BK")]
    assert api.get(rules_url(library_id="CPL", item_type_id="BK", rules="issuelength,renewalsallowed"),
                   headers=users["circ"]).json[0]["renewalsallowed"] == "2"  # back to the general rule

    def refused(body: dict, status: int = 400) -> dict:
        return api.put_json("/api/v1/circulation_rules", body, headers=users["rules"], status=status).json

    assert refused({"context": {**context, "library_id": "NOPE"}, "issuelength": 1})["path"] == \
        "/body/context/library_id"
    assert refused({"context": {"library_id": "*", "item_type_id": "*"}, "issuelength": 1})["path"] == \
        "/body/context/patron_category_id"
    assert refused({"context": context, "nope": 1})["error_code"] == "invalid_rule_kind"
    # holdallowed is set by library and item type, never by patron category
    scoped = refused({"context": {**context, "patron_category_id": "K"}, "holdallowed": "not_allowed"})
    assert scoped["error_code"] == "invalid_rule_scope"
    assert refused({"context": context, "issuelength": "x" * 33})["errors"][0]["path"] == "/body/issuelength"
    assert refused({"context": context, "issuelength": 10**40})["error_code"] == "invalid_value"
    assert refused({"context": context, "issuelength": True})["errors"][0]["path"] == "/body/issuelength"
    assert refused({"issuelength": 1})["errors"][0]["path"] == "/body"
    dbsession.rollback()  # a fresh snapshot: the API wrote in its own transaction
    assert circulation.get_rule(dbsession, "issuelength", branchcode="CPL", itemtype="BK") == "12"
