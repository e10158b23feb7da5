"""Circulation in the core: loans, renewals, holds and their refusals, by the circulation rules."""

from __future__ import annotations

import datetime as dt

import pymarc
import pytest
from sqlalchemy import func, select

from kohaweb import circulation as circ
from kohaweb.circulation import CirculationError
from kohaweb.models import Biblio, Checkout, CirculationRule, Hold, Item, OldCheckout, OldHold, Patron
from kohaweb.models.base import utcnow
from kohaweb.preferences import set_preference


def _record(title: str, itype: str = "BK") -> pymarc.Record:
    record = pymarc.Record()
    record.add_field(pymarc.Field(tag="001", data=title.replace(" ", "")))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"),
                                  subfields=[pymarc.Subfield("a", title)]))
    record.add_field(pymarc.Field(tag="942", indicators=pymarc.Indicators(" ", " "),
                                  subfields=[pymarc.Subfield("c", itype)]))
    return record


@pytest.fixture
def world(dbsession, catalog, reference_data):
    """Two records (books with two items, a DVD with one), two patrons of category PT."""
    book = catalog.add_record(_record("Coral reefs"), items=[
        {"barcode": "B1", "homebranch": "CPL", "holdingbranch": "CPL", "itype": "BK", "itemcallnumber": "577.7 COR"},
        {"barcode": "B2", "homebranch": "FFL", "holdingbranch": "FFL", "itype": "BK"}])
    dvd = catalog.add_record(_record("Ocean film"), items=[
        {"barcode": "D1", "homebranch": "CPL", "holdingbranch": "CPL", "itype": "DVD"}])
    alice = Patron(cardnumber="A1", userid="alice", surname="Smith", branchcode="CPL", categorycode="PT",
                   dateexpiry=dt.date.today() + dt.timedelta(days=300))
    bob = Patron(cardnumber="B1X", userid="bob", surname="Jones", branchcode="FFL", categorycode="PT",
                 dateexpiry=dt.date.today() + dt.timedelta(days=300))
    dbsession.add_all([alice, bob])
    dbsession.commit()
    return {"book": book.biblionumber, "dvd": dvd.biblionumber, "alice": alice, "bob": bob,
            "b1": book.items[0], "b2": book.items[1], "d1": dvd.items[0]}


def test_most_specific_rule_wins(dbsession, reference_data):
    dbsession.add_all([CirculationRule(categorycode="ST", rule_name="issuelength", rule_value="28"),
                       CirculationRule(branchcode="FFL", rule_name="issuelength", rule_value="10"),
                       CirculationRule(categorycode="ST", itemtype="DVD", rule_name="issuelength", rule_value="3")])
    dbsession.flush()
    assert circ.get_rule(dbsession, "issuelength", branchcode="CPL", categorycode="PT", itemtype="BK") == "21"
    assert circ.get_rule(dbsession, "issuelength", branchcode="CPL", categorycode="PT", itemtype="DVD") == "7"
    assert circ.get_rule(dbsession, "issuelength", branchcode="CPL", categorycode="ST", itemtype="BK") == "28"
    assert circ.get_rule(dbsession, "issuelength", branchcode="CPL", categorycode="ST", itemtype="DVD") == "3"
    # the library outranks category and item type
    assert circ.get_rule(dbsession, "issuelength", branchcode="FFL", categorycode="ST", itemtype="DVD") == "10"
    assert circ.get_rule(dbsession, "no_such_rule") is None


