"""The HTTP service: access (staff with catalogue, signed URLs, 401/403 otherwise), parameters,
400 messages, caching headers, both URLs."""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from kohaweb_barcode.urls import signed_barcode_params
from lxml import etree
from PIL import Image
from pyramid.request import Request, apply_request_extensions

from kohaweb.testing import TEST_SECRET, basic_auth

PATHS = ["/svc/barcode", "/cgi-bin/koha/svc/barcode"]


def image(response) -> Image.Image:
    return Image.open(io.BytesIO(response.body))


# --- access ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_anonymous_and_unsigned_gets_401(app, path):
    response = app.get(path, {"barcode": "12345"}, status=401)
    assert "Bearer" in " ".join(response.headers.getall("WWW-Authenticate"))
    assert response.body.strip()


def test_bad_credentials_get_401(app, cataloguer):
    response = app.get("/svc/barcode", {"barcode": "12345"}, headers=basic_auth("cataloguer", "wrong"), status=401)
    assert b"invalid username or password" in response.body


def test_staff_without_catalogue_permission_gets_403(app, staff_user):
    headers = basic_auth(*staff_user("circ", "circulate")[:2])
    response = app.get("/svc/barcode", {"barcode": "12345"}, headers=headers, status=403)
    assert b"Missing required permission" in response.body


@pytest.mark.parametrize("path", PATHS)
def test_staff_with_catalogue_gets_a_png(app, cataloguer, path):
    response = app.get(path, {"barcode": "39085001234567", "type": "Code39"}, headers=cataloguer)
    assert response.content_type == "image/png"
    assert response.body.startswith(b"\x89PNG\r\n\x1a\n")
    assert image(response).size[1] > 50


def test_staff_session_login_works(app, staff_user):
    userid, password, _ = staff_user("sessionuser", "catalogue")
    app.get("/svc/barcode", {"barcode": "1"}, status=401)
    login = app.get("/login")
    form = login.forms[0]
    form["userid"], form["password"] = userid, password
    form.submit()
    assert app.get("/svc/barcode", {"barcode": "1"}).content_type == "image/png"


@pytest.mark.parametrize("path", PATHS)
def test_signed_url_works_without_login(app, path):
    params = signed_barcode_params(TEST_SECRET, "4006381333931", "EAN13", max_age=600, notext=True)
    response = app.get(path, params)
    assert response.content_type == "image/png"
    # A shared cache must not keep it longer than the signature lives.
    assert response.cache_control.private
    assert 0 < response.cache_control.max_age <= 600


@pytest.mark.parametrize("change", [
    {"barcode": "4006381333932"},  # another barcode
    {"type": "Code39"},
    {"notext": "0"},
    {"height": "90"},
    {"expires": str(int(time.time()) + 10**6)},  # a longer life
    {"signature": "AAAA"},
    {"extra": "1"},  # every parameter is signed
])
def test_tampered_signed_url_gets_401(app, change):
    params = signed_barcode_params(TEST_SECRET, "4006381333931", "EAN13", max_age=600, notext=True)
    params.update(change)
    response = app.get("/svc/barcode", params, status=401)
    assert b"signature is not valid" in response.body


def test_signed_url_from_another_site_gets_401(app):
    params = signed_barcode_params("another-secret", "12345", max_age=600)
    assert b"signature is not valid" in app.get("/svc/barcode", params, status=401).body


def test_expired_signed_url_gets_401_saying_so(app):
    params = signed_barcode_params(TEST_SECRET, "12345", max_age=60, now=time.time() - 3600)
    assert b"has expired" in app.get("/svc/barcode", params, status=401).body


def test_staff_may_use_an_expired_signed_url(app, cataloguer):
    params = signed_barcode_params(TEST_SECRET, "12345", max_age=60, now=time.time() - 3600)
    assert app.get("/svc/barcode", params, headers=cataloguer).content_type == "image/png"


