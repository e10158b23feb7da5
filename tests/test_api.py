"""The REST API mechanism: the OpenAPI document, request validation, auth errors, listing."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from openapi_spec_validator import validate

from kohaweb.api import ApiService, path
from kohaweb.testing import basic_auth


def session_headers(api, userid: str, password: str) -> dict[str, str]:
    """Log in through /login (one bcrypt check) and return the session cookie and CSRF token as
    headers: much cheaper per request than HTTP Basic, which checks the password every time."""
    import webtest

    browser = webtest.TestApp(api.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    browser.post("/login", {"userid": userid, "password": password, "csrf_token": token}, status=303)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/api/v1/.html").text).group(1)
    return {"Cookie": f"kohaweb_session={browser.cookies['kohaweb_session']}", "X-CSRF-Token": token}


@pytest.fixture
def cataloguer(api, staff_user):
    return session_headers(api, *staff_user("cat", "catalogue", "editcatalogue")[:2])


def q(value) -> str:
    return quote(json.dumps(value))


def test_document_is_valid_openapi_and_lists_every_core_resource(api):
    doc = api.get("/api/v1/").json
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    for p in ("/biblios", "/biblios/{biblio_id}", "/biblios/{biblio_id}/items", "/items", "/items/{item_id}",
              "/patrons", "/patrons/{patron_id}", "/libraries", "/libraries/{library_id}", "/holds",
              "/checkouts", "/checkouts/{checkout_id}"):
        assert p in doc["paths"], p
    get_biblio = doc["paths"]["/biblios/{biblio_id}"]["get"]
    assert get_biblio["x-koha-authorization"] == {"permissions": {"catalogue": "1"}}
    assert set(get_biblio["responses"]) >= {"200", "401", "403", "404", "406"}
    assert doc["paths"]["/biblios/{biblio_id}"]["delete"]["x-koha-authorization"] == {
        "permissions": {"editcatalogue": "edit_catalogue"}}  # Koha's sub-permission
    # the document itself is public, with or without the trailing slash
    assert api.get("/api/v1").json == doc


def test_html_page_is_self_contained(api):
    page = api.get("/api/v1/.html")
    assert page.content_type == "text/html"
    assert "GET /api/v1/biblios/{biblio_id}" in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # no CDN, nothing remote


def test_plugin_services_are_aggregated(clean_db, database_url):
    """A service a plugin registers with add_cornice_service appears in the document and is
    validated like the core's."""
    import webtest
    from pyramid.config import Configurator

    from kohaweb.app import _core, build_site
    from kohaweb.testing import make_settings

    widgets = ApiService("widgets", "/widgets/{widget_id}")

    @widgets.operation("GET", permission=None, summary="A public widget", parameters=[path("widget_id")],
                       responses={200: {"type": "object"}})
    def get_widget(request):
        return {"widget_id": request.validated["widget_id"]}

    settings = make_settings(database_url)
    site, _ = build_site(settings, engine=clean_db)
    config = Configurator(settings=settings)
    config.registry.kohaweb = site
    config.include(_core)
    config.add_cornice_service(widgets)  # what a plugin's includeme does
    app = webtest.TestApp(config.make_wsgi_app())
    doc = app.get("/api/v1/").json
    validate(doc)
    assert doc["paths"]["/widgets/{widget_id}"]["get"]["security"] == []
    assert "/biblios" in doc["paths"]
    assert app.get("/api/v1/widgets/7").json == {"widget_id": 7}
    assert app.get("/api/v1/widgets/seven", status=400).json["error_code"] == "invalid_parameters"


def test_unknown_query_parameter_is_refused(api, cataloguer):
    body = api.get("/api/v1/biblios?cachebuster=1", headers=cataloguer, status=400).json
    assert body["error_code"] == "invalid_parameters"
    assert body["errors"] == [{"path": "/query/cachebuster", "message": "Malformed query string"}]


