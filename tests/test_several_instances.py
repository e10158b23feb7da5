"""Several kohaweb instances on one database behind one address (a load balancer sends each
request to any of them): everything a client holds works on every instance, and what one
instance ends is ended on all of them at once. Each instance here is a whole application built
from the same settings, sharing nothing but the database, as two `kohaweb serve` processes do."""

from __future__ import annotations

import itertools
import re
import time

import pytest
import webtest

JSON = {"Accept": "application/json"}


@pytest.fixture
def instances(make_app):
    settings = {"kohaweb.auth.basic": "true", "oai.max_count": "4"}
    return [make_app(["oai", "apikeys"], settings=settings) for _ in range(2)]


def test_a_harvest_whose_pages_alternate_between_instances(instances, sample_records):
    numbers = sample_records(11)
    time.sleep(1.1)  # OAI-PMH lists what changed before the current second
    turn = itertools.cycle(instances)
    params = {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"}
    seen = []
    while True:
        body = next(turn).get("/cgi-bin/koha/oai.pl", params).text
        seen += re.findall(r"<identifier>[^<]*:(\d+)</identifier>", body)
        token = re.search(r"<resumptionToken[^>]*>([^<]+)</resumptionToken>", body)
        if token is None:
            break
        params = {"verb": "ListIdentifiers", "resumptionToken": token.group(1)}
    assert sorted(map(int, seen)) == sorted(numbers)  # each exactly once


def _signed_in(instance, userid: str, password: str) -> str:
    browser = webtest.TestApp(instance.app)
    form = browser.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    browser.post("/login", {"userid": userid, "password": password, "csrf_token": csrf}, status=303)
    return browser.cookies["kohaweb_session"]


def test_a_session_from_one_instance_is_honoured_and_ended_by_the_other(instances, staff_user):
    first, second = instances
    userid, password, number = staff_user("clerk", "catalogue")
    cookie = {"Cookie": f"kohaweb_session={_signed_in(first, userid, password)}", **JSON}
    assert second.get(f"/api/v1/patrons/{number}", headers=cookie, expect_errors=True).status_int != 401

    # sign out through the second instance: the first refuses the cookie at once
    browser = webtest.TestApp(second.app)
    browser.set_cookie("kohaweb_session", cookie["Cookie"].split("=", 1)[1])
    page = browser.get("/").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    browser.post("/logout", {"csrf_token": csrf}, status=302)
    assert first.get(f"/api/v1/patrons/{number}", headers=cookie, expect_errors=True).status_int == 401


def test_a_token_minted_by_one_instance_works_on_the_other_until_revoked_there(instances, staff_user, dbsession):
    from kohaweb_apikeys.keys import create_key

    first, second = instances
    _userid, _password, number = staff_user("integrator", "catalogue")
    fresh = create_key(dbsession, number, "discovery layer")
    dbsession.commit()
    client_id, secret = fresh.key.client_id, fresh.secret
    token = first.post("/api/v1/oauth/token", {"grant_type": "client_credentials", "client_id": client_id,
                                               "client_secret": secret}).json["access_token"]
    bearer = {"Authorization": f"Bearer {token}", **JSON}
    for instance in instances:  # the first use on each instance, and a second (cached, if anything is)
        assert instance.get("/api/v1/libraries", headers=bearer).status_int == 200
        assert instance.get("/api/v1/libraries", headers=bearer).status_int == 200

    # the key is revoked through the second instance; neither accepts the token afterwards
    owner = {"Authorization": "Basic " + __import__("base64").b64encode(b"integrator:correct horse battery")
             .decode(), **JSON}
    revoked = second.post_json(f"/api/v1/patrons/{number}/api_keys/{client_id}/revoke", {}, headers=owner,
                               expect_errors=True)
    assert revoked.status_int in (200, 204), revoked.text
    for instance in instances:
        assert instance.get("/api/v1/libraries", headers=bearer, expect_errors=True).status_int == 401
