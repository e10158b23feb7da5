"""kohaweb.signing on itsdangerous: key rotation (newest secret signs, any verifies), tampering,
purposes, expiry, and tokens and session cookies signed by kohaweb 0.2 still accepted until they
expire."""

from __future__ import annotations

import re

import pytest
import webtest

from kohaweb import signing
from kohaweb.testing import TEST_SECRET, selected_backend

OLD = "old-secret-0123456789abcdef"
NEW = "new-secret-fedcba9876543210"
NOW = 1_800_000_000
# minted by kohaweb 0.2's own signing code (secret OLD, purpose oai-resumption, now=NOW, max_age=3600)
LEGACY_TOKEN = ("W1sxLCJMaXN0UmVjb3JkcyIsIm9haV9kYyIsbnVsbCwiMjAyNi0xMi0wNFQwMDowMDowMFoiLG51bGwsWyIyMDI2LTAxLTAy"
                "VDAzOjA0OjA1WiIsNDJdLDUwLDEyMzRdLDE4MDAwMDM2MDBd.CXVDuK7JJMJ0ZWGn_WHK_zOirRs")
LEGACY_DATA = [1, "ListRecords", "oai_dc", None, "2026-12-04T00:00:00Z", None, ["2026-01-02T03:04:05Z", 42], 50, 1234]
# the same code's signed URL (secret OLD, purpose barcode, now=NOW, max_age=600)
LEGACY_URL = {"barcode": "39999000001", "type": "Code39", "expires": "1800000600",
              "signature": "w2FKk_PReSANLh5FUj0yUONEYg0"}

no_database = pytest.mark.skipif(selected_backend() != "sqlite", reason="no database involved")


@no_database
def test_round_trip_purpose_and_expiry():
    token = signing.sign(NEW, "oai-resumption", {"a": ["é", 1]}, max_age=60, now=NOW)
    assert signing.unsign(NEW, "oai-resumption", token, now=NOW + 60) == {"a": ["é", 1]}
    assert signing.unsign(NEW, "oai-resumption", f"  {token}\n", now=NOW) == {"a": ["é", 1]}
    with pytest.raises(signing.Expired):
        signing.unsign(NEW, "oai-resumption", token, now=NOW + 61)
    with pytest.raises(signing.BadSignature) as refused:
        signing.unsign(NEW, "barcode", token, now=NOW)  # minted for another purpose
    assert not isinstance(refused.value, signing.Expired)
    forever = signing.sign(NEW, "p", 7)
    assert signing.unsign(NEW, "p", forever, now=NOW * 10) == 7


@no_database
def test_rotation_newest_signs_any_verifies():
    token = signing.sign([NEW, OLD], "p", "data", max_age=60, now=NOW)
    assert signing.unsign(NEW, "p", token, now=NOW) == "data"  # signed with the first (newest)
    with pytest.raises(signing.BadSignature):
        signing.unsign(OLD, "p", token, now=NOW)
    issued_before = signing.sign(OLD, "p", "older", max_age=60, now=NOW)
    assert signing.unsign([NEW, OLD], "p", issued_before, now=NOW) == "older"  # still in the list
    with pytest.raises(signing.BadSignature):
        signing.unsign([NEW], "p", issued_before, now=NOW)  # removed from the list: refused
    with pytest.raises(ValueError):
        signing.sign([], "p", 1)
    assert signing.site_secrets({"secret": NEW, "previous_secrets": [OLD, ""]}) == [NEW, OLD]
    assert signing.site_secrets({"secret": NEW}) == [NEW]


@no_database
@pytest.mark.parametrize("change", ["payload", "signature", "truncate", "append", "swap", "empty", "junk",
                                    "non-ascii", "surrogate"])
def test_tampered_tokens_are_refused(change):
    token = signing.sign([NEW, OLD], "p", {"cursor": 50}, max_age=60, now=NOW)
    payload, signature = token.rsplit(".", 1)
    flip = {"A": "B"}.get(payload[3], "A")
    tampered = {
        "payload": payload[:3] + flip + payload[4:] + "." + signature,
        "signature": payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),
        "truncate": token[:-1],
        "append": token + "A",
        "swap": signature + "." + payload,
        "empty": "",
        "junk": "not a token at all",
        "non-ascii": payload + ".é" + signature,
        "surrogate": payload + "." + signature + "\udcff",
    }[change]
    with pytest.raises(signing.BadSignature):
        signing.unsign([NEW, OLD], "p", tampered, now=NOW)


