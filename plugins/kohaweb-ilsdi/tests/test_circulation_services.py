"""RenewLoan, HoldTitle, HoldItem, CancelHold and every code they answer."""

from __future__ import annotations

import datetime as dt

from lxml import etree
from sqlalchemy import func, select

from kohaweb import circulation as circ
from kohaweb.catalog import Catalog
from kohaweb.models import CirculationRule, Hold, Library, OldHold, Patron
from kohaweb.preferences import set_preference


def _holds(dbsession) -> int:
    dbsession.rollback()
    return dbsession.scalar(select(func.count()).select_from(Hold))


def test_renew_loan(call, library, dbsession):
    loan = circ.checkout(dbsession, library["alice"], "B1")
    due = loan.date_due
    dbsession.commit()
    root = call("RenewLoan", patron_id=library["alice"], item_id=library["b1"], desired_due_date="2030-01-01")
    assert root.tag == "RenewLoan"
    new_due = due + dt.timedelta(days=14)
    assert (root.findtext("success"), root.findtext("renewals"), root.findtext("date_due")) == \
        ("1", "1", f"{new_due:%Y-%m-%d %H:%M}")
    assert root.find("error") is None and root.find("code") is None
    # someone else asking to renew alice's loan: not their loan
    root = call("RenewLoan", patron_id=library["bob"], item_id=library["b1"])
    assert (root.findtext("success"), root.findtext("error"), root.findtext("code")) == ("0", "no_checkout", "NotRenewable")
    root = call("RenewLoan", patron_id=library["alice"], item_id=library["b2"])
    assert (root.findtext("success"), root.findtext("error")) == ("0", "no_checkout")
    assert call("RenewLoan", patron_id="31337", item_id=library["b1"]).findtext("code") == "PatronNotFound"
    assert call("RenewLoan", patron_id=library["alice"], item_id="31337").findtext("code") == "RecordNotFound"


def test_renew_loan_refusal_reasons(call, library, dbsession):
    circ.checkout(dbsession, library["alice"], "B1")
    circ.place_hold(dbsession, library["bob"], library["book"])
    dbsession.commit()
    root = call("RenewLoan", patron_id=library["alice"], item_id=library["b1"])
    assert (root.findtext("success"), root.findtext("error"), root.findtext("renewals")) == ("0", "on_reserve", "0")
    dbsession.execute(Hold.__table__.delete())
    alice = dbsession.get(Patron, library["alice"])
    circ.restrict(dbsession, alice)
    dbsession.commit()
    assert call("RenewLoan", patron_id=library["alice"], item_id=library["b1"]).findtext("error") == "restriction"


def test_hold_title(call, library, dbsession):
    root = call("HoldTitle", patron_id=library["alice"], bib_id=library["book"], request_location="127.0.0.1",
                pickup_location="FFL", start_date=dt.date.today().isoformat(),
                expiry_date=(dt.date.today() + dt.timedelta(days=30)).isoformat())
    assert root.tag == "HoldTitle"
    assert (root.findtext("title"), root.findtext("pickup_location")) == ("Coral reefs", "Fairfield")
    assert _holds(dbsession) == 1
    hold = dbsession.scalar(select(Hold))
    assert (hold.branchcode, hold.itemnumber, hold.priority) == ("FFL", None, 1)
    assert hold.expirationdate == dt.date.today() + dt.timedelta(days=30)
    # default pickup: the patron's library; queue position 2
    root = call("HoldTitle", patron_id=library["bob"], bib_id=library["book"], request_location="x")
    assert root.findtext("pickup_location") == "Fairfield"
    assert sorted(h.priority for h in dbsession.scalars(select(Hold))) == [1, 2]


def test_hold_title_codes(call, library, dbsession):
    def code(**params):
        params.setdefault("request_location", "127.0.0.1")
        return call("HoldTitle", **params).findtext("code")

    alice, bob = library["alice"], library["bob"]
    assert code(patron_id="4242", bib_id=library["book"]) == "PatronNotFound"
    assert code(patron_id=alice, bib_id="4242") == "RecordNotFound"
    assert code(patron_id=alice, bib_id="abc") == "RecordNotFound"
    assert code(patron_id=alice, bib_id=library["empty"]) == "NoItems"
    assert code(patron_id=alice, bib_id=library["book"], pickup_location="NOWHERE") == "LocationNotFound"
    dbsession.get(Library, "MPL").pickup_location = False
    dbsession.commit()
    assert code(patron_id=alice, bib_id=library["book"], pickup_location="MPL") == "library_not_pickup_location"
    assert code(patron_id=alice, bib_id=library["book"], start_date="tomorrow") == "IllegalParameter"
    assert _holds(dbsession) == 0
    assert code(patron_id=alice, bib_id=library["book"]) is None
    # CanBookBeReserved's own status passes through
    assert code(patron_id=alice, bib_id=library["book"]) == "tooManyHoldsForThisRecord"
    dbsession.add(CirculationRule(itemtype="DVD", rule_name="reservesallowed", rule_value="0"))
    dbsession.commit()
    assert code(patron_id=alice, bib_id=library["dvd"]) == "noReservesAllowed"
    patron = dbsession.get(Patron, bob)
    patron.dateexpiry = dt.date.today() - dt.timedelta(days=1)
    dbsession.commit()
    assert code(patron_id=bob, bib_id=library["book"]) == "PatronExpired"
    set_preference(dbsession, "BlockExpiredPatronOpacActions", "renew")
    dbsession.commit()
    assert code(patron_id=bob, bib_id=library["book"]) is None
    circ.restrict(dbsession, dbsession.get(Patron, bob), expiration=dt.date.today() + dt.timedelta(days=7))
    dbsession.commit()
    assert code(patron_id=bob, bib_id=library["book"]) == "PatronRestricted"
    assert _holds(dbsession) == 2