def test_request_helper_makes_signed_urls(app):
    registry = app.app.registry
    request = Request.blank("/", base_url="http://library.example.org")
    request.registry = registry
    apply_request_extensions(request)
    url = request.barcode_url("00012345678905", type="ITF", height=40)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "library.example.org", "/svc/barcode")
    params = dict(parse_qsl(parts.query))
    assert params["barcode"] == "00012345678905" and params["type"] == "ITF" and params["height"] == "40"
    lifetime = registry.kohaweb.settings["barcode"]["signed_url_lifetime"]
    assert int(params["expires"]) == pytest.approx(time.time() + lifetime, abs=5)
    assert app.get(f"{parts.path}?{parts.query}").content_type == "image/png"
    unsigned = request.barcode_url("12345", signed=False)
    assert "signature" not in unsigned
    app.get(unsigned, status=401)


# --- parameters -----------------------------------------------------------------------------------

def test_default_type_is_code39_and_type_is_case_insensitive(app, cataloguer):
    default = app.get("/svc/barcode", {"barcode": "ABC"}, headers=cataloguer)
    named = app.get("/svc/barcode", {"barcode": "ABC", "type": "cOdE39"}, headers=cataloguer)
    starred = app.get("/svc/barcode", {"barcode": "*abc*", "type": "CODE39"}, headers=cataloguer)
    assert default.body == named.body == starred.body
    assert default.etag == starred.etag


def test_default_type_setting(barcode_app, cataloguer):
    app = barcode_app(**{"barcode.default_type": "EAN13"})
    app.get("/svc/barcode", {"barcode": "ABC"}, headers=cataloguer, status=400)
    assert app.get("/svc/barcode", {"barcode": "400638133393"}, headers=cataloguer).content_type == "image/png"


def test_height_notext_and_modulesize_change_the_image(app, cataloguer):
    def size(**params):
        return image(app.get("/svc/barcode", params, headers=cataloguer)).size

    width, tall = size(barcode="12345", height="100")
    assert size(barcode="12345", height="40") == (width, tall - 60)
    assert size(barcode="12345", height="100", notext="1")[1] < tall
    assert size(barcode="12345", height="100", notext="0") == (width, tall)  # Perl truth: "0" is false
    assert size(barcode="12345", height="100", notext="")[1] == tall
    qr5, qr10 = size(barcode="hello", type="QRcode"), size(barcode="hello", type="QRcode", modulesize="10")
    assert qr10 == (qr5[0] * 2, qr5[1] * 2)
    assert size(barcode="hello", type="QRcode", height="200", notext="1") == qr5  # QR ignores both


def test_svg_format(app, cataloguer):
    for type_name, text in [("EAN13", "400638133393"), ("QRcode", "hello"), ("Matrix2of5", "12345")]:
        response = app.get("/svc/barcode", {"barcode": text, "type": type_name, "format": "SVG"}, headers=cataloguer)
        assert response.content_type == "image/svg+xml"
        root = etree.fromstring(response.body)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        drawn = root.findall(".//{http://www.w3.org/2000/svg}rect" if type_name != "QRcode"
                             else ".//{http://www.w3.org/2000/svg}path")
        assert len(drawn) > (10 if type_name != "QRcode" else 0)


def test_head_request(app, cataloguer):
    response = app.head("/svc/barcode", {"barcode": "12345"}, headers=cataloguer)
    assert response.content_type == "image/png" and response.etag


@pytest.mark.parametrize("params, fragments", [
    ({}, ["'barcode' is required"]),
    ({"barcode": ""}, ["type Code39: it is empty", "Code39 accepts"]),
    ({"barcode": "1", "type": "Code128"}, ["Unknown barcode type 'Code128'", "EAN13"]),
    ({"barcode": "abc_1"}, ["'_'", "Code39 accepts 0-9, A-Z"]),
    ({"barcode": "9780201379625", "type": "EAN13"}, ["check digit is 5 but should be 4", "13 digits"]),
    ({"barcode": "97802013", "type": "ean13"}, ["8 digits", "EAN13 accepts 12 digits"]),
    ({"barcode": "1", "height": "abc"}, ["'height' must be a whole number from 10 to 1000, not 'abc'"]),
    ({"barcode": "1", "height": "5"}, ["'height'", "not '5'"]),
    ({"barcode": "1", "height": "100000"}, ["'height'"]),
    ({"barcode": "1", "height": "-50"}, ["'height'"]),
    ({"barcode": "1", "modulesize": "0", "type": "QRcode"}, ["'modulesize' must be a whole number from 1 to 20"]),
    ({"barcode": "1", "format": "gif"}, ["'format' must be png or svg, not 'gif'"]),
    ({"barcode": "x" * 3000, "type": "QRcode"}, ["3000 bytes", "or 2331 bytes"]),
    ({"barcode": "1\x00", "type": "ITF"}, ["'\\x00'", "ITF accepts digits"]),
])
def test_bad_parameters_get_400_plain_text(app, cataloguer, params, fragments):
    response = app.get("/svc/barcode", params, headers=cataloguer, status=400)
    assert response.content_type == "text/plain"
    for fragment in fragments:
        assert fragment in response.text