@no_database
def test_legacy_tokens_accepted_until_they_expire():
    assert signing.unsign(OLD, "oai-resumption", LEGACY_TOKEN, now=NOW) == LEGACY_DATA
    assert signing.unsign([NEW, OLD], "oai-resumption", LEGACY_TOKEN, now=NOW + 3600) == LEGACY_DATA
    with pytest.raises(signing.Expired):
        signing.unsign([NEW, OLD], "oai-resumption", LEGACY_TOKEN, now=NOW + 3601)
    with pytest.raises(signing.BadSignature):
        signing.unsign(NEW, "oai-resumption", LEGACY_TOKEN, now=NOW)  # its secret is gone
    with pytest.raises(signing.BadSignature):
        signing.unsign(OLD, "barcode", LEGACY_TOKEN, now=NOW)
    payload, mac = LEGACY_TOKEN.rsplit(".", 1)
    with pytest.raises(signing.BadSignature):
        signing.unsign(OLD, "oai-resumption", payload[:-1] + "A." + mac, now=NOW)
    # new tokens are not signed the old way any more
    assert len(signing.sign(OLD, "p", 1, max_age=1).rsplit(".", 1)[1]) == 43  # HMAC-SHA256, untruncated


@no_database
def test_signed_url_params_rotation_tampering_and_legacy():
    params = signing.sign_url_params([NEW, OLD], "barcode", {"barcode": "1234", "type": "EAN13"}, 600, now=NOW)
    assert set(params) == {"barcode", "type", "expires", "signature"}
    signing.verify_url_params([NEW], "barcode", params, now=NOW + 600)
    with pytest.raises(signing.Expired):
        signing.verify_url_params([NEW], "barcode", params, now=NOW + 601)
    with pytest.raises(signing.BadSignature):
        signing.verify_url_params([OLD], "barcode", params, now=NOW)
    for key, value in [("barcode", "1235"), ("expires", str(NOW + 10**6)), ("extra", "1"), ("signature", "x")]:
        with pytest.raises(signing.BadSignature):
            signing.verify_url_params([NEW, OLD], "barcode", dict(params, **{key: value}), now=NOW)
    with pytest.raises(signing.BadSignature):
        signing.verify_url_params([NEW, OLD], "other", params, now=NOW)
    without = dict(params)
    del without["signature"]
    with pytest.raises(signing.BadSignature):
        signing.verify_url_params([NEW, OLD], "barcode", without, now=NOW)
    signing.verify_url_params([NEW, OLD], "barcode", LEGACY_URL, now=NOW)  # kohaweb 0.2's URL
    with pytest.raises(signing.Expired):
        signing.verify_url_params([NEW, OLD], "barcode", LEGACY_URL, now=NOW + 601)
    with pytest.raises(signing.BadSignature):
        signing.verify_url_params([NEW], "barcode", LEGACY_URL, now=NOW)
    with pytest.raises(signing.BadSignature):
        signing.verify_url_params([NEW, OLD], "barcode", dict(LEGACY_URL, barcode="39999000002"), now=NOW)


# --- the session cookie, through the app ---------------------------------------------------------

PROTECTED = "/api/v1/biblios"  # needs the catalogue permission
JSON = {"Accept": "application/json"}


def _sign_in(app: webtest.TestApp, userid: str, password: str) -> str:
    browser = webtest.TestApp(app.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    browser.post("/login", {"userid": userid, "password": password, "csrf_token": token}, status=303)
    return browser.cookies["kohaweb_session"]


def _status(app: webtest.TestApp, cookie: str) -> int:
    return app.get(PROTECTED, headers={"Cookie": f"kohaweb_session={cookie}", **JSON}, expect_errors=True).status_int


def test_session_cookie_survives_rotation_and_dies_with_its_secret(make_app, staff_user):
    userid, password, _ = staff_user("cat", "catalogue")
    cookie = _sign_in(make_app(), userid, password)  # signed with TEST_SECRET
    assert _status(make_app(), cookie) == 200
    rotated = make_app(**{"kohaweb.secret": NEW, "kohaweb.previous_secrets": TEST_SECRET})
    assert _status(rotated, cookie) == 200
    assert _status(make_app(**{"kohaweb.secret": NEW}), cookie) == 401  # the old secret removed
    tampered = cookie[:10] + ("A" if cookie[10] != "A" else "B") + cookie[11:]
    assert _status(make_app(), tampered) == 401


def test_session_cookie_of_kohaweb_0_2_is_still_read(make_app, staff_user):
    """A cookie as Pyramid's SignedCookieSessionFactory wrote it (webob's SignedSerializer,
    SHA-512, salt pyramid.session.) for the same session keeps the user signed in."""
    from pyramid.session import JSONSerializer
    from webob.cookies import SignedSerializer

    userid, password, _ = staff_user("cat", "catalogue")
    app = make_app()
    cookie = _sign_in(app, userid, password)
    state = signing.CookieSerializer(TEST_SECRET).loads(cookie.encode("ascii"))
    legacy = SignedSerializer(TEST_SECRET, "pyramid.session.", "sha512", serializer=JSONSerializer())
    old_cookie = legacy.dumps(state).decode("ascii")
    assert old_cookie != cookie
    assert _status(app, old_cookie) == 200
    assert _status(make_app(**{"kohaweb.secret": NEW, "kohaweb.previous_secrets": TEST_SECRET}), old_cookie) == 200
    other = SignedSerializer(OLD, "pyramid.session.", "sha512", serializer=JSONSerializer())
    assert _status(app, other.dumps(state).decode("ascii")) == 401  # signed by a secret the site never had

