"""REST limits (issue 22): deep JSON bodies and filters, filters with thousands of values, the
``_per_page`` ceiling, endless ``_order_by`` and who gets to see body validation errors.
Every attack here once answered 500 or returned every row."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from pyramid.httpexceptions import HTTPForbidden

from kohaweb.api import ApiError, ApiService, path
from kohaweb.testing import basic_auth


@pytest.fixture
def api(make_app):
    return make_app(**{"kohaweb.auth.basic": "true", "kohaweb.api.max_per_page": "3"})


@pytest.fixture
def staff(api, staff_user):
    return basic_auth(*staff_user("lim", "catalogue", "editcatalogue", "circulate")[:2])


def q(value) -> str:
    return quote(json.dumps(value))


def test_json_body_nested_1000_deep_is_400(api, staff):
    for depth in (33, 1000, 100_000):
        body = "[" * depth + "]" * depth
        answer = api.post("/api/v1/checkouts", body, headers={**staff, "Content-Type": "application/json"},
                          status=400).json
        assert answer["error_code"] == "invalid_parameters"
        assert "nested too deeply" in answer["error"]


def test_q_nested_3000_deep_is_400(api, staff):
    deep = '{"-not":' * 3000 + '{"biblio_id": 1}' + "}" * 3000
    for query in ("[" * 3000 + "]" * 3000, deep, '{"-not":' * 40 + '{"biblio_id": 1}' + "}" * 40):
        answer = api.get(f"/api/v1/biblios?q={quote(query)}", headers=staff, status=400).json
        assert answer["error_code"] == "invalid_query" and "nested too deeply" in answer["error"]
        answer = api.get("/api/v1/biblios", headers={**staff, "x-koha-query": query}, status=400).json
        assert answer["error_code"] == "invalid_query"


def test_q_with_20000_values_is_400_on_every_database(api, staff, sample_records):
    ids = sample_records(3)
    for attack in ({"-or": [{"biblio_id": n} for n in range(20_000)]},
                   {"biblio_id": {"-in": list(range(20_000))}},
                   {"biblio_id": list(range(20_000))}):
        answer = api.get(f"/api/v1/biblios?q={q(attack)}", headers=staff, status=400).json
        assert answer["error_code"] == "invalid_query" and "too many conditions and values" in answer["error"]
    # the budget is shared by every filter of the request
    half = {"biblio_id": {"-in": list(range(300))}}
    api.get(f"/api/v1/biblios?q={q(half)}&q={q(half)}", headers=staff, status=400)
    # what the limit lets through runs on every database (no "too many SQL variables", no
    # "expression tree too large")
    wide_or = {"-or": [{"biblio_id": n} for n in [*ids, *range(10_000, 10_246)]]}
    found = api.get(f"/api/v1/biblios?q={q(wide_or)}", headers=staff).json
    assert sorted(b["biblio_id"] for b in found) == sorted(ids)
    wide_in = {"biblio_id": {"-in": [*ids, *range(10_000, 10_494)]}}
    assert api.get(f"/api/v1/biblios?q={q(wide_in)}", headers=staff).headers["X-Total-Count"] == "3"


def test_per_page_has_a_ceiling_and_minus_one_pages_through_it(api, staff, sample_records):
    ids = sample_records(7)
    everything = api.get("/api/v1/biblios?_per_page=-1", headers=staff)
    assert [b["biblio_id"] for b in everything.json] == ids[:3]  # kohaweb.api.max_per_page = 3
    assert everything.headers["X-Total-Count"] == "7"
    assert 'rel="next"' in everything.headers["Link"] and "_per_page=3" in everything.headers["Link"]
    huge = api.get(f"/api/v1/biblios?_per_page={2**31 - 1}&_page=3", headers=staff)
    assert [b["biblio_id"] for b in huge.json] == ids[6:]
    seen = []
    url = "/api/v1/biblios?_per_page=-1"
    while url:
        page = api.get(url, headers=staff)
        seen += [b["biblio_id"] for b in page.json]
        links = dict((rel.split('"')[1], link.strip(" <>"))
                     for link, rel in (part.split(";") for part in page.headers["Link"].split(",")))
        url = links.get("next", "").replace("http://localhost", "")
    assert seen == ids


def test_minus_one_within_the_ceiling_is_every_row_without_links(api, staff, sample_records):
    ids = sample_records(2)
    everything = api.get("/api/v1/biblios?_per_page=-1", headers=staff)
    assert [b["biblio_id"] for b in everything.json] == ids and "Link" not in everything.headers


def test_order_by_repeated_thousands_of_times_is_answered(api, staff, sample_records):
    ids = sample_records(3)
    query = "&".join(["_order_by=-biblio_id"] * 5000) + "&_order_by=" + ",".join(["+title"] * 3000)
    assert [b["biblio_id"] for b in api.get(f"/api/v1/biblios?{query}", headers=staff).json] == ids[::-1]


def _app_with(service, database_url, clean_db, **overrides):
    import webtest
    from pyramid.config import Configurator

    from kohaweb.app import _core, build_site
    from kohaweb.testing import make_settings

    settings = make_settings(database_url, **overrides)
    site, _ = build_site(settings, engine=clean_db)
    config = Configurator(settings=settings)
    config.registry.kohaweb = site
    config.include(_core)
    config.add_cornice_service(service)
    return webtest.TestApp(config.make_wsgi_app())


def test_body_is_validated_only_after_the_caller_is_authorised(clean_db, database_url, staff_user):
    """An operation without a named permission checks its caller in ``authorize``: anonymous and
    unauthorised callers get 401/403 and never the body's validation errors."""
    notes = ApiService("notes", "/patrons/{patron_id}/notes")
    schema = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}},
              "additionalProperties": False}

    def owner_only(request):
        identity = request.kohaweb_identity
        if identity is None:
            raise HTTPForbidden()
        if identity.patron_id != request.validated["patron_id"]:
            raise ApiError(403, "Only the patron themself", "forbidden")

    @notes.operation("POST", permission=None, summary="Add a note", parameters=[path("patron_id")], body=schema,
                     responses={201: {"type": "object"}}, authorize=owner_only)
    def add_note(request):
        return {"text": request.validated["body"]["text"]}

    app = _app_with(notes, database_url, clean_db, **{"kohaweb.auth.basic": "true"})
    userid, password, number = staff_user("owner")
    bad = {"Content-Type": "application/json"}
    anonymous = app.post(f"/api/v1/patrons/{number}/notes", '{"secret_field": 1}', headers=bad, status=401)
    assert "secret_field" not in anonymous.text and "text" not in anonymous.json.get("errors", [])
    deep = "[" * 5000 + "]" * 5000
    assert app.post(f"/api/v1/patrons/{number}/notes", deep, headers=bad, status=401).json["error_code"] == \
        "authentication_required"
    other = app.post(f"/api/v1/patrons/{number + 1}/notes", '{"secret_field": 1}',
                     headers={**bad, **basic_auth(userid, password)}, status=403)
    assert "secret_field" not in other.text
    mine = app.post(f"/api/v1/patrons/{number}/notes", '{"secret_field": 1}',
                    headers={**bad, **basic_auth(userid, password)}, status=400).json
    assert mine["error_code"] == "invalid_parameters"
    assert app.post_json(f"/api/v1/patrons/{number}/notes", {"text": "hi"},
                         headers=basic_auth(userid, password), status=201).json == {"text": "hi"}


def test_named_permissions_are_checked_before_the_body(api, staff_user):
    userid, password, _ = staff_user("reader", "catalogue")
    for headers, status in (({}, 401), (basic_auth(userid, password), 403)):
        answer = api.post("/api/v1/checkouts", '{"nonsense": ' + "[" * 2000 + "]" * 2000 + "}",
                          headers={**headers, "Content-Type": "application/json"}, status=status)
        assert "nonsense" not in answer.text and "nested" not in answer.text