@pytest.mark.parametrize("query", ["_page=0", "_page=x", "_per_page=0", "_per_page=-2", "_match=fuzzy",
                                   "_order_by=password", "biblio_id=abc", "serial=maybe", "_page=1&_page=2"])
def test_bad_list_parameters_are_400(api, cataloguer, query):
    body = api.get(f"/api/v1/biblios?{query}", headers=cataloguer, status=400).json
    assert body["error"] and body["error_code"] == "invalid_parameters"


def test_bad_path_parameter_is_400(api, cataloguer):
    assert api.get("/api/v1/biblios/abc", headers=cataloguer, status=400).json["errors"][0]["path"] == \
        "/path/biblio_id"
    api.get("/api/v1/biblios/99999999999", headers=cataloguer, status=400)


def test_authentication_and_permissions(api, staff_user, sample_records):
    (biblio_id,) = sample_records(1)
    body = api.get(f"/api/v1/biblios/{biblio_id}", status=401)
    assert body.json["error_code"] == "authentication_required"
    assert any("Bearer" in h for h in body.headers.getall("WWW-Authenticate"))
    # as Koha's REST API: a wrong Basic password is 403 "Invalid password", without a challenge
    wrong = api.get(f"/api/v1/biblios/{biblio_id}", headers=basic_auth("nobody", "x"), status=403)
    assert wrong.json["error"] == "Invalid password" and "WWW-Authenticate" not in wrong.headers
    boss_name, boss_password = staff_user("boss", "superlibrarian")[:2]
    wrong = api.get(f"/api/v1/biblios/{biblio_id}", headers=basic_auth(boss_name, "not it"), status=403).json
    assert wrong["error"] == "Invalid password"
    circ = basic_auth(*staff_user("circ", "circulate")[:2])
    refused = api.get(f"/api/v1/biblios/{biblio_id}", headers=circ, status=403).json
    assert refused["required_permissions"] == {"catalogue": 1}
    assert refused["error_code"] == "forbidden"
    boss = basic_auth(boss_name, boss_password)
    assert api.get(f"/api/v1/biblios/{biblio_id}", headers=boss).json["biblio_id"] == biblio_id


def test_basic_auth_is_refused_when_disabled(make_app, staff_user):
    api = make_app()
    headers = basic_auth(*staff_user("cat", "catalogue")[:2])
    assert api.get("/api/v1/biblios", headers=headers, status=401).json["error"] == \
        "HTTP Basic authentication is disabled"


def test_session_cookie_authenticates_and_writes_need_csrf(api, staff_user, sample_records):
    (biblio_id,) = sample_records(1)
    userid, password, _ = staff_user("cat", "catalogue", "editcatalogue")
    login = api.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    api.post("/login", {"userid": userid, "password": password, "csrf_token": token}, status=303)
    assert api.get(f"/api/v1/biblios/{biblio_id}").json["biblio_id"] == biblio_id
    refused = api.delete(f"/api/v1/items/{sample_item(api, biblio_id)}", status=403).json
    assert refused["error_code"] == "csrf_token_invalid"
    # any page with the logout form carries the session's CSRF token
    token = re.search(r'name="csrf_token" value="([^"]+)"', api.get("/api/v1/.html").text)
    item_id = sample_item(api, biblio_id)
    api.delete(f"/api/v1/items/{item_id}", headers={"X-CSRF-Token": token.group(1)}, status=204)


def sample_item(api, biblio_id: int) -> int:
    return api.get(f"/api/v1/biblios/{biblio_id}/items").json[0]["item_id"]


