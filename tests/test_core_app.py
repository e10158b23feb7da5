"""The application factory, plugin loading, settings checks and authentication."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from kohaweb.app import make_app as build_app
from kohaweb.settings import ConfigError, Setting, parse_settings
from kohaweb.testing import basic_auth, free_port, make_settings


def test_enabled_service_answers_and_disabled_one_is_404(make_app, reference_data):
    app = make_app(services=["status"])
    body = app.get("/status").json
    assert body["status"] == "ok" and body["services"] == ["status"]
    bare = make_app(services=[])
    bare.get("/status", status=404)


def test_missing_service_is_one_clear_line(database_url):
    with pytest.raises(ConfigError) as exc:
        build_app(make_settings(database_url, ["status", "nosuchservice"]))
    assert exc.value.problems == ["kohaweb.services: service 'nosuchservice' is not installed; "
                                  "install the distribution kohaweb-nosuchservice (pip install kohaweb-nosuchservice)"]


def test_every_bad_and_unknown_key_is_reported(database_url):
    raw = make_settings(database_url, ["status"])
    raw.update({"status.show_counts": "maybe", "status.colour": "red", "kohaweb.auth.basic": "perhaps"})
    with pytest.raises(ConfigError) as exc:
        build_app(raw)
    text = "\n".join(exc.value.problems)
    assert "status.show_counts: expected true or false" in text
    assert "status.colour: unknown setting" in text
    assert "kohaweb.auth.basic: expected true or false" in text


def test_secret_is_required(database_url):
    raw = make_settings(database_url, [])
    raw["kohaweb.secret"] = ""
    with pytest.raises(ConfigError, match="kohaweb.secret: required"):
        build_app(raw)


def test_setting_types(tmp_path, monkeypatch):
    declared = [Setting("x.n", "int", 5, "n", minimum=1), Setting("x.l", "list", [], "l"),
                Setting("x.p", "path", "", "p"), Setting("x.c", "choice", "a", "c", choices=("a", "b")),
                Setting("x.e", "str", "", "e")]
    monkeypatch.setenv("KW_TEST_VALUE", "from-env")
    values = parse_settings({"x.n": "7", "x.l": "a, b c", "x.p": str(tmp_path), "x.c": "b", "x.e": "env:KW_TEST_VALUE"},
                            "x", declared)
    assert values == {"n": 7, "l": ["a", "b", "c"], "p": str(tmp_path), "c": "b", "e": "from-env"}
    with pytest.raises(ConfigError) as exc:
        parse_settings({"x.n": "0", "x.p": "/no/such/file", "x.c": "z", "x.e": "env:KW_NOT_SET_ANYWHERE"},
                       "x", declared)
    assert len(exc.value.problems) == 4


def test_basic_auth_and_permissions(make_app, staff_user):
    app = make_app(services=["status"], **{"kohaweb.auth.basic": "true"})
    user, password, _ = staff_user("alice", "catalogue")
    other, other_password, _ = staff_user("dave", "parameters")
    app.get("/status/details", status=401)
    response = app.get("/status/details", headers=basic_auth(user, "wrong"), status=401)
    assert "WWW-Authenticate" in response.headers
    assert "invalid username or password" in response.text
    denied = app.get("/status/details", headers={**basic_auth(user, password), "Accept": "application/json"},
                     status=403)
    assert denied.json["required_permissions"] == {"parameters": 1}
    details = app.get("/status/details", headers=basic_auth(other, other_password)).json
    assert details["records"] == 0 and details["schema_revision"]


def test_basic_auth_refused_when_disabled(make_app, staff_user):
    app = make_app(services=["status"])
    user, password, _ = staff_user("bob")
    app.get("/status/details", headers={**basic_auth(user, password), "Accept": "application/json"}, status=401)


def test_login_form_sets_session_and_requires_csrf(make_app, staff_user):
    app = make_app(services=[])
    user, password, _ = staff_user("carol", "superlibrarian")
    app.post("/login", {"userid": user, "password": password}, status=400)  # no CSRF token
    form = app.get("/login").forms[0]
    form["userid"], form["password"] = user, "nope"
    assert form.submit(status=401).status_int == 401
    form = app.get("/login").forms[0]
    form["userid"], form["password"] = user, password
    response = form.submit(status=303)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Signed in as carol" in app.get("/").text


def test_pserve_serves_over_http(tmp_path, database_url):
    """The real server: pserve (waitress) on a free loopback port."""
    port = free_port()
    ini = tmp_path / "test.ini"
    ini.write_text(f"""[app:main]
