"""ILS-DI under hostile input (issue 22): ids of 5,000 digits, one id repeated 5,000 times, id
lists over ``ilsdi.max_ids``, control characters, and a database outage. Each answer is
ILS-DI's own (HTTP 200 as Koha, or 503 with Retry-After while the database is away)."""

from __future__ import annotations

import webtest
from lxml import etree

from kohaweb.app import make_app as build_app
from kohaweb.testing import make_settings
from kohaweb.testing_outage import outage_engine

from .conftest import DLF, LOCAL

HUGE = "9" * 5000


def test_ids_of_5000_digits_are_not_found(call, library):
    for service, extra in (("GetRecords", {}), ("GetAuthorityRecords", {}), ("GetAvailability", {"id_type": "bib"}),
                           ("GetAvailability", {"id_type": "item"})):
        root = call(service, id=f"{HUGE} {library['book']}", **extra)
        assert root is not None
    records = call("GetRecords", id=f"{HUGE} {library['book']}").findall("record")
    assert [r.findtext("code") for r in records] == ["RecordNotFound", None]
    availability = call("GetAvailability", id=HUGE, id_type="bib")
    assert availability.findtext(".//dlf:availabilitystatus", namespaces=DLF) == "unknown"
    for service, param in (("GetPatronInfo", "patron_id"), ("GetPatronStatus", "patron_id")):
        assert call(service, **{param: HUGE}).findtext("code") == "PatronNotFound"
    assert call("LookupPatron", id=HUGE, id_type="borrowernumber").findtext("message") == "PatronNotFound"
    assert call("GetRecords", id="²").findtext("record/code") == "RecordNotFound"  # a digit int() refuses
    assert call("GetPatronInfo", patron_id=library["alice"], show_loans=1, loans_page=HUGE).findtext("code") == \
        "IllegalParameter"


def test_one_id_repeated_5000_times_is_answered_once(call, library):
    root = call("GetRecords", id=" ".join([str(library["book"])] * 5000))
    assert len(root.findall("record")) == 1
    assert root.findtext("record/biblionumber") == str(library["book"])
    both = call("GetAvailability", id=" ".join([str(library["dvd"]), str(library["book"])] * 2500), id_type="bib")
    assert [b.get("id") for b in both.iterfind(".//dlf:bibliographic", DLF)] == \
        [str(library["dvd"]), str(library["book"])]


def test_id_lists_over_the_limit_are_illegal(ilsdi, library):
    app = ilsdi(**{"ilsdi.max_ids": "3"})
    for service, extra in (("GetRecords", {}), ("GetAvailability", {"id_type": "bib"}), ("GetAuthorityRecords", {})):
        response = app.get("/ilsdi", {"service": service, "id": "1 2 3 4", **extra})
        root = etree.fromstring(response.body)
        assert response.status_int == 200 and root.tag == service
        assert root.findtext("code") == "IllegalParameter" and "at most 3" in root.findtext("message")
        assert app.get("/ilsdi", {"service": service, "id": "1 2 3 3 3 2", **extra}).status_int == 200
        assert etree.fromstring(app.get("/ilsdi", {"service": service, "id": "1 2 3 3 3 2", **extra}).body) \
            .findtext("code") != "IllegalParameter"
    strict = ilsdi(**{"ilsdi.max_ids": "3", "ilsdi.http_error_status": "true"})
    strict.get("/ilsdi", {"service": "GetRecords", "id": "1 2 3 4"}, status=400)


def test_control_characters_are_answered(call, library):
    root = call("GetAvailability", id="\x01\x02 \x7f", id_type="item")
    assert root.findtext(".//dlf:availabilitystatus", namespaces=DLF) == "unknown"
    assert call("GetRecords", id="\x0b").findtext("record/code") == "RecordNotFound"
    assert call("LookupPatron", id="\x01", id_type="cardnumber").findtext("message") == "PatronNotFound"


def test_database_outage_is_an_ilsdi_error_with_retry_after(database_url, tmp_path, library):
    with outage_engine(database_url, tmp_path) as (engine, cut, restore):
        app = webtest.TestApp(build_app(make_settings(database_url, ["ilsdi"], **{
            "ilsdi.authorized_ips": "127.0.0.1", "kohaweb.retry_after": "9"}), engine=engine),
            extra_environ=dict(LOCAL))
        params = {"service": "GetRecords", "id": str(library["book"])}
        assert etree.fromstring(app.get("/ilsdi", params).body).findtext("record/biblionumber") == str(library["book"])
        cut()
        down = app.get("/ilsdi", params, status=503)
        assert down.headers["Retry-After"] == "9" and down.content_type == "text/xml"
        root = etree.fromstring(down.body)
        assert root.tag == "GetRecords" and root.findtext("code") == "ServiceUnavailable"
        restore()
        assert etree.fromstring(app.get("/ilsdi", params).body).findtext("record/biblionumber") == str(library["book"])