def test_method_not_allowed_is_json(api, cataloguer):
    response = api.patch("/api/v1/biblios", headers=cataloguer, status=405)
    assert response.json["error_code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_unknown_api_path_is_json_404(api):
    assert api.get("/api/v1/nothing-here", status=404).json == {"error": "Not found", "error_code": "not_found"}


# --- listing -----------------------------------------------------------------------------------

def test_pagination_headers_and_links(api, cataloguer, sample_records):
    ids = sample_records(7)
    first = api.get("/api/v1/biblios?_per_page=3", headers=cataloguer)
    assert [b["biblio_id"] for b in first.json] == ids[:3]
    assert first.headers["X-Total-Count"] == "7"
    assert first.headers["X-Base-Total-Count"] == "7"
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["Link"]))
    assert set(links) == {"first", "next", "last"}
    assert "_page=3" in links["last"] and "_per_page=3" in links["last"]
    last = api.get(links["last"].replace("http://localhost", ""), headers=cataloguer)
    assert [b["biblio_id"] for b in last.json] == ids[6:]
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    everything = api.get("/api/v1/biblios?_per_page=-1", headers=cataloguer)
    assert len(everything.json) == 7 and "Link" not in everything.headers
    beyond = api.get("/api/v1/biblios?_page=9&_per_page=3", headers=cataloguer)
    assert beyond.json == [] and beyond.headers["X-Total-Count"] == "7"


def test_default_page_size_is_20(api, cataloguer, sample_records):
    sample_records(23)
    response = api.get("/api/v1/biblios", headers=cataloguer)
    assert len(response.json) == 20 and response.headers["X-Total-Count"] == "23"


def test_order_by(api, cataloguer, sample_records):
    sample_records(6)
    rows = api.get("/api/v1/biblios?_order_by=-biblio_id", headers=cataloguer).json
    assert [r["biblio_id"] for r in rows] == sorted((r["biblio_id"] for r in rows), reverse=True)
    # the database's collation decides the order of titles; ascending is descending reversed
    ascending = [r["biblio_id"] for r in api.get("/api/v1/biblios?_order_by=%2Btitle", headers=cataloguer).json]
    descending = [r["biblio_id"] for r in api.get("/api/v1/biblios?_order_by=-title", headers=cataloguer).json]
    titles = {r["title"] for r in rows}
    assert len(titles) == 6 and ascending == descending[::-1]
    both = api.get("/api/v1/biblios?_order_by=serial&_order_by=-biblio_id", headers=cataloguer).json
    assert [r["biblio_id"] for r in both] == [r["biblio_id"] for r in rows]
    api.get("/api/v1/biblios?_order_by=-nope", headers=cataloguer, status=400)


def test_simple_filters_and_match(api, cataloguer, sample_records):
    ids = sample_records(5)
    rows = api.get(f"/api/v1/biblios?biblio_id={ids[2]}", headers=cataloguer).json
    assert [r["biblio_id"] for r in rows] == [ids[2]]
    title = rows[0]["title"]
    word = title.split()[0]
    contains = api.get(f"/api/v1/biblios?title={quote(title[1:-1])}", headers=cataloguer)
    assert ids[2] in [r["biblio_id"] for r in contains.json]
    assert contains.headers["X-Base-Total-Count"] == "5"
    exact = api.get(f"/api/v1/biblios?title={quote(title[1:])}&_match=exact", headers=cataloguer).json
    assert exact == []
    starts = api.get(f"/api/v1/biblios?title={quote(word)}&_match=starts_with", headers=cataloguer).json
    assert all(r["title"].lower().startswith(word.lower()) for r in starts) and starts
    # LIKE wildcards typed by a user are literal characters in simple filters
    assert api.get("/api/v1/biblios?title=%25", headers=cataloguer).json == []


def add_record(catalog, title: str) -> int:
    import pymarc

    record = pymarc.Record()
    record.leader = "00000nam a2200000 a 4500"
    record.add_field(pymarc.Field(tag="245", indicators=["1", "0"],
                                  subfields=[pymarc.Subfield("a", title)]))
    biblio = catalog.add_record(record)
    catalog.session.commit()
    return biblio.biblionumber


