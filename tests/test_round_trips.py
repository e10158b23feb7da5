"""What a request pays in database round trips: preferences read together, read-only sessions
without BEGIN/ROLLBACK on PostgreSQL, pooled connections pinged only after a rest, and relevance
order that counts the catalogue only when it weighs words against each other."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import create_engine, event, select, text

from kohaweb import db, search
from kohaweb.catalog import Catalog
from kohaweb.models import SystemPreference
from kohaweb.preferences import get_preferences, set_preference
from kohaweb.search import Clause, postings, ranking
from kohaweb.search.query import evaluator_for
from kohaweb.testing import selected_backend

server_only = pytest.mark.skipif(selected_backend() == "sqlite", reason="a server's connections only")


@contextlib.contextmanager
def _statements(dbsession) -> Iterator[list[str]]:
    """The statements sent on ``dbsession``'s engine meanwhile, whitespace folded."""
    seen: list[str] = []
    engine = dbsession.get_bind()

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_preferences_are_read_together_case_insensitively(dbsession):
    set_preference(dbsession, "SearchIndexStatus", "Ready")
    dbsession.add(SystemPreference(variable="includeseefrominsearches", value="1"))  # as a hand-made row
    dbsession.flush()
    values = get_preferences(dbsession, ["SearchIndexStatus", "IncludeSeeFromInSearches", "NoSuchPreference"])
    assert values == {"SearchIndexStatus": "Ready", "IncludeSeeFromInSearches": "1", "NoSuchPreference": None}
    state = search.search_state(dbsession)
    assert state.ready and state.see_from


def test_search_state_reports_a_rebuild_and_see_from_off(dbsession):
    state = search.search_state(dbsession)
    assert (state.status, state.see_from) == ("ready", False)  # absent: ready, Koha's default off
    set_preference(dbsession, "SearchIndexStatus", "rebuilding")
    set_preference(dbsession, "IncludeSeeFromInSearches", "0")
    set_preference(dbsession, "SearchIndexMultiNumbers", "0")
    state = search.search_state(dbsession)
    assert not state.ready and state.status == "rebuilding" and not state.see_from and not state.multi_numbers
    set_preference(dbsession, "SearchIndexMultiNumbers", "1")  # read in the same statement
    assert search.search_state(dbsession) == search.SearchState("rebuilding", False, True)


def _records(dbsession, titles):
    import pymarc

    records = []
    for title in titles:
        record = pymarc.Record(leader="00000nam a2200000 a 4500")
        record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                      subfields=[pymarc.Subfield("a", title)]))
        records.append(record)
    ids = [b.biblionumber for b in Catalog(dbsession).add_records(records)]
    dbsession.commit()
    return ids


def test_one_word_is_ranked_without_counting_the_catalogue(dbsession, reference_data, monkeypatch):
    once, thrice, twice = _records(dbsession, ["Tide tables", "Tide, tide and tide", "Tide and tide"])
    counted = []
    real_size = postings.size
    monkeypatch.setattr(postings, "size", lambda session: counted.append(1) or real_size(session))
    # one word: its idf is the same for every record, so only how often it occurs orders them
    assert search.search(dbsession, Clause("title", "=", "tide"), rank=True).ids == [thrice, twice, once]
    assert counted == []
    # two words weigh against each other by how rare each is: the catalogue is counted, by the
    # statement that reads the first word (no statement of its own)
    ranked = search.search(dbsession, Clause("title", "=", "tide tables", frozenset({"relevant"})), rank=True).ids
    assert ranked[0] == once and counted == []
    # asked apart, when the search's reads did not bring it, the count is the same
    evaluator = evaluator_for(dbsession, ranked=True)
    assert ranking.order(dbsession, Clause("title", "=", "tide tables", frozenset({"relevant"})),
                         np.array(sorted([once, twice, thrice])), evaluator).tolist()[0] == once
    assert len(counted) == 1


