"""The dispatcher: self-documentation, access control, parameter checks, error statuses."""

from __future__ import annotations

import pytest
from kohaweb_ilsdi.access import client_address, parse_networks
from kohaweb_ilsdi.protocol import SERVICES
from lxml import etree, html

from kohaweb.settings import ConfigError


@pytest.mark.parametrize("path", ["/ilsdi", "/cgi-bin/koha/ilsdi.pl"])
def test_self_documentation_lists_every_service(app, path):
    page = html.fromstring(app.get(path).body)
    links = {a.text for a in page.iter("a")}
    assert set(SERVICES) <= links
    assert "Search (Use SRU instead)" in page.text_content()
    assert "HTTP status 200, errors included" in page.text_content()
    for name, service in SERVICES.items():
        described = html.fromstring(app.get(path, {"service": "Describe", "verb": name}).body)
        text = described.text_content()
        assert described.findtext(".//h1") == f"ILS-DI: {name}"
        for param in service.required:
            assert param in [dt.text for dt in described.iter("dt")]
        assert etree.fromstring(described.findtext(".//pre").encode()) is not None  # the sample is real XML
        assert service.example in text


def test_documentation_needs_no_authorised_address(ilsdi):
    app = ilsdi(**{"ilsdi.authorized_ips": ""})
    assert b"GetAvailability" in app.get("/ilsdi").body


def test_describe_unknown_verb_is_not_supported(call):
    root = call("Describe", verb="Frobnicate")
    assert root.tag == "ilsdi" and root.findtext("message") == "NotSupported"


def test_unknown_service_is_not_supported(call):
    root = call("Frobnicate")
    assert root.tag == "ilsdi" and root.findtext("message") == "NotSupported" and root.find("code") is None


def test_empty_list_allows_nobody(ilsdi):
    app = ilsdi(**{"ilsdi.authorized_ips": ""})
    root = etree.fromstring(app.get("/ilsdi", {"service": "GetPatronStatus", "patron_id": "1"}).body)
    assert root.tag == "ilsdi"
    assert root.findtext("code") == "NotAllowed"
    assert root.findtext("message") == "Unauthorized IP address: 127.0.0.1."


ADDRESSES = [("192.168.10.20", True), ("192.168.11.1", False), ("10.1.2.3", True), ("2001:db8::17", True),
             ("2001:db9::1", False), ("::ffff:10.1.2.3", True), ("garbage", False)]


def test_addresses_and_networks(ilsdi):
    app = ilsdi(**{"ilsdi.authorized_ips": "192.168.10.0/24, 10.1.2.3 2001:db8::/32"})
    for remote, allowed in ADDRESSES:
        body = app.get("/ilsdi", {"service": "GetPatronStatus", "patron_id": "999"},
                       extra_environ={"REMOTE_ADDR": remote}).body
        code = etree.fromstring(body).findtext("code")
        assert code == ("PatronNotFound" if allowed else "NotAllowed"), remote


def test_forwarded_for_only_from_trusted_proxies(ilsdi):
    app = ilsdi(**{"ilsdi.authorized_ips": "203.0.113.7", "ilsdi.trusted_proxies": "10.0.0.1"})
    params = {"service": "GetPatronStatus", "patron_id": "999"}

    def code(remote, forwarded):
        environ = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
        return etree.fromstring(app.get("/ilsdi", params, extra_environ=environ).body).findtext("code")

    assert code("10.0.0.1", "203.0.113.7") == "PatronNotFound"
    # a client claiming to be authorised by sending the header itself is not believed
    assert code("198.51.100.9", "203.0.113.7") == "NotAllowed"
    # through the proxy, the forged left-most entry is ignored: the proxy's own right-most entry counts
    assert code("10.0.0.1", "203.0.113.7, 198.51.100.9") == "NotAllowed"
    assert code("10.0.0.1", "not-an-address") == "NotAllowed"
    message = etree.fromstring(app.get("/ilsdi", params, extra_environ={
        "REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.9"}).body).findtext("message")
    assert message == "Unauthorized IP address: 198.51.100.9."


