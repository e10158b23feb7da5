"""The data layer: ids, datestamps, deleted-record history, items."""

from __future__ import annotations

import datetime as dt

import pymarc
import pytest
from sqlalchemy import delete, select, text

from kohaweb.catalog import CatalogError, NotFound
from kohaweb.models import Biblio, DeletedBiblio, DeletedBiblioMetadata, DeletedItem, IdCounter, Item
from kohaweb.sampledata import generate_records


def record(title: str = "A title") -> pymarc.Record:
    rec = pymarc.Record()
    rec.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                               subfields=[pymarc.Subfield("a", title + " /")]))
    rec.add_field(pymarc.Field(tag="020", indicators=pymarc.Indicators(" ", " "),
                               subfields=[pymarc.Subfield("a", "9780306406157")]))
    return rec


def test_add_update_delete_keep_history(catalog, dbsession, reference_data):
    biblio = catalog.add_record(record("First"))
    dbsession.commit()
    assert biblio.title == "First" and biblio.isbn == "9780306406157" and biblio.flavour == "MARC21"
    item = catalog.add_item(biblio.biblionumber, barcode="B1", homebranch="CPL", holdingbranch="CPL", itype="BK")
    catalog.update_record(biblio.biblionumber, record("Second"))
    dbsession.commit()
    assert catalog.get(biblio.biblionumber).title == "Second"
    deleted = catalog.delete_record(biblio.biblionumber)
    dbsession.commit()
    assert catalog.get(biblio.biblionumber) is None
    assert deleted.title == "Second" and deleted.deleted_on is not None
    assert dbsession.get(DeletedBiblioMetadata, biblio.biblionumber).metadata_xml.count("Second") == 1
    assert dbsession.get(DeletedItem, item.itemnumber).barcode == "B1"
    with pytest.raises(NotFound):
        catalog.delete_record(biblio.biblionumber)


def test_ids_never_go_backwards_even_if_the_counter_is_lost(catalog, dbsession, reference_data):
    first = catalog.add_record(record()).biblionumber
    second = catalog.add_record(record()).biblionumber
    dbsession.commit()
    catalog.delete_record(second)
    dbsession.commit()
    # a restored backup without the counter row, or a server restart, must not reuse `second`
    dbsession.execute(delete(IdCounter))
    dbsession.commit()
    third = catalog.add_record(record()).biblionumber
    dbsession.commit()
    assert first < second < third


def test_item_changes_move_the_records_datestamp(catalog, dbsession, reference_data):
    biblio = catalog.add_record(record())
    dbsession.commit()
    old = dt.datetime(2000, 1, 1)
    biblio.datestamp = old
    dbsession.commit()
    item = catalog.add_item(biblio.biblionumber, barcode="X", homebranch="CPL", itype="BK")
    dbsession.commit()
    assert catalog.get(biblio.biblionumber).datestamp > old
    biblio.datestamp = old
    dbsession.commit()
    catalog.update_item(item.itemnumber, itemcallnumber="QA 76")
    dbsession.commit()
    assert catalog.get(biblio.biblionumber).datestamp > old
    with pytest.raises(CatalogError):
        catalog.update_item(item.itemnumber, no_such_column=1)


def test_embedded_items_become_rows_and_unknown_codes_are_created(catalog, dbsession, reference_data):
    generated = next(generate_records(1, seed=4))
    rec = generated.record
    rec.add_field(pymarc.Field(tag="952", indicators=pymarc.Indicators(" ", " "), subfields=[
        pymarc.Subfield("a", "NEWLIB"), pymarc.Subfield("b", "NEWLIB"), pymarc.Subfield("p", "EMB-1"),
        pymarc.Subfield("y", "NEWTYPE"), pymarc.Subfield("7", "1")]))
    biblio = catalog.add_record(rec)
    dbsession.commit()
    items = dbsession.scalars(select(Item).where(Item.biblionumber == biblio.biblionumber)).all()
    assert [(i.barcode, i.homebranch, i.itype, i.notforloan) for i in items] == [("EMB-1", "NEWLIB", "NEWTYPE", 1)]
    stored = catalog.marc(biblio.biblionumber)
    assert not stored.get_fields("952"), "items are stored as rows, not in the MARC"
    assert catalog.marc(biblio.biblionumber, with_items=True).get_fields("952")


def test_invalid_record_is_refused(catalog):
    with pytest.raises(CatalogError, match="no fields"):
        catalog.add_record(pymarc.Record())
    with pytest.raises(CatalogError, match="invalid MARCXML"):
        catalog.add_record("<not-xml")


def test_deleted_rows_keep_their_ids(catalog, dbsession, sample_records):
    ids = sample_records(5)
    catalog.delete_record(ids[2])
    dbsession.commit()
    assert dbsession.get(DeletedBiblio, ids[2]) is not None
    assert sorted(dbsession.scalars(select(Biblio.biblionumber))) == [i for i in ids if i != ids[2]]


def test_delete_item_with_items_not_loaded(catalog, dbsession, reference_data, session_factory):
    biblio = catalog.add_record(record())
    item = catalog.add_item(biblio.biblionumber, barcode="D1", homebranch="CPL", itype="BK")
    catalog.add_item(biblio.biblionumber, barcode="D2", homebranch="CPL", itype="BK")
    dbsession.commit()
    from kohaweb.catalog import Catalog

    with session_factory() as fresh:  # nothing loaded: the item list is read lazily
        Catalog(fresh).delete_item(item.itemnumber)
        fresh.commit()
        assert [i.barcode for i in Catalog(fresh).get(biblio.biblionumber).items] == ["D2"]
    assert dbsession.get(DeletedItem, item.itemnumber) is not None


def test_imported_item_status_codes_that_are_not_numbers(catalog, dbsession, reference_data):
    rec = record()
    rec.add_field(pymarc.Field(tag="952", indicators=pymarc.Indicators(" ", " "), subfields=[
        pymarc.Subfield("a", "CPL"), pymarc.Subfield("p", "L4-1"), pymarc.Subfield("7", "L4")]))
    biblio = catalog.add_record(rec)
    dbsession.commit()
    assert [i.notforloan for i in catalog.get(biblio.biblionumber).items] == [0]
    with pytest.raises(CatalogError, match="must be a number"):
        catalog.update_item(catalog.get(biblio.biblionumber).items[0].itemnumber, notforloan="L4")


def test_the_counters_own_commit_does_not_wait_for_the_disk_and_nothing_else_inherits_that(dbsession, engine):
    # the counter's short transaction commits asynchronously (the caller's commit makes it
    # durable); the setting is local to it, so the pooled connection commits durably afterwards
    from kohaweb.db import autonomous

    if engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit: PostgreSQL")
    with autonomous(dbsession) as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
        raw = conn.connection.dbapi_connection  # the driver's connection, back in the pool after
    assert dbsession.execute(text("SHOW synchronous_commit")).scalar() == "on"
    try:  # whoever the pool hands this connection to next commits durably again
        assert raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    finally:
        raw.rollback()