def test_the_rules_of_a_scope_are_read_once_per_transaction_and_again_after_a_write(dbsession, world):
    from sqlalchemy import delete, event

    seen: list[str] = []
    engine = dbsession.get_bind()

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    scope = {"branchcode": "CPL", "categorycode": "PT", "itemtype": "BK"}
    dbsession.commit()  # nothing of the fixture's left to flush
    event.listen(engine, "before_cursor_execute", note)
    try:
        before = circ.get_rule(dbsession, "issuelength", **scope)
        circ.get_rule(dbsession, "maxissueqty", **scope)
        circ.get_rule(dbsession, "lengthunit", **scope)
        assert len([s for s in seen if "circulation_rules" in s]) == 1
        dbsession.add(CirculationRule(branchcode="CPL", itemtype="BK", rule_name="issuelength", rule_value="5"))
        dbsession.flush()
        assert circ.get_rule(dbsession, "issuelength", **scope) == "5"  # a rule added in the transaction
        dbsession.execute(delete(CirculationRule).where(CirculationRule.branchcode == "CPL"))
        assert circ.get_rule(dbsession, "issuelength", **scope) == before  # and one deleted by a statement
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_loan_reads_the_preferences_and_the_holds_once_each(dbsession, world):
    """CircControl and the visibility preferences come in one statement, the holds the loan
    looks at (set aside on the item, the patron's own on the record) in another, and on the
    server databases the loan's id costs no statement; a return reads the preferences once too."""
    from sqlalchemy import event

    seen: list[str] = []
    engine = dbsession.get_bind()

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    set_preference(dbsession, "CircControl", "PatronLibrary")
    set_preference(dbsession, "OpacHiddenItems", "withdrawn: [1]")
    dbsession.commit()
    event.listen(engine, "before_cursor_execute", note)
    try:
        circ.checkout(dbsession, world["alice"], "D1")
        dbsession.commit()
        assert len([s for s in seen if "systempreferences" in s]) == 1
        assert len([s for s in seen if "FROM reserves" in s]) == 1
        if engine.dialect.name != "sqlite":  # the loan's id is computed by the INSERT that stores it
            assert [s.split()[0] for s in seen if "checkout_ids" in s] == ["INSERT"]
            assert not [s for s in seen if "id_counters" in s]
        seen.clear()
        circ.checkin(dbsession, "D1")
        dbsession.commit()
        assert len([s for s in seen if "systempreferences" in s]) == 1
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_loan_and_a_return_flush_nothing_and_load_no_object(dbsession, world):
    """Given the patron's number and the item's barcode, a loan reads the few columns it decides
    on (no Patron object of 80 columns, no Item, Biblio or ItemType in the session), looks at
    loans, holds and rules as plain rows, and writes the loan and the item's change by Core
    statements: nothing is flushed, and the Checkout it returns is in the session as if loaded.
    A return takes the loan out of issues as it reads it and writes old_issues and the item the
    same way."""
    from sqlalchemy import event, inspect

    from kohaweb.models import ItemType

    flushes: list[int] = []
    alice = world["alice"].borrowernumber
    dbsession.commit()
    dbsession.expunge_all()
    event.listen(dbsession, "after_flush", lambda session, context: flushes.append(1))
    loan = circ.checkout(dbsession, alice, "D1")
    assert [type(o) for o in dbsession.identity_map.values()] == [Checkout]
    assert inspect(loan).persistent and not dbsession.dirty and not dbsession.new
    dbsession.commit()
    assert flushes == [] and loan.borrowernumber == alice and loan.unseen_renewals == 0
    stored = dbsession.execute(select(Checkout.__table__)).one()._asdict()
    assert stored == {c.key: getattr(loan, c.key) for c in Checkout.__table__.columns}
    old = circ.checkin(dbsession, "D1")
    assert loan not in dbsession  # the session lets the ended loan go
    assert [type(o) for o in dbsession.identity_map.values()] == [OldCheckout]
    assert not [o for o in dbsession.identity_map.values() if isinstance(o, (Patron, Item, Biblio, ItemType))]
    assert dbsession.scalar(select(func.count()).select_from(Checkout)) == 0
    dbsession.commit()
    assert flushes == []
    assert dbsession.scalar(select(OldCheckout.borrowernumber).where(OldCheckout.issue_id == loan.issue_id)) == alice
    assert old.issue_id == loan.issue_id and old.returndate is not None


def test_a_loan_fills_the_patrons_hold_on_the_item_before_one_on_the_record(dbsession, world):
    book, alice, bob = world["book"], world["alice"], world["bob"]
    on_record = circ.place_hold(dbsession, alice, book, pickup_branch="CPL", force=True)
    on_item = circ.place_hold(dbsession, alice, book, item=world["b1"], pickup_branch="CPL", force=True)
    others = circ.place_hold(dbsession, bob, book, pickup_branch="FFL")
    dbsession.commit()
    circ.checkout(dbsession, alice, "B1")
    dbsession.commit()
    assert dbsession.get(OldHold, on_item.reserve_id).found == "F"
    assert dbsession.get(Hold, on_record.reserve_id) is not None
    assert dbsession.get(Hold, others.reserve_id).priority == 2  # behind alice's remaining hold
    circ.checkout(dbsession, alice, "B2")
    assert dbsession.get(OldHold, on_record.reserve_id).found == "F"
    dbsession.commit()
    assert dbsession.get(Hold, others.reserve_id).priority == 1