def test_core_trusted_proxies_are_used_by_default(ilsdi):
    app = ilsdi(**{"ilsdi.authorized_ips": "203.0.113.7", "kohaweb.trusted_proxies": "10.0.0.0/8"})
    body = app.get("/ilsdi", {"service": "GetPatronStatus", "patron_id": "999"},
                   extra_environ={"REMOTE_ADDR": "10.2.3.4", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}).body
    assert etree.fromstring(body).findtext("code") == "PatronNotFound"


def test_client_address_walks_proxy_chain():
    trusted = parse_networks(["10.0.0.0/8"], "x")
    assert str(client_address("10.0.0.1", "1.2.3.4, 10.0.0.5", trusted)[0]) == "1.2.3.4"
    assert str(client_address("[2001:db8::1]:443", None, trusted)[0]) == "2001:db8::1"


def test_bad_network_fails_start_up(ilsdi):
    with pytest.raises(ConfigError, match="ilsdi.authorized_ips: '10.0.0.300' is not an IP address"):
        ilsdi(**{"ilsdi.authorized_ips": "10.0.0.300"})


def test_missing_illegal_and_repeated_parameters(app, call):
    root = call("GetRecords")
    assert root.tag == "GetRecords"
    assert (root.findtext("code"), root.findtext("message")) == \
        ("MissingParameter", "The required parameter id is missing.")
    root = call("GetRecords", id="1", colour="red")
    assert (root.findtext("code"), root.findtext("message")) == ("IllegalParameter", "The parameter colour is illegal.")
    root = etree.fromstring(app.get("/ilsdi?service=GetRecords&id=1&id=2").body)
    assert (root.findtext("code"), root.findtext("message")) == \
        ("MultipleValuesNotAllowed", "Multiple values not allowed for the parameter id.")
    # several problems: the last check's message wins, as in Koha
    root = etree.fromstring(app.get("/ilsdi?service=HoldTitle&colour=red&colour=blue").body)
    assert root.findtext("code") == "MultipleValuesNotAllowed" and "colour" in root.findtext("message")
    root = call("HoldTitle", colour="red")
    assert root.findtext("code") == "IllegalParameter"
    # an empty value is present
    assert call("GetRecords", id="").findtext("code") is None


def test_post_is_accepted(call, library):
    root = call("LookupPatron", method="POST", id="A0001")
    assert root.findtext("id") == str(library["alice"])
    root = call("LookupPatron", method="POST", path="/cgi-bin/koha/ilsdi.pl", id="bob", id_type="userid")
    assert root.findtext("id") == str(library["bob"])


def test_non_utf8_parameters(app):
    root = etree.fromstring(app.get("/ilsdi?service=LookupPatron&id=%ff%fe").body)
    assert root.findtext("code") == "IllegalParameter"


def test_errors_can_use_http_status(ilsdi):
    app = ilsdi(**{"ilsdi.http_error_status": "true"})
    assert b"HTTP status 400" in app.get("/ilsdi").body
    assert app.get("/ilsdi", {"service": "GetRecords"}, status=400).content_type == "text/xml"
    app.get("/ilsdi", {"service": "Nope"}, status=400)
    closed = ilsdi(**{"ilsdi.http_error_status": "true", "ilsdi.authorized_ips": "10.9.9.9"})
    body = closed.get("/ilsdi", {"service": "GetRecords", "id": "1"}, status=403).body
    assert etree.fromstring(body).findtext("code") == "NotAllowed"


def test_default_status_is_always_200(app):
    for params in ({"service": "GetRecords"}, {"service": "Nope"}, {"service": "GetRecords", "id": "1", "x": "1"}):
        assert app.get("/ilsdi", params).status_int == 200