use = egg:kohaweb
kohaweb.services = status
kohaweb.database_url = {database_url}
kohaweb.secret = a-test-secret-for-pserve-0123456789

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
""")
    proc = subprocess.Popen([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as resp:
                    assert resp.status == 200
                    assert json.loads(resp.read())["status"] == "ok"
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode() if proc.poll() is not None else "timeout") from None
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pserve_reports_missing_plugin_in_one_line(tmp_path, database_url):
    ini = tmp_path / "bad.ini"
    ini.write_text(f"""[app:main]
use = egg:kohaweb
kohaweb.services = status nosuch
kohaweb.database_url = {database_url}
kohaweb.secret = x-secret-0123456789

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{free_port()}
""")
    proc = subprocess.run([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "service 'nosuch' is not installed; install the distribution kohaweb-nosuch" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_undecodable_urls_get_400_not_500(make_app):
    app = make_app(services=["status"])
    assert app.get("/nothing/%ED%A0%80", status=400).text.startswith("Bad request")
    assert "UTF-8" in app.get("/login?came_from=%ED%A0%80", status=400).text


def test_favicon_is_served_where_browsers_look_for_it(make_app):
    app = make_app()
    response = app.get("/favicon.ico", status=200)
    assert response.content_type == "image/vnd.microsoft.icon"
    assert response.body[:4] == b"\x00\x00\x01\x00"  # the ICO header
    assert "max-age=86400" in response.headers["Cache-Control"]
    assert 'rel="icon"' in app.get("/login").text


def test_home_page_lists_each_enabled_service_with_its_addresses(make_app, staff_user):
    app = make_app(services=["status", "oai", "sru", "ilsdi", "reports"])
    page = app.get("/").text
    assert 'href="/login"' in page and 'href="/api/v1/.html"' in page
    for heading in ("OAI-PMH", "SRU", "ILS-DI", "Reports", "Status"):
        assert f">{heading}</h2>" in page
    assert 'href="/cgi-bin/koha/oai.pl?verb=Identify"' in page
    assert page.index(">Status</h2>") < page.index(">OAI-PMH</h2>") < page.index(">SRU</h2>")  # enabled order
    # every address listed answers (the staff page with a sign-in redirect)
    import re
    for path in re.findall(r'href="(/[^"]*)"', page):
        response = app.get(path.replace("&amp;", "&"), expect_errors=True)
        assert response.status_int in (200, 302, 401), (path, response.status)
    bare = make_app(services=["status"]).get("/").text
    assert "OAI-PMH" not in bare and "Enabled services: status." in bare


def test_request_extensions_on_the_request_class_stay_per_request():
    """``add_request_method`` attributes live on one request class (kohaweb.app.request_class_with_extensions,
    not a class per request): a reified value is still each request's own, a property is computed
    on each read, a method is bound to its request."""
    from pyramid.config import Configurator
    from pyramid.request import Request, apply_request_extensions

    from kohaweb.app import router_with_request_class

    made = []

    def reified(request):
        made.append(request)
        return object()

    config = Configurator()
    config.add_request_method(reified, "reified", reify=True)
    config.add_request_method(lambda request: request.path_info, "path_property", property=True)
    config.add_request_method(lambda request, suffix: request.path_info + suffix, "path_with")
    config.commit()
    router = router_with_request_class(config)
    first = router.request_context(Request.blank("/one").environ).request
    second = router.request_context(Request.blank("/two").environ).request
    assert type(first) is type(second) and isinstance(first, Request)
    assert first.reified is first.reified and first.reified is not second.reified and made == [first, second]
    assert (first.path_property, second.path_property) == ("/one", "/two")
    first.environ["PATH_INFO"] = "/changed"
    assert first.path_property == "/changed" and first.path_with("!") == "/changed!"
    # a request prepared outside the router (a script, a plugin's test) still gets them
    prepared = Request.blank("/three")
    prepared.registry = config.registry
    apply_request_extensions(prepared)
    assert prepared.path_with("?") == "/three?" and prepared.reified is prepared.reified