def test_checkout_sets_due_date_and_item_and_checkin_moves_to_history(dbsession, world):
    item = world["d1"]
    before = dbsession.get(Biblio, world["dvd"]).datestamp
    loan = circ.checkout(dbsession, world["alice"], "D1")
    # DVDs: issuelength 7 days, due at 23:59 of the last day
    assert loan.date_due == dt.datetime.combine(utcnow().date() + dt.timedelta(days=7), dt.time(23, 59))
    dbsession.refresh(item)
    assert item.onloan == loan.date_due.date() and item.issues == 1 and item.datelastborrowed == utcnow().date()
    assert dbsession.get(Biblio, world["dvd"]).datestamp >= before
    assert not circ.item_availability(dbsession, item).available
    assert circ.item_availability(dbsession, item).message == "Checked out"
    old = circ.checkin(dbsession, item)
    assert old.issue_id == loan.issue_id and old.returndate is not None
    assert dbsession.scalar(select(func.count()).select_from(Checkout)) == 0
    assert dbsession.get(OldCheckout, loan.issue_id).borrowernumber == world["alice"].borrowernumber
    dbsession.refresh(item)
    assert item.onloan is None and circ.item_availability(dbsession, item).available
    with pytest.raises(CirculationError) as exc:
        circ.checkin(dbsession, item)
    assert exc.value.code == "not_checked_out"
    # ids are never reused: the next loan gets a new id even though issues is empty
    assert circ.checkout(dbsession, world["bob"], item).issue_id == loan.issue_id + 1


@pytest.mark.parametrize("change, code", [
    ({"itemlost": 1}, "ITEM_LOST"), ({"withdrawn": 1}, "WTHDRAWN"), ({"notforloan": 1}, "NOT_FOR_LOAN"),
    ({"itype": "REF"}, "NOT_FOR_LOAN"),
])
def test_checkout_refuses_unavailable_items(dbsession, catalog, world, change, code):
    catalog.update_item(world["b1"].itemnumber, **change)
    with pytest.raises(CirculationError) as exc:
        circ.checkout(dbsession, world["alice"], "B1")
    assert exc.value.code == code
    assert dbsession.scalar(select(func.count()).select_from(Checkout)) == 0


def test_checkout_refuses_patrons_and_double_loans(dbsession, world):
    alice, bob = world["alice"], world["bob"]
    circ.checkout(dbsession, alice, "B1")
    for patron, code in ((alice, "ALREADY_ISSUED"), (bob, "ISSUED_TO_ANOTHER")):
        with pytest.raises(CirculationError) as exc:
            circ.checkout(dbsession, patron, "B1")
        assert exc.value.code == code
    bob.dateexpiry = dt.date.today() - dt.timedelta(days=1)
    with pytest.raises(CirculationError, match="expired") as exc:
        circ.checkout(dbsession, bob, "B2")
    assert exc.value.code == "EXPIRED"
    bob.dateexpiry = None
    circ.restrict(dbsession, bob, comment="overdue fines")
    assert bob.debarred == dt.date(9999, 12, 31)
    with pytest.raises(CirculationError) as exc:
        circ.checkout(dbsession, bob, "B2")
    assert exc.value.code == "DEBARRED"
    with pytest.raises(CirculationError) as exc:
        circ.checkout(dbsession, alice, "NOPE")
    assert exc.value.code == "UNKNOWN_BARCODE"


def test_maxissueqty_limits_loans(dbsession, world):
    dbsession.add(CirculationRule(categorycode="PT", rule_name="maxissueqty", rule_value="1"))
    dbsession.flush()
    circ.checkout(dbsession, world["alice"], "B1")
    with pytest.raises(CirculationError) as exc:
        circ.checkout(dbsession, world["alice"], "B2")
    assert exc.value.code == "TOO_MANY" and exc.value.limit == 1