def test_the_count_read_with_a_word_is_the_index_size(dbsession, reference_data):
    assert postings.docs_of(dbsession, [("title", "tide")], sized=True)[1] == 0  # nothing indexed yet
    ids = _records(dbsession, ["Tide tables", "Tide and tide", "Harbour tides", "Low water"])
    Catalog(dbsession).delete_record(ids[1])  # a deletion marker in _all, not yet folded
    dbsession.commit()
    assert postings.size(dbsession) == 3
    keyed, total = postings.docs_and_keys_of(dbsession, [("title", "tide"), postings.HIDDEN], sized=True)
    assert total == 3 and keyed[("title", "tide")][0].tolist() == [ids[0]]
    plain, total = postings.docs_of(dbsession, [("title", "tide"), postings.HIDDEN], sized=True)
    assert total == 3 and plain[("title", "tide")].tolist() == [ids[0]]
    assert postings.docs_of(dbsession, [("title", "tide")])[1] is None  # not asked for


@server_only
def test_read_sessions_run_without_a_transaction_on_the_servers(engine, clean_db):
    factory = db.make_session_factory(engine)
    reader = db.new_session(factory, read=True)
    try:
        reader.execute(select(1))
        connection = reader.connection().connection.dbapi_connection
        if selected_backend() == "postgresql":
            assert connection.autocommit is True  # no BEGIN, no ROLLBACK
        elif selected_backend() == "mariadb":
            assert connection.get_autocommit() is True  # a connection of the readers' own pool
            if hasattr(connection, "client_flag"):  # mysqlclient: made without the site's local files
                assert not connection.client_flag & 128  # CLIENT.LOCAL_FILES
    finally:
        reader.close()
    writer = db.new_session(factory)
    try:  # the pooled connection is back to transactions for the next user
        writer.execute(select(1))
        if selected_backend() == "postgresql":
            assert writer.connection().connection.dbapi_connection.autocommit is False
        elif selected_backend() == "mariadb":
            assert writer.connection().connection.dbapi_connection.get_autocommit() is False
    finally:
        writer.rollback()
        writer.close()


def test_reading_and_writing_engines_are_made_once_on_their_own_pool(database_url, tmp_path):
    """Each request's session takes its engine's reading or writing variant: made once per engine
    (building one per request cost 3% of an SRU search's CPU), on that engine's pool, also after
    ``dispose`` replaced the pool, and never another engine's (a replica's reads stay on it).
    MariaDB's readers have a pool of their own (``for_reading``), disposed with the engine's."""
    primary, other = db.make_engine(database_url), db.make_engine(f"sqlite:///{tmp_path}/other.db")
    own_readers = selected_backend() == "mariadb"
    try:
        for variant in (db.for_reading, db.for_writing):
            assert variant(primary) is variant(primary)
            assert variant(other) is not variant(primary) and variant(other).pool is other.pool
            with variant(primary).connect() as conn:
                conn.execute(select(1))
            primary.dispose()
            if own_readers and variant is db.for_reading:
                assert variant(primary).pool is not primary.pool and variant(primary).pool.checkedin() == 0
                assert variant(primary).url == primary.url
            else:
                assert variant(primary).pool is primary.pool
        reader = db.new_session(db.make_session_factory(primary), read=True)
        try:
            assert reader.get_bind() is db.for_reading(primary) and reader.execute(select(1)).scalar() == 1
        finally:
            reader.close()
    finally:
        primary.dispose()
        other.dispose()


def _server_id(connection) -> int:
    query = "SELECT pg_backend_pid()" if selected_backend() == "postgresql" else "SELECT CONNECTION_ID()"
    return int(connection.execute(text(query)).scalar())


def _drop(database_url: str, server_id: int) -> None:
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if selected_backend() == "postgresql":
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": server_id})
        else:
            conn.execute(text(f"KILL {server_id}"))
    admin.dispose()


@server_only
def test_a_connection_dropped_while_resting_is_replaced_on_checkout(database_url, monkeypatch):
    engine = db.make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            first = _server_id(conn)
        _drop(database_url, first)  # a server restart or an idle timeout, while it sits in the pool
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
        time.sleep(0.05)
        with engine.connect() as conn:
            second = _server_id(conn)  # the ping found it gone and the pool connected anew
        assert second != first
    finally:
        engine.dispose()


@server_only
def test_only_rested_connections_are_pinged(database_url, monkeypatch):
    engine = db.make_engine(database_url, pool_size=1)
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi_connection: pings.append(1) or real_ping(dbapi_connection))
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
        assert pings == []  # a new connection needs no ping
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 3600.0)
        with engine.connect() as conn:
            conn.execute(select(1))
        assert pings == []  # used moments ago: no round trip
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
        with engine.connect() as conn:
            conn.execute(select(1))
        assert pings == [1]
    finally:
        engine.dispose()


