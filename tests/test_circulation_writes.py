"""How a loan and a return write (Catalog.update_item_columns): Core statements, the record's
and the item's change in one statement on PostgreSQL and MariaDB, the visibility kept, the
listeners told what the ORM path told them, and objects the session holds kept in step."""

from __future__ import annotations

import datetime as dt

import pymarc
import pytest
from sqlalchemy import event

from kohaweb import circulation as circ
from kohaweb.catalog import Catalog
from kohaweb.hookspecs import hookimpl
from kohaweb.models import Biblio, Item, Patron
from kohaweb.plugins import Hooks, new_manager
from kohaweb.preferences import set_preference


def _record(title: str) -> pymarc.Record:
    record = pymarc.Record()
    record.add_field(pymarc.Field(tag="001", data=title.replace(" ", "")))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"),
                                  subfields=[pymarc.Subfield("a", title)]))
    return record


@pytest.fixture
def desk(dbsession, catalog, reference_data):
    """A record with one item at CPL, a patron; the record's datestamp long ago."""
    biblio = catalog.add_record(_record("Tide tables"), items=[
        {"barcode": "T1", "homebranch": "CPL", "holdingbranch": "CPL", "itype": "BK"}])
    patron = Patron(cardnumber="C1", userid="carol", surname="Reed", branchcode="CPL", categorycode="PT",
                    dateexpiry=dt.date.today() + dt.timedelta(days=300))
    dbsession.add(patron)
    biblio.datestamp = dt.datetime(2000, 1, 1)
    dbsession.commit()
    numbers = {"biblio": biblio.biblionumber, "item": biblio.items[0].itemnumber, "patron": patron.borrowernumber}
    dbsession.expunge_all()
    return numbers


class Recorder:
    def __init__(self) -> None:
        self.items: list[tuple] = []
        self.records: list[tuple] = []
        self.committed: list[list] = []

    @hookimpl
    def item_changed(self, session, change) -> None:
        self.items.append((change.action, change.itemnumber, change.item.onloan, change.item.holdingbranch))

    @hookimpl
    def record_changed(self, session, change) -> None:
        self.records.append((change.action, change.biblionumber, change.item_columns, change.visibility_changed,
                             change.biblio.hidden_from_public))

    @hookimpl
    def changes_committed(self, changes) -> None:
        self.committed.append([(c.action, getattr(c, "item", None) or c.biblio) for c in changes])


def _statements(dbsession):
    seen: list[str] = []
    engine = dbsession.get_bind()

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    return seen, lambda: event.remove(engine, "before_cursor_execute", note)


def test_a_loan_writes_the_record_and_the_item_in_one_statement_on_server_databases(dbsession, desk):
    seen, stop = _statements(dbsession)
    try:
        circ.checkout(dbsession, desk["patron"], "T1")
        dbsession.commit()
        loan_writes = [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "DELETE", "WITH")]
        dbsession.execute(Biblio.__table__.update().values(datestamp=dt.datetime(2000, 1, 1)))  # to be written again
        dbsession.commit()
        seen.clear()
        circ.checkin(dbsession, "T1")
        dbsession.commit()
        return_writes = [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "DELETE", "WITH")]
    finally:
        stop()
    if dbsession.get_bind().dialect.name == "sqlite":
        assert [s.split()[:3] for s in loan_writes[-3:]] == [
            ["INSERT", "INTO", "issues"], ["UPDATE", "biblio", "SET"], ["UPDATE", "items", "SET"]]
        return
    # the loan: its INSERT (its id from the sequence), then one statement for the record and the item
    assert len(loan_writes) == 2 and loan_writes[0].startswith("INSERT INTO issues")
    assert "biblio" in loan_writes[1] and "items" in loan_writes[1]
    # the return: the loan out of issues, into old_issues, then the record and the item at once
    assert len(return_writes) == 3
    assert return_writes[0].startswith("DELETE FROM issues") and return_writes[1].startswith("INSERT INTO old_issues")
    assert "biblio" in return_writes[2] and "items" in return_writes[2]