def test_renew_until_the_limit(dbsession, world):
    loan = circ.checkout(dbsession, world["alice"], "B1")  # books: 2 renewals of 14 days
    first_due = loan.date_due
    circ.renew(dbsession, "B1")
    assert loan.renewals_count == 1 and loan.date_due == first_due + dt.timedelta(days=14)
    circ.renew(dbsession, loan)
    assert loan.renewals_count == 2 and dbsession.get(Item, loan.itemnumber).renewals == 2
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, loan)
    assert exc.value.code == "too_many" and exc.value.limit == 2
    assert loan.renewals_count == 2
    # a DVD allows one renewal only
    dvd = circ.checkout(dbsession, world["alice"], "D1")
    circ.renew(dbsession, dvd)
    with pytest.raises(CirculationError, match="no more renewals"):
        circ.renew(dbsession, dvd)


def test_renew_refusals(dbsession, world):
    alice, bob = world["alice"], world["bob"]
    loan = circ.checkout(dbsession, alice, "B1")
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, "B2")
    assert exc.value.code == "no_checkout"
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, "B1", patron=bob)
    assert exc.value.code == "no_checkout"
    hold = circ.place_hold(dbsession, bob, world["book"], pickup_branch="FFL")
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, loan)
    assert exc.value.code == "on_reserve"
    circ.cancel_hold(dbsession, hold)
    alice.dateexpiry = dt.date.today() - dt.timedelta(days=2)
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, loan)
    assert exc.value.code == "card_expired"
    set_preference(dbsession, "BlockExpiredPatronOpacActions", "hold")
    circ.can_renew(dbsession, loan)  # now allowed
    alice.dateexpiry = None
    circ.restrict(dbsession, alice, expiration=dt.date.today() + dt.timedelta(days=3))
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, loan)
    assert exc.value.code == "restriction"
    set_preference(dbsession, "RestrictionBlockRenewing", "0")
    circ.can_renew(dbsession, loan)
    dbsession.add(CirculationRule(rule_name="norenewalbefore", rule_value="5"))
    dbsession.flush()
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, loan)
    assert exc.value.code == "too_soon"
    loan.date_due = utcnow() - dt.timedelta(days=1)
    set_preference(dbsession, "OverduesBlockRenewing", "block")
    with pytest.raises(CirculationError) as exc:
        circ.renew(dbsession, loan)
    assert exc.value.code == "overdue"


def test_holds_queue_and_cancellation(dbsession, world):
    alice, bob = world["alice"], world["bob"]
    first = circ.place_hold(dbsession, alice, world["book"], pickup_branch="FFL")
    second = circ.place_hold(dbsession, bob, world["book"])
    assert (first.priority, second.priority) == (1, 2)
    assert second.branchcode == "FFL" and first.itemnumber is None and not first.item_level_hold
    with pytest.raises(CirculationError) as exc:
        circ.cancel_hold(dbsession, first, patron=bob)
    assert exc.value.code == "BorrowerCannotCancelHold"
    old = circ.cancel_hold(dbsession, first, patron=alice, reason="changed my mind")
    assert isinstance(old, OldHold) and old.cancellationdate is not None
    assert dbsession.get(Hold, first.reserve_id) is None
    assert dbsession.get(OldHold, first.reserve_id).cancellation_reason == "changed my mind"
    assert second.priority == 1  # the queue moved up
    # an item-level hold makes that item "On hold"
    held = circ.place_hold(dbsession, alice, world["dvd"], item=world["d1"].itemnumber)
    assert held.item_level_hold and held.reserve_id > second.reserve_id
    assert circ.item_availability(dbsession, world["d1"]).message == "On hold"
    assert circ.holds_count(dbsession, itemnumber=world["d1"].itemnumber) == 1
    # the holder borrowing the item fills the hold
    circ.checkout(dbsession, alice, "D1")
    assert dbsession.get(Hold, held.reserve_id) is None
    assert dbsession.get(OldHold, held.reserve_id).found == "F"