def test_repeated_parameter_gets_400(app, cataloguer):
    response = app.get("/svc/barcode?barcode=1&barcode=2", headers=cataloguer, status=400)
    assert "'barcode' is given more than once" in response.text


def test_400_as_json_for_json_clients(app, cataloguer):
    response = app.get("/svc/barcode", {"barcode": "12A", "type": "ITF"},
                       headers={**cataloguer, "Accept": "application/json"}, status=400)
    assert response.json["error_code"] == "invalid_barcode"
    assert "ITF accepts digits" in response.json["error"]


def test_bad_input_is_never_a_500(app):
    """Signed URLs, so that each request does not pay for a password check."""
    odd = ["", " ", "*", "**", "A", "ABCD", "0" * 200, "é", "\u202e", "\ud7ff", "1\n2", "%00", "<svg>", "9" * 14]
    for type_name in ["Code39", "UPCE", "UPCA", "QRcode", "NW7", "Matrix2of5", "ITF", "Industrial2of5",
                      "IATA2of5", "EAN8", "EAN13", "COOP2of5"]:
        for text in odd:
            for fmt in ("png", "svg"):
                params = signed_barcode_params(TEST_SECRET, text, type_name, format=fmt, max_age=60)
                response = app.get("/svc/barcode", params, expect_errors=True)
                assert response.status_int in (200, 400), (type_name, text, response.status)
                assert response.body


# --- caching --------------------------------------------------------------------------------------

def test_etag_and_304(app, cataloguer):
    first = app.get("/svc/barcode", {"barcode": "12345", "type": "ITF"}, headers=cataloguer)
    assert first.etag and first.cache_control.max_age == 86400 and first.cache_control.private
    again = app.get("/svc/barcode", {"barcode": "12345", "type": "ITF"},
                    headers={**cataloguer, "If-None-Match": f'"{first.etag}"'}, status=304)
    assert again.body == b"" and again.etag == first.etag
    other = app.get("/svc/barcode", {"barcode": "12346", "type": "ITF"},
                    headers={**cataloguer, "If-None-Match": f'"{first.etag}"'})
    assert other.status_int == 200 and other.etag != first.etag


def test_304_only_after_access_check(app, cataloguer):
    first = app.get("/svc/barcode", {"barcode": "12345"}, headers=cataloguer)
    app.get("/svc/barcode", {"barcode": "12345"}, headers={"If-None-Match": f'"{first.etag}"'}, status=401)


def test_identical_requests_come_from_the_cache(app, cataloguer):
    cache = app.app.registry.kohaweb.extras["barcode"]
    first = app.get("/svc/barcode", {"barcode": "CACHED"}, headers=cataloguer)
    hits = cache.hits
    params = signed_barcode_params(TEST_SECRET, "cached", "code39", max_age=600)
    second = app.get("/svc/barcode", params)  # signed, other spelling: the same image
    assert cache.hits == hits + 1
    assert second.body == first.body


def test_cache_size_setting(barcode_app, cataloguer):
    app = barcode_app(**{"barcode.cache_size": "2"})
    cache = app.app.registry.kohaweb.extras["barcode"]
    for text in ("1", "2", "3"):
        app.get("/svc/barcode", {"barcode": text}, headers=cataloguer)
    assert len(cache) == 2
    app = barcode_app(**{"barcode.cache_size": "0"})
    app.get("/svc/barcode", {"barcode": "1"}, headers=cataloguer)
    assert len(app.app.registry.kohaweb.extras["barcode"]) == 0


def test_bad_settings_fail_start_up(barcode_app):
    with pytest.raises(Exception, match="barcode.module_width"):
        barcode_app(**{"barcode.module_width": "1"})
    with pytest.raises(Exception, match="barcode.default_type"):
        barcode_app(**{"barcode.default_type": "Code128"})
