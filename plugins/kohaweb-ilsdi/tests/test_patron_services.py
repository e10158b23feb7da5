"""LookupPatron, AuthenticatePatron, GetPatronInfo, GetPatronStatus, GetServices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from kohaweb import circulation as circ
from kohaweb.models import AccountLine, Patron, PatronAttribute, PatronAttributeType

from .conftest import PASSWORD

LOOKUPS = [("cardnumber", "A0001"), ("userid", "alice"), ("email", "alice@example.org"), ("surname", "Smith"),
           ("firstname", "Alice"), ("city", "Centerville"), (None, "A0001"), (None, "alice"),
           (None, "alice@example.org"), (None, "Smith"), (None, "Alice")]


def test_lookup_patron(call, library):
    for id_type, value in LOOKUPS:
        params = {"id": value} if id_type is None else {"id": value, "id_type": id_type}
        root = call("LookupPatron", **params)
        assert root.tag == "LookupPatron" and root.findtext("id") == str(library["alice"]), (id_type, value)


def test_lookup_patron_by_number_and_not_found(call, library):
    assert call("LookupPatron", id=library["bob"]).findtext("id") == str(library["bob"])
    assert call("LookupPatron", id=library["bob"], id_type="borrowernumber").findtext("id") == str(library["bob"])
    for params in ({"id": "nobody"}, {"id": ""}, {"id": "A0001", "id_type": "userid"},
                   {"id": "A0001", "id_type": "no_such_column; DROP TABLE borrowers"},
                   {"id": "x", "id_type": "password"}, {"id": "99999999999999999999", "id_type": "borrowernumber"},
                   {"id": "not-a-date", "id_type": "dateexpiry"}):
        root = call("LookupPatron", **params)
        assert root.findtext("message") == "PatronNotFound" and root.find("id") is None


def test_authenticate_patron(call, library, dbsession):
    root = call("AuthenticatePatron", username="alice", password=PASSWORD)
    assert root.tag == "AuthenticatePatron" and root.findtext("id") == str(library["alice"])
    dbsession.rollback()  # end any read snapshot, then look
    assert dbsession.get(Patron, library["alice"]).lastseen is not None
    assert call("AuthenticatePatron", username="B0001", password=PASSWORD).findtext("id") == str(library["bob"])
    for username, password in (("alice", "wrong"), ("nobody", PASSWORD), ("", "")):
        root = call("AuthenticatePatron", username=username, password=password)
        assert root.findtext("code") == "PatronNotFound" and root.find("id") is None


def test_authenticate_patron_password_expired(call, library, dbsession):
    dbsession.get(Patron, library["bob"]).password_expiration_date = dt.date.today() - dt.timedelta(days=1)
    root = call("AuthenticatePatron", username="bob", password=PASSWORD)
    assert root.findtext("code") == "PasswordExpired" and root.find("id") is None
    # a wrong password does not reveal the expiry
    assert call("AuthenticatePatron", username="bob", password="nope").findtext("code") == "PatronNotFound"
    assert dbsession.get(Patron, library["bob"]).lastseen is None
    dbsession.get(Patron, library["bob"]).password_expiration_date = dt.date.today()
    assert call("AuthenticatePatron", username="bob", password=PASSWORD).findtext("id") == str(library["bob"])


def test_get_patron_info_base_and_contact(call, library, dbsession):
    dbsession.add(AccountLine(borrowernumber=library["alice"], amount=Decimal("2.5"),
                              amountoutstanding=Decimal("2.5"), description="Overdue", debit_type_code="OVERDUE"))
    dbsession.commit()
    root = call("GetPatronInfo", patron_id=library["alice"])
    assert root.tag == "GetPatronInfo"
    assert root.findtext("borrowernumber") == str(library["alice"]) and root.findtext("cardnumber") == "A0001"
    assert root.find("userid") is None and root.find("password") is None
    assert root.findtext("charges") == "2.50" and root.findtext("branchname") == "Centerville"
    assert root.findtext("is_expired") == "0" and root.findtext("email") == "alice@example.org"
    assert root.find("fines") is None and root.find("holds") is None and root.find("loans") is None
    hidden = call("GetPatronInfo", patron_id=library["alice"], show_contact="0")
    for name in ("email", "phone", "address", "city"):
        assert hidden.find(name) is None
    assert hidden.findtext("surname") == "Smith"
    fines = call("GetPatronInfo", patron_id=library["alice"], show_fines="1").findall("fines/fine")
    assert [(f.findtext("description"), f.findtext("amountoutstanding")) for f in fines] == [("Overdue", "2.500000")]
    for bad in ("0", "x", "99999"):
        assert call("GetPatronInfo", patron_id=bad).findtext("code") == "PatronNotFound"


def test_get_patron_info_expired(call, library, dbsession):
    dbsession.get(Patron, library["bob"]).dateexpiry = dt.date.today() - dt.timedelta(days=1)
    dbsession.commit()
    assert call("GetPatronInfo", patron_id=library["bob"]).findtext("is_expired") == "1"


def test_get_patron_info_holds_loans_attributes(call, library, dbsession):
    title_hold = circ.place_hold(dbsession, library["alice"], library["dvd"], pickup_branch="FFL")
    item_hold = circ.place_hold(dbsession, library["alice"], library["book"], item=library["b2"])
    for barcode in ("B1", "D1"):
        circ.checkout(dbsession, library["alice"], barcode)
    circ.place_hold(dbsession, library["bob"], library["dvd"])
    dbsession.add_all([PatronAttributeType(code="SHOW", description="Shown", opac_display=True),
                       PatronAttributeType(code="HIDE", description="Hidden", opac_display=False)])
    dbsession.flush()
    dbsession.add_all([PatronAttribute(borrowernumber=library["alice"], code="SHOW", attribute="visible"),
                       PatronAttribute(borrowernumber=library["alice"], code="HIDE", attribute="secret")])
    dbsession.commit()
    root = call("GetPatronInfo", patron_id=library["alice"], show_holds="1", show_loans="1", show_attributes="1")
    holds = root.findall("holds/hold")
    by_id = {h.findtext("reserve_id"): h for h in holds}
    # alice's D1 checkout filled her title-level hold on the DVD; the item hold on B2 remains
    assert set(by_id) == {str(item_hold.reserve_id)}
    assert str(title_hold.reserve_id) not in by_id
    hold = by_id[str(item_hold.reserve_id)]
    assert hold.findtext("title") == "Coral reefs" and hold.findtext("branchname") == "Centerville"
    assert hold.findtext("item/barcode") == "B2" and hold.findtext("item/title") == "Coral reefs"
    loans = root.findall("loans/loan")
    assert sorted(loan.findtext("barcode") for loan in loans) == ["B1", "D1"]
    dvd_loan = next(loan for loan in loans if loan.findtext("barcode") == "D1")
    assert dvd_loan.findtext("title") == "Ocean film" and dvd_loan.findtext("holds_on_record") == "1"
    assert dvd_loan.findtext("holds_on_item") == "0" and dvd_loan.findtext("date_due").endswith("23:59:00")
    assert root.find("total_loans") is None
    attributes = root.findall("attributes")
    assert [(a.findtext("code"), a.findtext("value"), a.findtext("description")) for a in attributes] == \
        [("SHOW", "visible", "Shown")]
    page = call("GetPatronInfo", patron_id=library["alice"], show_loans="1", loans_per_page="1", loans_page="2")
    assert page.findtext("total_loans") == "2" and len(page.findall("loans/loan")) == 1
    default = call("GetPatronInfo", patron_id=library["alice"], show_loans="1", loans_page="1")
    assert len(default.findall("loans/loan")) == 2
    bad = call("GetPatronInfo", patron_id=library["alice"], show_loans="1", loans_page="-1")
    assert bad.findtext("code") == "IllegalParameter" and "loans_page" in bad.findtext("message")


def test_title_level_hold_has_empty_item(call, library, dbsession):
    circ.place_hold(dbsession, library["bob"], library["book"])
    dbsession.commit()
    hold = call("GetPatronInfo", patron_id=library["bob"], show_holds="1").find("holds/hold")
    assert hold.find("item") is not None and len(hold.find("item")) == 0
    assert hold.findtext("itemnumber") is None and hold.findtext("priority") == "1"


def test_get_patron_status(call, library):
    root = call("GetPatronStatus", patron_id=library["alice"])
    assert root.tag == "GetPatronStatus"
    assert (root.findtext("type"), root.findtext("status")) == ("PT", "0")
    assert root.findtext("expiry") == (dt.date.today() + dt.timedelta(days=300)).isoformat()
    assert call("GetPatronStatus", patron_id="424242").findtext("code") == "PatronNotFound"


def test_get_services(call, library, dbsession):
    def available(patron, item):
        root = call("GetServices", patron_id=patron, item_id=item)
        assert root.tag == "GetServices"
        return [e.text for e in root.findall("AvailableFor")]

    assert available(library["alice"], library["b1"]) == ["title level hold", "item level hold"]
    circ.checkout(dbsession, library["alice"], "B1")
    hold = circ.place_hold(dbsession, library["alice"], library["book"], item=library["b1"])
    dbsession.commit()
    assert available(library["alice"], library["b1"]) == ["hold cancellation", "loan renewal"]
    circ.cancel_hold(dbsession, hold)
    dbsession.commit()
    assert available(library["alice"], library["b1"]) == ["title level hold", "item level hold", "loan renewal"]
    circ.restrict(dbsession, dbsession.get(Patron, library["bob"]))
    dbsession.commit()
    assert available(library["bob"], library["b1"]) == []
    assert call("GetServices", patron_id="0", item_id=library["b1"]).findtext("code") == "PatronNotFound"
    assert call("GetServices", patron_id=library["alice"], item_id="777").findtext("code") == "RecordNotFound"