def test_hold_refusals(dbsession, catalog, world):
    alice, bob = world["alice"], world["bob"]
    circ.place_hold(dbsession, alice, world["book"])
    with pytest.raises(CirculationError) as exc:
        circ.place_hold(dbsession, alice, world["book"])
    assert exc.value.code == "tooManyHoldsForThisRecord"
    for code, kwargs in (("libraryNotFound", {"pickup_branch": "NOPE"}),):
        with pytest.raises(CirculationError) as exc:
            circ.place_hold(dbsession, bob, world["dvd"], **kwargs)
        assert exc.value.code == code
    bob.dateexpiry = dt.date.today() - dt.timedelta(days=1)
    with pytest.raises(CirculationError) as exc:
        circ.place_hold(dbsession, bob, world["dvd"])
    assert exc.value.code == "expired"
    bob.dateexpiry = None
    circ.restrict(dbsession, bob)
    with pytest.raises(CirculationError) as exc:
        circ.place_hold(dbsession, bob, world["dvd"])
    assert exc.value.code == "debarred"
    # items that cannot be held
    catalog.update_item(world["d1"].itemnumber, itemlost=1)
    with pytest.raises(CirculationError) as exc:
        circ.can_place_hold(dbsession, alice, world["dvd"])
    assert exc.value.code == "notReservable"
    catalog.update_item(world["d1"].itemnumber, itemlost=0)
    dbsession.add(CirculationRule(itemtype="DVD", rule_name="holdallowed", rule_value="from_home_library"))
    dbsession.add(CirculationRule(categorycode="PT", rule_name="max_holds", rule_value="1"))
    dbsession.flush()
    with pytest.raises(CirculationError) as exc:
        circ.can_place_hold(dbsession, alice, world["dvd"])
    assert exc.value.code == "tooManyReserves"
    dbsession.execute(CirculationRule.__table__.delete().where(CirculationRule.rule_name == "max_holds"))
    dbsession.add(CirculationRule(itemtype="DVD", rule_name="reservesallowed", rule_value="0"))
    dbsession.flush()
    with pytest.raises(CirculationError) as exc:
        circ.can_place_hold(dbsession, alice, world["dvd"])
    assert exc.value.code == "noReservesAllowed"
    with pytest.raises(CirculationError) as exc:  # books are not limited by the DVD rule, but by holds_per_record
        circ.can_place_hold(dbsession, alice, world["book"], item=world["b1"])
    assert exc.value.code == "tooManyHoldsForThisRecord"


def test_cannot_reserve_from_other_branches_and_pickup_checks(dbsession, world):
    dbsession.add(CirculationRule(itemtype="DVD", rule_name="holdallowed", rule_value="from_home_library"))
    dbsession.flush()
    with pytest.raises(CirculationError) as exc:
        circ.can_place_hold(dbsession, world["bob"], world["dvd"])  # bob is from FFL, the DVD from CPL
    assert exc.value.code == "cannotReserveFromOtherBranches"
    circ.can_place_hold(dbsession, world["alice"], world["dvd"])
    from kohaweb.models import Library
    dbsession.get(Library, "MPL").pickup_location = False
    with pytest.raises(CirculationError) as exc:
        circ.place_hold(dbsession, world["alice"], world["dvd"], pickup_branch="MPL")
    assert exc.value.code == "libraryNotPickupLocation"
    with pytest.raises(CirculationError) as exc:
        circ.place_hold(dbsession, world["alice"], world["dvd"], item=world["b1"])
    assert exc.value.code == "itemNotInRecord"


def test_availability_order(dbsession, catalog, world):
    item = world["b1"]
    assert circ.item_availability(dbsession, item) == circ.Availability(True)
    catalog.update_item(item.itemnumber, damaged=1)
    assert circ.item_availability(dbsession, item).message == "Item damaged"
    catalog.update_item(item.itemnumber, withdrawn=1)
    assert circ.item_availability(dbsession, item).message == "Item withdrawn"
    catalog.update_item(item.itemnumber, itemlost=2)
    assert circ.item_availability(dbsession, item).message == "Item lost"
    catalog.update_item(item.itemnumber, notforloan=-1)
    assert circ.item_availability(dbsession, item).message == "Not for loan"