def test_the_record_row_is_written_only_when_its_datestamp_or_visibility_changes(dbsession, desk, monkeypatch):
    """As the ORM's flush did: a return in the second of the loan leaves the record's row alone."""
    import kohaweb.catalog as catalog_module

    now = dt.datetime(2030, 5, 1, 12, 0, 0)
    monkeypatch.setattr(catalog_module, "utcnow", lambda: now)
    seen, stop = _statements(dbsession)
    try:
        circ.checkout(dbsession, desk["patron"], "T1")
        circ.checkin(dbsession, "T1")
        dbsession.commit()
    finally:
        stop()
    writes = [s for s in seen if " biblio " in f" {s} " and ("UPDATE biblio" in s or "UPDATE items, biblio" in s)]
    assert len(writes) == 1  # the loan's; the return's datestamp is the same second
    assert dbsession.get(Biblio, desk["biblio"]).datestamp == now


def test_a_loan_elsewhere_hides_the_record_when_the_rules_hide_its_only_item(dbsession, desk):
    set_preference(dbsession, "OpacHiddenItems", "holdingbranch: [FFL]")
    dbsession.commit()
    manager = new_manager()
    recorder = Recorder()
    manager.register(recorder, name="recorder")
    catalog = Catalog(dbsession, hooks=Hooks(manager))
    circ.checkout(dbsession, desk["patron"], "T1", branchcode="FFL", catalog=catalog)
    dbsession.commit()
    biblio = dbsession.get(Biblio, desk["biblio"])
    assert biblio.hidden_from_public and biblio.datestamp > dt.datetime(2000, 1, 1)
    item = desk["item"]
    assert recorder.items[0][:3] == ("updated", item, dbsession.get(Item, item).onloan)
    assert recorder.items[0][3] == "FFL"
    action, number, columns, visibility_changed, hidden = recorder.records[0]
    assert (action, number, visibility_changed, hidden) == ("items", desk["biblio"], True, True)
    assert columns == frozenset({"onloan", "issues", "datelastborrowed", "datelastseen", "holdingbranch"})
    # the listener after commit gets the objects, loaded before the commit
    assert [action for action, _ in recorder.committed[0]] == ["updated", "items"]
    assert isinstance(recorder.committed[0][0][1], Item) and isinstance(recorder.committed[0][1][1], Biblio)
    circ.checkin(dbsession, "T1", branchcode="CPL", catalog=catalog)
    dbsession.commit()
    assert not dbsession.get(Biblio, desk["biblio"]).hidden_from_public
    assert {"onloan", "holdingbranch"} <= recorder.records[-1][2] <= {"onloan", "datelastseen", "holdingbranch"}
    assert recorder.records[-1][3:] == (True, False)


def test_objects_the_session_holds_get_the_values_written(dbsession, desk):
    """The command line passes Item objects, and trap_hold reads the item after the return."""
    item = dbsession.get(Item, desk["item"])
    biblio = item.biblio
    loan = circ.checkout(dbsession, desk["patron"], item, branchcode="FFL")
    assert item.onloan == loan.date_due.date() and item.holdingbranch == "FFL" and item.issues == 1
    assert biblio.datestamp > dt.datetime(2000, 1, 1) and item in biblio.items
    assert not dbsession.dirty
    dbsession.commit()
    circ.checkin(dbsession, item, branchcode="CPL")
    assert item.onloan is None and item.holdingbranch == "CPL"
    dbsession.commit()
    dbsession.expire_all()
    assert item.onloan is None and item.holdingbranch == "CPL" and item.issues == 1


def test_an_item_with_unflushed_changes_goes_through_update_item(dbsession, desk):
    dbsession.autoflush = False
    try:
        item = dbsession.get(Item, desk["item"])
        item.itemnotes = "spine taped"  # pending, not flushed
        circ.checkout(dbsession, desk["patron"], item)
        dbsession.commit()
    finally:
        dbsession.autoflush = True
    dbsession.expire_all()
    assert item.itemnotes == "spine taped" and item.onloan is not None


def test_mariadb_by_either_name_updates_the_record_with_the_item():
    """SQLAlchemy names MariaDB's dialect ``mysql`` (mysql+pymysql://) or ``mariadb``
    (mariadb+pymysql://): both write the record's row in the item's UPDATE."""
    from sqlalchemy.dialects import mysql

    from kohaweb.catalog import _item_statement

    for name in ("mysql", "mariadb"):
        sql = str(_item_statement(name, ("onloan",), ("datestamp",)).compile(dialect=mysql.dialect()))
        assert sql.startswith("UPDATE items, biblio SET"), sql
