"""Catalog.move_item: an item (with its loan) joins another record; both records' OAI datestamps
move and the listeners hear about the item and about both records."""

from __future__ import annotations

import datetime as dt

import pytest

from kohaweb import circulation
from kohaweb.catalog import Catalog, NotFound
from kohaweb.hookspecs import hookimpl
from kohaweb.models import Biblio, Checkout, Item
from kohaweb.plugins import Hooks, new_manager


class Recorder:
    """Listens as the search backend and OAI set membership do."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    @hookimpl
    def item_changed(self, session, change) -> None:
        self.events.append(("item", change.action, change.itemnumber, change.biblionumber))

    @hookimpl
    def record_changed(self, session, change) -> None:
        self.events.append(("record", change.action, change.biblionumber))


@pytest.fixture
def recorded(dbsession):
    manager = new_manager()
    recorder = Recorder()
    manager.register(recorder, name="recorder")
    return Catalog(dbsession, hooks=Hooks(manager)), recorder


def test_move_item_updates_both_records(recorded, dbsession, sample_records, staff_user):
    catalog, recorder = recorded
    source_id, target_id = sample_records(2)
    item = dbsession.query(Item).filter(Item.biblionumber == source_id).order_by(Item.itemnumber).first()
    item.notforloan = item.itemlost = item.withdrawn = item.damaged = 0
    reader = staff_user("reader")[2]
    circulation.checkout(dbsession, reader, item.itemnumber)
    old = dt.datetime(2000, 1, 1)
    for number in (source_id, target_id):
        dbsession.get(Biblio, number).datestamp = old
    dbsession.commit()
    itemnumber = item.itemnumber

    moved = catalog.move_item(itemnumber, target_id)
    dbsession.commit()
    assert moved.biblionumber == target_id and moved.biblio.biblionumber == target_id
    dbsession.expunge_all()
    for number in (source_id, target_id):
        assert dbsession.get(Biblio, number).datestamp > old
    assert itemnumber in {i.itemnumber for i in dbsession.get(Biblio, target_id).items}
    assert itemnumber not in {i.itemnumber for i in dbsession.get(Biblio, source_id).items}
    assert dbsession.query(Checkout).filter(Checkout.itemnumber == itemnumber).one().borrowernumber == reader
    assert recorder.events == [("item", "updated", itemnumber, target_id),
                               ("record", "items", source_id), ("record", "items", target_id)]


def test_move_item_refuses_unknown_ids(catalog, dbsession, sample_records):
    (biblio_id,) = sample_records(1)
    itemnumber = dbsession.query(Item.itemnumber).filter(Item.biblionumber == biblio_id).first()[0]
    with pytest.raises(NotFound):
        catalog.move_item(999999, biblio_id)
    with pytest.raises(NotFound):
        catalog.move_item(itemnumber, 999999)
