"""kohaweb.formats.load_records: the one page loader of OAI-PMH lists and SRU searchRetrieve."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, select

from kohaweb import visibility
from kohaweb.catalog import item_dict
from kohaweb.formats import RecordSource, StoredRecord, load_records
from kohaweb.models import Biblio, Item


def count_selects(session) -> list[str]:
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute",
                 lambda conn, cursor, statement, *args: seen.append(statement) if statement.startswith("SELECT")
                 else None)
    return seen


def test_live_records_of_a_page(dbsession, catalog, sample_records):
    numbers = sample_records(4)
    catalog.delete_record(numbers[1])
    dbsession.commit()
    page = [numbers[3], numbers[1], numbers[0], 999_999, numbers[3]]
    found = load_records(dbsession, page)
    assert set(found) == {numbers[0], numbers[3]}  # deleted and unknown numbers are absent
    for number, record in found.items():
        biblio = dbsession.get(Biblio, number)
        assert isinstance(record, StoredRecord) and record.biblionumber == number
        assert record.flavour == biblio.flavour and record.marcxml == biblio.metadata_row.metadata_xml
        assert record.items is None and record.hidden is False
        assert record.datestamp == biblio.datestamp.replace(tzinfo=None) and record.datestamp.tzinfo is None
        assert isinstance(record.datestamp, dt.datetime)
        source = record.source(dbsession)
        assert source == RecordSource(number, biblio.flavour, biblio.metadata_row.metadata_xml, None, dbsession)
    assert load_records(dbsession, []) == {}


def test_items_in_itemnumber_order_as_item_dicts(dbsession, sample_records):
    numbers = sample_records(3)
    dbsession.expunge_all()  # read back from the database, as a request's session would
    found = load_records(dbsession, numbers, with_items=True)
    for number in numbers:
        rows = list(dbsession.scalars(select(Item).where(Item.biblionumber == number).order_by(Item.itemnumber)))
        expected = [item_dict(i) for i in rows]
        assert found[number].items == expected
        assert found[number].source().items == found[number].items


def test_two_statements_whatever_the_page_size(dbsession, sample_records):
    numbers = sample_records(12)
    dbsession.commit()
    statements = count_selects(dbsession)
    load_records(dbsession, numbers, with_items=True)
    assert len(statements) == 2
    statements.clear()
    load_records(dbsession, numbers[:3])
    assert len(statements) == 1


def test_pages_of_every_size_find_their_records(dbsession, sample_records, monkeypatch):
    """The numbers are bound one by one, padded to a power of two, up to a size; beyond it, in
    one expanding parameter: every size finds exactly its page's live records."""
    from kohaweb.formats import pages

    numbers = sample_records(9)
    dbsession.commit()
    for size in range(1, 10):
        assert set(load_records(dbsession, [999_999] + numbers[:size])) == set(numbers[:size])
    monkeypatch.setattr(pages, "MOST_BOUND_ONE_BY_ONE", 4)
    assert set(load_records(dbsession, numbers + [999_999])) == set(numbers)


def test_items_the_viewer_sees(dbsession, hidden_catalogue):
    ids = hidden_catalogue
    every = [ids.open, ids.suppressed, ids.all_hidden, ids.bare]
    public = load_records(dbsession, every, with_items=True, viewer=visibility.public_viewer(dbsession))
    assert [i["itemnumber"] for i in public[ids.open].items] == [ids.open_shown]
    assert public[ids.all_hidden].items == [] and public[ids.bare].items == []
    assert public[ids.suppressed].hidden and public[ids.all_hidden].hidden
    assert not public[ids.open].hidden and not public[ids.bare].hidden
    everything = load_records(dbsession, every, with_items=True)  # no viewer: every item
    assert [i["itemnumber"] for i in everything[ids.open].items] == [ids.open_shown, ids.open_hidden]
    assert [i["itemnumber"] for i in everything[ids.all_hidden].items] == ids.hidden_items
    staff = visibility.Viewer(visibility.load_policy(dbsession), staff=True)
    assert load_records(dbsession, every, with_items=True, viewer=staff) == everything