def test_services_for(dbsession, world):
    alice = world["alice"]
    loan = circ.checkout(dbsession, alice, "B1")
    services = circ.services_for(dbsession, alice, world["b1"])
    assert (services.title_hold, services.item_hold, services.hold_cancellation, services.renewal) == \
        (True, True, False, True)
    circ.place_hold(dbsession, alice, world["book"], item=world["b1"])
    loan.renewals_count = 2
    services = circ.services_for(dbsession, alice, world["b1"])
    assert (services.title_hold, services.item_hold, services.hold_cancellation, services.renewal) == \
        (False, False, True, False)
    assert services.reasons == {"title_hold": "tooManyHoldsForThisRecord", "item_hold": "itemAlreadyOnHold",
                                "renewal": "too_many"}


def _code(call, *args, **kwargs) -> str:
    with pytest.raises(CirculationError) as exc:
        call(*args, **kwargs)
    return exc.value.code


def test_remaining_hold_codes(dbsession, catalog, world):
    alice, bob = world["alice"], world["bob"]
    catalog.update_item(world["b1"].itemnumber, damaged=1)
    set_preference(dbsession, "AllowHoldsOnDamagedItems", "0")
    assert _code(circ.can_place_hold, dbsession, alice, world["book"], item=world["b1"]) == "damaged"
    set_preference(dbsession, "AllowHoldsOnDamagedItems", "1")
    circ.can_place_hold(dbsession, alice, world["book"], item=world["b1"])
    circ.checkout(dbsession, alice, "D1")
    set_preference(dbsession, "AllowHoldsOnPatronsPossessions", "0")
    assert _code(circ.place_hold, dbsession, alice, world["dvd"], item=world["d1"]) == "alreadypossession"
    dbsession.add(CirculationRule(rule_name="holds_per_day", rule_value="1"))
    dbsession.add(CirculationRule(itemtype="DVD", rule_name="hold_fulfillment_policy", rule_value="homebranch"))
    dbsession.flush()
    assert _code(circ.place_hold, dbsession, bob, world["dvd"], pickup_branch="FFL") == "pickupNotInHoldGroup"
    circ.place_hold(dbsession, bob, world["dvd"], pickup_branch="CPL")
    assert _code(circ.place_hold, dbsession, bob, world["book"]) == "tooManyReservesToday"
    assert _code(circ.place_hold, dbsession, alice, 424242) == "recordNotFound"
    empty = catalog.add_record(_record("Nothing to lend"), items=[])
    assert _code(circ.place_hold, dbsession, alice, empty.biblionumber) == "noItems"
    today = dt.date.today()
    assert _code(circ.place_hold, dbsession, alice, world["book"], reservedate=today,
                 expirationdate=today - dt.timedelta(days=1)) == "invalidDates"
    assert _code(circ.cancel_hold, dbsession, 424242) == "holdNotFound"
    alice.lost = True
    assert _code(circ.place_hold, dbsession, alice, world["book"]) == "card_lost"
    assert dbsession.scalar(select(func.count()).select_from(Hold)) == 1


def test_remaining_loan_codes(dbsession, world):
    alice, bob = world["alice"], world["bob"]
    bob.gonenoaddress = True
    assert _code(circ.checkout, dbsession, bob, "B2") == "GNA"
    bob.gonenoaddress, bob.lost = False, True
    assert _code(circ.checkout, dbsession, bob, "B2") == "CARD_LOST"
    bob.lost = False
    hold = circ.place_hold(dbsession, alice, world["book"], item=world["b2"])
    hold.found, hold.waitingdate = "W", dt.date.today()
    assert _code(circ.checkout, dbsession, bob, "B2") == "RESERVE_WAITING"
    loan = circ.checkout(dbsession, alice, "B2")  # the holder takes it: the hold is filled
    assert dbsession.get(OldHold, hold.reserve_id).found == "F"
    loan.onsite_checkout = True
    assert _code(circ.renew, dbsession, loan) == "onsite_checkout"
    loan.onsite_checkout, loan.auto_renew = False, True
    assert _code(circ.renew, dbsession, loan) == "auto_renew"
    assert _code(circ.renew, dbsession, "NOPE") == "UNKNOWN_BARCODE"
    assert _code(circ.checkout, dbsession, 424242, "B1") == "PATRON_NOT_FOUND"