def test_a_ranked_page_is_the_same_slice_of_the_whole_order(dbsession, reference_data):
    # many ties (the same title several times) around every page edge: record number breaks them
    titles = [f"Tide {'tide ' * (n % 3)}tables {n}" for n in range(25)]
    _records(dbsession, titles)
    node = Clause("title", "=", "tide")
    whole = search.search(dbsession, node, limit=100, rank=True).ids
    assert len(whole) == 25
    for offset in range(0, 25, 4):
        for limit in (1, 3, 7):
            page = search.search(dbsession, node, offset=offset, limit=limit, rank=True).ids
            assert page == whole[offset:offset + limit], (offset, limit)


def test_a_preference_is_read_once_per_transaction_and_again_after_a_write(dbsession):
    from kohaweb.preferences import get_preference

    set_preference(dbsession, "CircControl", "PatronLibrary")
    dbsession.commit()
    with _statements(dbsession) as seen:
        assert get_preference(dbsession, "CircControl") == "PatronLibrary"
        assert get_preference(dbsession, "circcontrol") == "PatronLibrary"  # names match whatever their case
        assert len([s for s in seen if "systempreferences" in s]) == 1
        set_preference(dbsession, "CircControl", "PickupLibrary")  # the session's own write is seen
        assert get_preference(dbsession, "CircControl") == "PickupLibrary"
        dbsession.execute(text("UPDATE systempreferences SET value = 'ItemHomeLibrary' WHERE variable = 'CircControl'"))
        assert get_preference(dbsession, "CircControl") == "ItemHomeLibrary"  # and a statement's
        row = dbsession.scalar(select(SystemPreference).where(SystemPreference.variable == "CircControl"))
        row.value = "PatronLibrary"  # and an ORM change, once flushed
        dbsession.flush()
        assert get_preference(dbsession, "CircControl") == "PatronLibrary"
        dbsession.commit()
        seen.clear()
        assert get_preference(dbsession, "CircControl") == "PatronLibrary"  # a new transaction reads again
        assert len([s for s in seen if "systempreferences" in s]) == 1
        assert get_preference(dbsession, "NoSuchPreference", "fallback") == "fallback"


def test_a_record_edit_updates_its_row_once_and_reads_its_index_rows_together(dbsession, reference_data):
    """An edit whose subtitle and title change makes these round trips:
    - the record read with its MARC row;
    - one UPDATE of the ``biblio`` row (loading the metadata row after setting the summary
      columns flushed them in an UPDATE of their own);
    - the record's stored terms and sort keys read in one statement;
    - the block's segments counted (for compaction) by the statement that locks the block;
    - its two index rows written in one statement on the servers;
    - of the record's items, only the columns the index reads.
    The index then holds the new title and not the old one, and the items' barcodes still."""
    import pymarc

    (number,) = _records(dbsession, ["Harbour lights"])
    for barcode in ("39001", "39002"):
        Catalog(dbsession).add_item(number, barcode=barcode, homebranch="FFL", holdingbranch="FFL", itype="BK")
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", "Lighthouse keepers"),
                                             pymarc.Subfield("b", "a history")]))
    # stamped earlier, as a record edited later is: the edit changes its stamps too
    dbsession.execute(text("UPDATE biblio SET timestamp = '2020-01-02 03:04:05', datestamp = '2020-01-02 03:04:05'"))
    dbsession.commit()
    dbsession.expunge_all()  # as a new request finds it: nothing loaded yet
    with _statements(dbsession) as seen:
        Catalog(dbsession).update_record(number, record)
        dbsession.commit()
    assert len([s for s in seen if s.startswith("UPDATE biblio ")]) == 1, seen
    # the record and its MARC row read together
    assert len([s for s in seen if s.startswith("SELECT") and "biblio_metadata" in s]) == 1, seen
    index_reads = [s for s in seen if s.startswith("SELECT") and ("search_record_terms" in s or "FROM search_records" in s)]
    assert len(index_reads) == 1 and "UNION ALL" in index_reads[0], index_reads
    assert not [s for s in seen if s.startswith("SELECT search_segments")], seen
    # the record's two index rows (term list, sort keys) in one UPDATE on the servers
    row_writes = [s for s in seen if s.startswith(("UPDATE search_record", "WITH sort_keys"))]
    assert len(row_writes) == (2 if dbsession.get_bind().dialect.name == "sqlite" else 1), row_writes
    assert dbsession.execute(text("SELECT title FROM search_records WHERE biblionumber = :n"),
                             {"n": number}).scalar().startswith("lighthouse keepers")
    # the items' columns the index reads, not whole items
    (items_read,) = [s for s in seen if "FROM items" in s]
    assert items_read.startswith("SELECT items.biblionumber, items.barcode, items.holdingbranch, "
                                 "items.homebranch, items.itype FROM items"), items_read
    assert search.search(dbsession, Clause("title", "=", "lighthouse"), public=False).ids == [number]
    assert search.search(dbsession, Clause("barcode", "=", "39002"), public=False).ids == [number]
    assert search.search(dbsession, Clause("title", "=", "harbour"), public=False).ids == []
    assert search.search(dbsession, Clause("title", "=", "lighthouse"), sort=(search.SortKey("title"),),
                         public=False).ids == [number]