def test_q_filters(api, cataloguer, sample_records, catalog):
    ids = sample_records(6)
    get = lambda filt: [r["biblio_id"] for r in api.get(f"/api/v1/biblios?q={q(filt)}&_per_page=-1",  # noqa: E731
                                                            headers=cataloguer).json]
    assert get({"biblio_id": ids[0]}) == [ids[0]]
    assert get({"biblio_id": {">": ids[3]}}) == ids[4:]
    assert get({"biblio_id": {"-in": [ids[1], ids[2]]}}) == ids[1:3]
    assert get({"biblio_id": {"-not_in": [ids[1], ids[2]]}}) == [ids[0], *ids[3:]]
    assert get({"biblio_id": {"-between": [ids[1], ids[3]]}}) == ids[1:4]
    assert get({"biblio_id": {"-not_between": [ids[1], ids[4]]}}) == [ids[0], ids[5]]
    assert get([{"biblio_id": ids[0]}, {"biblio_id": ids[5]}]) == [ids[0], ids[5]]
    assert get({"-or": [{"biblio_id": ids[0]}, {"biblio_id": ids[1]}]}) == ids[:2]
    assert get({"-and": [{"biblio_id": {">=": ids[1]}}, {"biblio_id": {"<": ids[3]}}]}) == ids[1:3]
    assert get({"-not": {"biblio_id": ids[0]}}) == ids[1:]
    assert get({"biblio_id": {"!=": ids[0]}, "serial": False}) == ids[1:]
    assert get({"subtitle": None}) == get({"subtitle": {"=": None}})
    assert get({"biblio_id": {"-ident": "biblio_id"}}) == ids
    reefs = add_record(catalog, "Coral reefs of the Pacific")
    assert get({"title": {"-like": "%REEFS of%"}}) == [reefs]  # case-insensitive, as on Koha's MariaDB
    assert reefs not in get({"title": {"-not_like": "%reefs%"}}) and ids[0] in get({"title": {"-not_like": "%reefs%"}})
    assert get({"title": {"-like": "Coral_reefs%"}}) == [reefs]  # % and _ are LIKE wildcards in q
    assert get({"title": "Coral reefs of the Pacific"}) == [reefs]
    assert get({"title": {"-regexp": "^Coral r[aeiou]+fs"}}) == [reefs]
    assert ids[2] in get({"creation_date": {">=": "2000-01-01T00:00:00Z"}})
    # two q parameters are ANDed
    both = api.get(f"/api/v1/biblios?q={q({'biblio_id': {'>': ids[0]}})}&q={q({'biblio_id': {'<': ids[2]}})}",
                   headers=cataloguer)
    assert [r["biblio_id"] for r in both.json] == [ids[1]]
    assert both.headers["X-Total-Count"] == "1" and both.headers["X-Base-Total-Count"] == "7"


@pytest.mark.parametrize("filt", [
    "not json", '"a string"', '{"password": "x"}', '{"biblio_id": "abc"}', '{"biblio_id": {"-like": "1%"}}',
    '{"biblio_id": {"-in": 3}}', '{"biblio_id": {"-between": [1]}}', '{"biblio_id": {"~~": 1}}',
    '{"-xor": []}', '{"creation_date": {">": "yesterday"}}', '{"biblio_id": 99999999999}',
    '{"biblio_id": {"-ident": "secret"}}', '{"title": {"-like": 5}}',
])
def test_bad_q_is_400(api, cataloguer, filt):
    body = api.get(f"/api/v1/biblios?q={quote(filt)}", headers=cataloguer, status=400).json
    assert body["error_code"] == "invalid_query"


def test_x_koha_query_header(api, cataloguer, sample_records):
    ids = sample_records(3)
    headers = {**cataloguer, "x-koha-query": json.dumps({"biblio_id": {">": ids[0]}})}
    assert [r["biblio_id"] for r in api.get("/api/v1/biblios", headers=headers).json] == ids[1:]
    both = api.get(f"/api/v1/biblios?q={q({'biblio_id': {'<': ids[2]}})}", headers=headers).json
    assert [r["biblio_id"] for r in both] == [ids[1]]
    api.get("/api/v1/biblios", headers={**cataloguer, "x-koha-query": "{oops"}, status=400)