def test_reservesallowed_per_item_type_counts_that_type(dbsession, catalog, world):
    bob = world["bob"]
    # title-level holds count by the record's type (Koha: biblioitems.itemtype)
    first_dvd, second_dvd = (catalog.add_record(_record(title, "DVD"), items=[
        {"barcode": barcode, "homebranch": "FFL", "holdingbranch": "FFL", "itype": "DVD"}])
        for title, barcode in (("River film", "D2"), ("Island film", "D3")))
    dbsession.add(CirculationRule(itemtype="DVD", rule_name="reservesallowed", rule_value="1"))
    dbsession.flush()
    circ.place_hold(dbsession, bob, world["book"])  # a book hold does not count against DVDs
    circ.place_hold(dbsession, bob, first_dvd.biblionumber)
    with pytest.raises(CirculationError) as exc:
        circ.place_hold(dbsession, bob, second_dvd.biblionumber)
    assert exc.value.code == "tooManyReserves" and exc.value.limit == 1


def test_trap_hold_on_checkin(dbsession, world):
    alice, bob = world["alice"], world["bob"]
    circ.checkout(dbsession, alice, "B1")
    first = circ.place_hold(dbsession, bob, world["book"], pickup_branch="CPL")
    carol = Patron(cardnumber="C1", surname="Third", branchcode="MPL", categorycode="PT")
    dbsession.add(carol)
    dbsession.flush()
    second = circ.place_hold(dbsession, carol, world["book"], pickup_branch="MPL")
    assert circ.trap_hold(dbsession, "B1") is None  # still on loan
    circ.checkin(dbsession, "B1", branchcode="CPL")
    trapped = circ.trap_hold(dbsession, "B1", branchcode="CPL")
    assert trapped.reserve_id == first.reserve_id
    assert (trapped.found, trapped.itemnumber, trapped.priority, trapped.waitingdate) == \
        ("W", world["b1"].itemnumber, 0, dt.date.today())
    assert second.priority == 1
    assert circ.item_availability(dbsession, world["b1"]).message == "On hold"
    assert _code(circ.checkout, dbsession, alice, "B1") == "RESERVE_WAITING"
    assert not circ.can_cancel_hold(dbsession, trapped, bob)
    # the next copy returned elsewhere goes in transit to the next patron's pickup library
    circ.checkout(dbsession, alice, "B2")
    circ.checkin(dbsession, "B2", branchcode="FFL")
    moving = circ.trap_hold(dbsession, "B2", branchcode="FFL")
    assert (moving.reserve_id, moving.found, moving.waitingdate) == (second.reserve_id, "T", None)
    assert circ.item_availability(dbsession, world["b2"]).message == "In transit"
    # the holder borrows the waiting item: the hold is filled
    circ.checkout(dbsession, bob, "B1")
    assert dbsession.get(OldHold, first.reserve_id).found == "F"


def test_two_holds_placed_at_once_on_one_record_take_consecutive_places(dbsession, world, engine):
    """The second hold waits for the first's transaction (the record's row is locked) and counts
    it: places 1 and 2, never 1 and 1."""
    import threading

    from kohaweb.db import for_writing, make_session_factory

    factory = make_session_factory(for_writing(engine))
    placed_first, errors = threading.Event(), []
    places: dict[str, int] = {}

    def first():
        try:
            with factory() as session:
                places["alice"] = circ.place_hold(session, world["alice"].borrowernumber, world["book"],
                                                  pickup_branch="CPL").priority
                placed_first.set()
                threading.Event().wait(0.5)  # the second is meanwhile waiting for this transaction
                session.commit()
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
            placed_first.set()

    def second():
        placed_first.wait(10)
        try:
            with factory() as session:
                places["bob"] = circ.place_hold(session, world["bob"].borrowernumber, world["book"],
                                                pickup_branch="FFL").priority
                session.commit()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert places == {"alice": 1, "bob": 2}
    dbsession.rollback()
    assert sorted(h.priority for h in dbsession.scalars(select(Hold).where(Hold.biblionumber == world["book"]))) == [1, 2]