def test_hold_item(call, library, dbsession):
    alice = library["alice"]

    def hold(**params):
        return call("HoldItem", **params)

    root = hold(patron_id=alice, bib_id=library["book"], item_id=library["b2"], pickup_location="CPL")
    assert root.tag == "HoldItem" and root.findtext("pickup_location") == "Centerville"
    assert dbsession.scalar(select(Hold.itemnumber)) == library["b2"]
    assert hold(patron_id=alice, bib_id=library["book"], item_id=library["b2"]).findtext("code") == "itemAlreadyOnHold"
    assert hold(patron_id=alice, bib_id=library["book"], item_id=library["d1"]).findtext("code") == "RecordNotFound"
    assert hold(patron_id=alice, bib_id="999", item_id=library["b1"]).findtext("code") == "RecordNotFound"
    assert hold(patron_id="999", bib_id=library["dvd"], item_id=library["d1"]).findtext("code") == "PatronNotFound"
    assert hold(patron_id=alice, bib_id=library["dvd"], item_id=library["d1"],
                pickup_location="XX").findtext("code") == "LocationNotFound"
    Catalog(dbsession).update_item(library["d1"], withdrawn=1)
    dbsession.commit()
    assert hold(patron_id=library["bob"], bib_id=library["dvd"], item_id=library["d1"]).findtext("code") == \
        "notReservable"
    assert _holds(dbsession) == 1


def test_cancel_hold(call, library, dbsession):
    mine = circ.place_hold(dbsession, library["alice"], library["book"]).reserve_id
    theirs = circ.place_hold(dbsession, library["bob"], library["book"]).reserve_id

    def cancel(patron, hold):
        root = call("CancelHold", patron_id=patron, item_id=hold)
        assert root.tag == "CancelHold"
        return root.findtext("code")

    assert cancel("999", mine) == "PatronNotFound"
    assert cancel(library["alice"], "999") == "RecordNotFound"
    assert cancel(library["alice"], theirs) == "BorrowerCannotCancelHold"
    assert cancel(library["alice"], mine) == "Canceled"
    assert dbsession.scalar(select(Hold.reserve_id).where(Hold.reserve_id == mine)) is None
    assert dbsession.get(OldHold, mine).cancellationdate is not None
    assert dbsession.get(Hold, theirs).priority == 1
    assert cancel(library["alice"], mine) == "RecordNotFound"
    # a hold waiting for pickup cannot be cancelled from the OPAC
    dbsession.get(Hold, theirs).found = "W"
    assert cancel(library["bob"], theirs) == "BorrowerCannotCancelHold"


def test_requests_as_vufind_kohailsdi_sends_them(app, call, library, dbsession):
    """VuFind's KohaILSDI driver builds query strings by hand with Koha's older date names and
    reads code, success, date_due and the loans/holds lists."""
    expiry = (dt.date.today() + dt.timedelta(days=20)).isoformat()
    query = (f"/cgi-bin/koha/ilsdi.pl?service=HoldTitle&patron_id={library['alice']}&bib_id={library['book']}"
             f"&request_location=127.0.0.1&pickup_location=CPL&pickup_expiry_date={expiry}")
    root = etree.fromstring(app.get(query).body)
    assert root.findtext("code") is None and root.findtext("pickup_location") == "Centerville"
    query = (f"/cgi-bin/koha/ilsdi.pl?service=HoldItem&patron_id={library['alice']}&bib_id={library['dvd']}"
             f"&item_id={library['d1']}&pickup_location=CPL&needed_before_date={expiry}&pickup_expiry_date={expiry}")
    assert etree.fromstring(app.get(query).body).findtext("code") is None
    dbsession.rollback()
    item_hold = dbsession.scalar(select(Hold).where(Hold.itemnumber == library["d1"]))
    assert item_hold.expirationdate.isoformat() == expiry
    # an empty date, as the driver sends when the patron gave none
    query = (f"/cgi-bin/koha/ilsdi.pl?service=HoldItem&patron_id={library['bob']}&bib_id={library['book']}"
             f"&item_id={library['b2']}&pickup_location=FFL&needed_before_date=&pickup_expiry_date=")
    assert etree.fromstring(app.get(query).body).findtext("pickup_location") == "Fairfield"
    holds = call("GetPatronInfo", patron_id=library["alice"], show_contact="0", show_holds="1").findall("holds/hold")
    assert sorted((h.findtext("biblionumber"), h.findtext("found")) for h in holds) == \
        sorted([(str(library["book"]), None), (str(library["dvd"]), None)])