def test_a_public_record_number_look_up_reads_the_hidden_records_in_the_same_statement(dbsession, reference_data):
    """A public rec.id search reads its block's record list and the records hidden from the
    public in one statement (they were two round trips); a suppressed record is still not found,
    and a staff search still finds it."""
    shown, suppressed, other = _records(dbsession, ["Tide tables", "Tide mills", "Salt marsh"])
    Catalog(dbsession).set_suppressed(suppressed)
    dbsession.commit()
    with _statements(dbsession) as seen:
        assert search.search(dbsession, Clause("recid", "=", str(shown))).ids == [shown]
        # one statement, two key ranges: the block's list and the hidden records' (postings.key_ranges)
        assert len([s for s in seen if "search_postings" in s]) == 1, seen
        assert seen[-1].count("search_postings.term =") == 2, seen
        assert search.search(dbsession, Clause("recid", "=", str(suppressed))).ids == []
        assert search.search(dbsession, Clause("recid", "within", f"{shown} {other}")).ids == [shown, other]
        assert search.search(dbsession, Clause("recid", ">", "999999999")).ids == []
    assert search.search(dbsession, Clause("recid", "=", str(suppressed)), public=False).ids == [suppressed]


def test_the_items_of_records_edited_together_are_read_in_one_statement(dbsession, reference_data):
    """Records edited in one transaction are indexed together at commit: their items' columns
    come from one statement, each record's own items (one added after the edits, in the same
    transaction, included). Loading each record's ORM items took a statement per record."""
    import pymarc

    first, second, bare = _records(dbsession, ["Harbour lights", "Salt marsh", "Tide mills"])
    catalog = Catalog(dbsession)
    catalog.add_item(first, barcode="39101", homebranch="FFL", holdingbranch="FFL", itype="BK")
    catalog.add_item(second, barcode="39201", homebranch="FFL", holdingbranch="FFL", itype="BK")
    dbsession.commit()
    dbsession.expunge_all()
    with _statements(dbsession) as seen:
        catalog = Catalog(dbsession)
        for number, title in ((first, "Lighthouse keepers"), (second, "Salt works"), (bare, "Tide tables")):
            record = pymarc.Record(leader="00000nam a2200000 a 4500")
            record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                          subfields=[pymarc.Subfield("a", title)]))
            catalog.update_record(number, record)
        catalog.add_item(second, barcode="39202", homebranch="FFL", holdingbranch="FFL", itype="BK")
        dbsession.commit()
    items_reads = [s for s in seen if s.startswith("SELECT items.biblionumber, items.barcode")]
    assert len(items_reads) == 1, items_reads
    assert search.search(dbsession, Clause("barcode", "=", "39101"), public=False).ids == [first]
    assert search.search(dbsession, Clause("barcode", "=", "39201"), public=False).ids == [second]
    assert search.search(dbsession, Clause("barcode", "=", "39202"), public=False).ids == [second]
    assert search.search(dbsession, Clause("title", "=", "tables"), public=False).ids == [bare]