def test_request_id_is_echoed(api, cataloguer):
    response = api.get("/api/v1/biblios", headers={**cataloguer, "x-koha-request-id": "42"})
    assert response.headers["x-koha-request-id"] == "42"


@pytest.mark.parametrize("query", ["title=%ff%fe", "title=a%00b", "q=%ff", "%ff=1"])
def test_undecodable_or_nul_query_is_400(api, cataloguer, query):
    body = api.get(f"/api/v1/biblios?{query}", headers=cataloguer, status=400).json
    assert body["error_code"] in ("invalid_parameters", "invalid_query")


@pytest.mark.parametrize("body", [b'{"external_id": "a\\u0000b"}', b'{"external_id": "\\ud800"}', b"[1, 2",
                                  b'{"external_id": "x", "withdrawn": 4294967296}', b"\xff\xfe"])
def test_bad_json_bodies_are_400(api, cataloguer, sample_records, body):
    (biblio_id,) = sample_records(1)
    response = api.post(f"/api/v1/biblios/{biblio_id}/items", body,
                        headers={**cataloguer, "Content-Type": "application/json"}, status=400)
    assert response.json["error_code"] == "invalid_parameters"


def test_raw_body_schemas_appear_in_the_document(clean_db, database_url):
    import webtest
    from pyramid.config import Configurator

    from kohaweb.app import _core, build_site
    from kohaweb.testing import make_settings

    forms = ApiService("forms", "/forms")

    @forms.operation("POST", permission=None, summary="A form", responses={200: {"type": "object"}},
                     body_media_types=("application/x-www-form-urlencoded",))
    def post_form(request):
        return dict(request.POST)

    notes = ApiService("notes", "/notes")

    @notes.operation("POST", permission=None, summary="A note", responses={204: None},
                     body_media_types={"text/plain": {"type": "string", "maxLength": 10}})
    def post_note(request):
        from pyramid.response import Response

        return Response(status=204)

    settings = make_settings(database_url)
    site, _ = build_site(settings, engine=clean_db)
    config = Configurator(settings=settings)
    config.registry.kohaweb = site
    config.include(_core)
    config.add_cornice_service(forms)
    config.add_cornice_service(notes)
    app = webtest.TestApp(config.make_wsgi_app())
    doc = app.get("/api/v1/").json
    validate(doc)
    form_body = doc["paths"]["/forms"]["post"]["requestBody"]["content"]
    assert form_body == {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "additionalProperties": {"type": "string"}}}}
    assert doc["paths"]["/notes"]["post"]["requestBody"]["content"]["text/plain"]["schema"]["maxLength"] == 10
    assert app.post("/api/v1/forms", {"a": "1"}).json == {"a": "1"}
    assert app.post("/api/v1/notes", b"hello", headers={"Content-Type": "text/plain"}, status=204)
    refused = app.post("/api/v1/notes", b"{}", headers={"Content-Type": "application/json"}, status=415)
    assert refused.json["error_code"] == "unsupported_media_type"


def test_scripts_in_a_page_get_no_basic_challenge(make_app):
    """The browser would answer a Basic challenge to the API explorer's fetch with its own dialog."""
    app = make_app(settings={"kohaweb.auth.basic": "true"})
    plain = app.get("/api/v1/libraries", headers={"Accept": "application/json"}, status=401)
    assert 'Basic realm="kohaweb"' in plain.headers.getall("WWW-Authenticate")
    scripted = app.get("/api/v1/libraries", headers={"Accept": "application/json",
                                                     "X-Requested-With": "XMLHttpRequest"}, status=401)
    assert scripted.headers.getall("WWW-Authenticate") == ['Bearer realm="kohaweb"']
