"""The index's append-only write path: deltas give the same answers as merged lists, before and
after compaction, across block edges, with concurrent writers; unchanged values write nothing."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator

import pymarc
import pytest
from sqlalchemy import func, select, text, update

from kohaweb import search
from kohaweb.search import MASK_ANY, Clause, compaction, indexer, posting_format, postings, tables, writer
from kohaweb.search.compactor import wait_for_compaction
from kohaweb.search.repack import RepackError, repack
from kohaweb.testing import Catalog, selected_backend

VOCABULARY = ["coral", "reef", "atlas", "lichen", "moss", "river", "delta", "ocean", "storm", "harbour"]
EDGE = posting_format.BLOCK
NUMBERS = [1, 2, 3, EDGE - 3, EDGE - 2, EDGE - 1, EDGE, EDGE + 1, EDGE + 2, 2 * EDGE + 5]


def _record(title: str) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data="240101s1999    xx            000 0 eng d"))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", title)]))
    return record


def _entry(title: str):
    return indexer.entry_for(_record(title), "MARC21", [])


def _entry_with_subject(title: str, subject: str):
    record = _record(title)
    record.add_field(pymarc.Field(tag="650", indicators=pymarc.Indicators(" ", "0"),
                                  subfields=[pymarc.Subfield("a", subject)]))
    return indexer.entry_for(record, "MARC21", [])


def _expected(model: dict[int, str], word: str) -> list[int]:
    return sorted(n for n, title in model.items() if word in title.split())


def _expected_phrase(model: dict[int, str], first: str, second: str) -> list[int]:
    return sorted(n for n, title in model.items() if f" {first} {second} " in f" {title} ")


def _check(session, model: dict[int, str]) -> None:
    for word in VOCABULARY:
        assert search.search(session, Clause("title", "=", word), limit=100).ids == _expected(model, word), word
    for first, second in (("coral", "reef"), ("river", "delta"), ("storm", "ocean")):
        found = search.search(session, Clause("title", "=", f"{first} {second}"), limit=100).ids
        assert found == _expected_phrase(model, first, second), (first, second)
    assert search.search(session, Clause("allrecords", "=", "1"), limit=100).ids == sorted(model)
    assert postings.size(session) == len(model)  # summed in SQL from the _all rows' counts and markers
    scanned = {t.value: t.count for t in search.scan(session, "title", "a", count=len(VOCABULARY))}
    assert scanned == {w: len(_expected(model, w)) for w in VOCABULARY if _expected(model, w)}


def _hits(session, clause) -> list[int]:
    return search.search(session, clause, limit=100).ids


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 5)))


def _changed_block(session, rng: random.Random, model: dict[int, str], transactions: int = 8, *,
                   per_transaction: int = 4, checked: bool = False) -> None:
    """Random edits and deletions of NUMBERS, a transaction each (each transaction appends one
    segment per block it touches), kept in ``model``; ``checked``: searches checked against the
    model after each commit."""
    for _ in range(transactions):
        changes = {}
        for number in rng.sample(NUMBERS, per_transaction):
            if number in model and rng.random() < 0.25:
                changes[number] = None
                model.pop(number)
            else:
                model[number] = changes[number] = _title(rng)
        indexer.apply(session, {n: (_entry(t) if t is not None else None) for n, t in changes.items()})
        session.commit()
        if checked:
            _check(session, model)


@pytest.mark.parametrize("batch_bytes", [compaction.FOLD_BATCH_BYTES, 1])
def test_deltas_answer_as_merged_lists_before_and_after_compaction(dbsession, monkeypatch, batch_bytes):
    # batch_bytes 1: every key folded in a fold_groups call of its own (compaction._fold_in_batches)
    monkeypatch.setattr(compaction, "FOLD_BATCH_BYTES", batch_bytes)
    rng = random.Random(7)
    model: dict[int, str] = {}
    _changed_block(dbsession, rng, model, 12, per_transaction=5, checked=True)
    assert dbsession.scalar(select(func.count()).select_from(tables.segments)) > 0
    for block in compaction.blocks_with_deltas(dbsession):
        assert compaction.compact(dbsession, block) > 0
    dbsession.commit()
    assert dbsession.scalar(select(func.count()).select_from(tables.segments)) == 0
    p = tables.postings
    assert dbsession.scalar(select(func.count()).select_from(p).where(p.c.dels.is_not(None))) == 0
    _check(dbsession, model)
    # compacted rows equal what a whole rebuild of the same entries writes
    compacted = {(r.idx, r.term, r.block): (bytes(r.docs), bytes(r.positions or b""))
                 for r in dbsession.execute(select(p)) if r.ndocs}
    dbsession.execute(p.delete())
    dbsession.execute(tables.records.delete())
    dbsession.execute(tables.record_terms.delete())
    dbsession.execute(tables.blocks.delete())
    indexer.apply(dbsession, {n: _entry(t) for n, t in model.items()}, fresh=True)
    rebuilt = {(r.idx, r.term, r.block): (bytes(r.docs), bytes(r.positions or b"")) for r in dbsession.execute(select(p))}
    assert compacted == rebuilt


def _record_rows(session) -> tuple[dict, dict]:
    r, t = tables.records, tables.record_terms
    keys = {row.biblionumber: (row.title, row.author, row.year) for row in session.execute(select(r))}
    terms = {row.biblionumber: writer.decode_terms(row.terms) for row in session.execute(select(t))}
    return keys, terms


def test_record_rows_after_edits_equal_those_a_rebuild_writes(dbsession):
    """The records' own rows (sort keys, term lists) after edits of the title (keys and terms
    change), of a subject alone (terms only), deletions and additions, in transactions of one
    record, of a few and of more than are updated in place, equal what a rebuild writes."""
    rng = random.Random(11)
    numbers = [*range(1, 60), EDGE - 1, EDGE, EDGE + 1]
    model: dict[int, tuple[str, str]] = {}

    for size in (1, 5, writer._UPDATE_AT_MOST + 8, 1, 3, len(numbers), 2):
        changes = {}
        for number in rng.sample(numbers, size):
            title, subject = model.get(number, (_title(rng), _title(rng)))
            roll = rng.random()
            if number in model and roll < 0.2:
                changes[number] = None
                del model[number]
                continue
            if number not in model or roll < 0.6:
                title = _title(rng)
            else:
                subject = _title(rng)
            model[number] = (title, subject)
            changes[number] = _entry_with_subject(title, subject)
        indexer.apply(dbsession, changes)
        dbsession.commit()
    edited = _record_rows(dbsession)
    assert set(edited[0]) == set(edited[1]) == set(model)
    for table in (tables.postings, tables.records, tables.record_terms, tables.blocks, tables.segments):
        dbsession.execute(table.delete())
    indexer.apply(dbsession, {n: _entry_with_subject(*values) for n, values in model.items()}, fresh=True)
    assert _record_rows(dbsession) == edited


def test_an_edit_updates_the_records_rows_in_place(dbsession):
    """One record edited: its term list is updated, and its sort keys only when they change (in
    the same statement on the servers); neither row is deleted and inserted again (six round
    trips on PostgreSQL instead of one)."""
    from sqlalchemy import event

    indexer.apply(dbsession, {5: _entry_with_subject("coral reef", "moss")})
    dbsession.commit()
    statements: list[str] = []
    connection = dbsession.connection()
    event.listen(connection, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(" ".join(statement.split()).lower()))
    indexer.apply(dbsession, {5: _entry_with_subject("coral reef", "river")})  # a subject: the terms alone change
    writes = [s for s in statements if "search_record" in s and not s.startswith("select")]
    assert len(writes) == 1 and writes[0].startswith("update search_record_terms"), writes
    statements.clear()
    indexer.apply(dbsession, {5: _entry_with_subject("atlas of the reef", "river")})  # the title: sort keys too
    writes = [s for s in statements if "search_record" in s and not s.startswith("select")]
    if dbsession.get_bind().dialect.name == "sqlite":
        assert sorted(s.split(" set ")[0] for s in writes) == ["update search_record_terms", "update search_records"]
    else:  # both rows in one statement (an UPDATE of both tables, or one in a WITH)
        (write,) = writes
        assert write.startswith(("update search_record_terms", "with sort_keys as (update search_records")), write
        assert "search_records" in write.replace("search_record_terms", "") and "title=" in write and "terms=" in write
    dbsession.commit()
    assert _hits(dbsession, Clause("subject", "=", "river")) == [5]
    assert _hits(dbsession, Clause("subject", "=", "moss")) == []
    final = _entry_with_subject("atlas of the reef", "river")
    assert _record_rows(dbsession) == ({5: (final.title, None, 1999)},
                                       {5: writer.decode_terms(writer.encode_terms(final.terms))})


def test_a_record_changed_back_and_forth_in_one_transaction(dbsession):
    indexer.apply(dbsession, {5: _entry("coral reef")})
    indexer.apply(dbsession, {5: _entry("river delta")})
    indexer.apply(dbsession, {5: _entry("coral river")})
    assert search.search(dbsession, Clause("title", "=", "coral river"), limit=10).ids == [5]
    assert search.search(dbsession, Clause("title", "=", "reef"), limit=10).ids == []
    dbsession.rollback()
    assert search.search(dbsession, Clause("allrecords", "=", "1"), limit=10).ids == []


def test_compaction_follows_enough_segments_after_commit(dbsession, monkeypatch):
    monkeypatch.setattr(writer, "COMPACT_AFTER", 3)
    catalog = Catalog(dbsession)
    biblio = catalog.add_record(_record("coral reef"))
    dbsession.commit()
    for title in ("river delta", "storm ocean", "coral atlas", "moss lichen"):
        catalog.update_record(biblio.biblionumber, _record(title))
        dbsession.commit()
    assert wait_for_compaction(timeout=30)  # folded in the background on PostgreSQL and MariaDB
    s = tables.segments
    assert dbsession.scalar(select(func.count()).select_from(s)) < 3
    assert search.search(dbsession, Clause("title", "=", "moss lichen"), limit=10).ids == [biblio.biblionumber]
    assert search.search(dbsession, Clause("title", "=", "coral"), limit=10).ids == []


def test_a_change_no_index_uses_writes_nothing(dbsession, reference_data):
    catalog = Catalog(dbsession)
    biblio = catalog.add_record(_record("coral reef"), items=[{"barcode": "B1", "homebranch": "CPL",
                                                                "holdingbranch": "CPL", "itype": "BK"}])
    dbsession.commit()
    item = biblio.items[0]

    def rows():
        return (dbsession.scalar(select(func.count()).select_from(tables.postings)),
                dbsession.scalar(select(func.count()).select_from(tables.segments)))

    before = rows()
    catalog.update_item(item.itemnumber, datelastseen="2026-12-01", issues=3)
    dbsession.commit()
    assert rows() == before
    catalog.update_item(item.itemnumber, barcode="B2")
    dbsession.commit()
    assert rows()[1] == before[1] + 1  # one segment: the old barcode removed, the new one set
    assert search.search(dbsession, Clause("barcode", "=", "B2"), limit=10).ids == [biblio.biblionumber]
    assert search.search(dbsession, Clause("barcode", "=", "B1"), limit=10).ids == []


def test_a_changed_field_rewrites_its_own_keys_not_those_of_the_fields_after_it(dbsession):
    """Fields start at stride boundaries (posting_format.FIELD_STRIDE): a title a word longer leaves the
    positions of the later fields' words as they were, so their keys are not rewritten; phrase and
    proximity searches still see the new title."""

    def record(title: str) -> pymarc.Record:
        out = _record(title)
        out.add_field(pymarc.Field(tag="500", indicators=pymarc.Indicators(" ", " "),
                                   subfields=[pymarc.Subfield("a", "lichen moss on the harbour wall")]))
        out.add_field(pymarc.Field(tag="650", indicators=pymarc.Indicators(" ", "0"),
                                   subfields=[pymarc.Subfield("a", "Storm surges")]))
        return out

    indexer.apply(dbsession, {7: indexer.entry_for(record("coral reef"), "MARC21", [])})
    dbsession.commit()
    indexer.apply(dbsession, {7: indexer.entry_for(record("coral reef atlas"), "MARC21", [])})
    seg = dbsession.scalar(select(func.max(tables.segments.c.seg)))
    written = set(dbsession.execute(select(tables.postings.c.idx, tables.postings.c.term)
                                    .where(tables.postings.c.seg == seg)).tuples())
    assert ("any", "atlas") in written and ("title", "atlas") in written
    assert not {("any", "lichen"), ("any", "harbour"), ("any", "storm"), ("note", "lichen")} & written
    assert _hits(dbsession, Clause("any", "=", "coral reef atlas")) == [7]
    assert _hits(dbsession, Clause("any", "=", "harbour wall")) == [7]
    assert _hits(dbsession, Clause("any", "=", "atlas lichen")) == []  # adjacency never spans fields
    dbsession.rollback()


def test_an_edit_reads_the_stored_terms_of_changed_namespaces_only(dbsession):
    """A namespace whose stored text is the new entry's is not decoded, and of the others only
    the lines that differ (writer._Stored); a term list stored in the earlier line form is
    compared term by term; both write the same deltas."""
    import zlib

    def record(title: str, subject: str) -> pymarc.Record:
        out = _record(title)
        out.add_field(pymarc.Field(tag="650", indicators=pymarc.Indicators(" ", "0"),
                                   subfields=[pymarc.Subfield("a", subject)]))
        return out

    indexer.apply(dbsession, {7: indexer.entry_for(record("coral reef", "Storm surges"), "MARC21", []),
                              8: indexer.entry_for(record("coral reef", "Storm surges"), "MARC21", [])})
    dbsession.commit()
    # record 8's list as a site upgraded from before the grouped form still holds it
    t = tables.record_terms
    (blob,) = dbsession.execute(select(t.c.terms).where(t.c.biblionumber == 8)).one()
    lines = "\n".join(f"{idx}\t{term}\t{','.join(map(str, positions or ()))}"
                      for (idx, term), positions in writer.decode_terms(blob).items())
    dbsession.execute(update(t).where(t.c.biblionumber == 8).values(terms=zlib.compress(lines.encode("utf-8"))))
    dbsession.commit()
    entries = {n: indexer.entry_for(record("coral lagoon", "Storm surges"), "MARC21", []) for n in (7, 8)}
    # record 7's comparison: only the namespaces whose text changed, only the lines that differ
    (blob7,) = dbsession.execute(select(t.c.terms).where(t.c.biblionumber == 7)).one()
    groups = entries[7].groups
    compared = {idx: (old, new) for idx, old, new in
                writer._Stored(blob7).changes(groups, writer.group_texts(groups))}
    assert {"title", "any"} <= set(compared)
    assert not {"subject", "subject=", "_all"} & set(compared)
    assert "coral" not in compared["title"][0] and "coral" not in compared["title"][1]  # unchanged line
    assert set(compared["title"][0]) == {"reef"} and set(compared["title"][1]) == {"lagoon"}
    indexer.apply(dbsession, entries)
    seg = dbsession.scalar(select(func.max(tables.segments.c.seg)))
    written = dbsession.execute(select(tables.postings.c.idx, tables.postings.c.term, tables.postings.c.docs,
                                       tables.postings.c.dels).where(tables.postings.c.seg == seg)).all()
    offsets = {(idx, term): (posting_format.decode_local_docs(docs).tolist(),
                             posting_format.decode_local_docs(dels).tolist()) for idx, term, docs, dels in written}
    assert offsets["title", "lagoon"] == ([7, 8], []) and offsets["title", "reef"] == ([], [7, 8])
    assert ("subject", "storm") not in offsets  # the same subject: not written for either record
    stored = writer.decode_terms(dbsession.execute(select(t.c.terms).where(t.c.biblionumber == 8)).scalar_one())
    assert stored == writer.decode_terms(writer.encode_groups(entries[8].groups))  # rewritten in the grouped form
    assert _hits(dbsession, Clause("title", "=", "coral lagoon")) == [7, 8]
    assert _hits(dbsession, Clause("title", "=", "reef")) == []
    assert _hits(dbsession, Clause("subject", "=", "storm surges")) == [7, 8]
    dbsession.rollback()


def test_a_loan_reads_nothing_of_the_record_or_the_index(dbsession, reference_data):
    """A change to item columns neither the index, the visibility rules nor the OAI set rules
    read (what checkouts, check-ins and renewals write) neither parses the record nor touches
    the index tables; a change the index reads still does."""
    from sqlalchemy import event

    catalog = Catalog(dbsession)
    biblio = catalog.add_record(_record("coral reef"), items=[{"barcode": "B1", "homebranch": "CPL",
                                                                "holdingbranch": "CPL", "itype": "BK"}])
    dbsession.commit()
    item = biblio.items[0]
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = dbsession.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        catalog.update_item(item.itemnumber, datelastseen="2026-12-01", issues=3, onloan="2026-12-20")
        dbsession.commit()
        quiet = [s for s in seen if "biblio_metadata" in s or "search_" in s]
        seen.clear()
        # a check-in at the branch that holds the item: holdingbranch is given, its value is the same
        catalog.update_item(item.itemnumber, onloan=None, datelastseen="2026-12-02", holdingbranch="CPL")
        dbsession.commit()
        quiet += [s for s in seen if "biblio_metadata" in s or "search_" in s]
        seen.clear()
        catalog.update_item(item.itemnumber, homebranch="MPL")
        dbsession.commit()
        indexed = [s for s in seen if "search_" in s]
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert quiet == []
    assert indexed
    assert search.search(dbsession, Clause("branch", "=", "MPL"), limit=10).ids == [biblio.biblionumber]


@pytest.mark.skipif(selected_backend() == "sqlite", reason="SQLite has a single writer; nothing runs concurrently")
def test_concurrent_writers_of_one_block(session_factory):
    """Writers of the same block do not wait for each other and lose nothing: each thread keeps
    re-indexing its own records in its own transactions while the other does the same."""
    errors: list[BaseException] = []
    finals: dict[int, str] = {}
    lock = threading.Lock()

    def work(numbers: list[int], seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(15):
                changes = {n: _title(rng) for n in numbers}
                with session_factory() as session, session.begin():
                    indexer.apply(session, {n: _entry(t) for n, t in changes.items()})
                with lock:
                    finals.update(changes)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=([1, 3, 5, 7], 1)),
               threading.Thread(target=work, args=([2, 4, 6, 8], 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with session_factory() as session:
        _check(session, finals)


def _second_writer_commits_while_the_first_is_open(session_factory, first_changes: dict, second_changes: dict
                                                   ) -> None:
    """Apply ``first_changes`` in a transaction left open while a thread applies ``second_changes``
    in one of its own and commits; assert the thread did not wait for the first transaction
    (it would have waited until its lock timeout), then commit the first."""
    first = session_factory()
    first.begin()
    try:
        indexer.apply(first, first_changes)
        done: list[bool] = []
        errors: list[BaseException] = []

        def second_writer() -> None:
            try:
                with session_factory() as session, session.begin():
                    indexer.apply(session, second_changes)
                done.append(True)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=30)
        assert not errors, errors
        assert done == [True], "the second writer waited for the first writer's transaction"
        first.commit()
    finally:
        first.close()


@pytest.mark.skipif(selected_backend() == "sqlite", reason="SQLite has one writer at a time")
def test_a_second_writer_of_a_new_block_does_not_wait_for_the_first(session_factory):
    """The first writer of a block that does not exist yet reads its row locked, finds none,
    creates it on a connection of its own and holds it shared; a second writer of that block,
    arriving while the first is still open, writes and commits at once. Had the locking read of
    the missing row left a lock on the gap (MariaDB below READ COMMITTED), the first writer's
    own creation of the row would have waited on it until the lock timeout."""
    first_number, second_number = 40 * EDGE + 7, 40 * EDGE + 9  # a block no other test writes
    with session_factory() as session, session.begin():
        # a record of another block with the writers' words, found below beside theirs
        indexer.apply(session, {41 * EDGE: _entry("coral reef river delta atlas")})
    _second_writer_commits_while_the_first_is_open(
        session_factory, {first_number: _entry("coral reef atlas")}, {second_number: _entry("river delta atlas")})
    with session_factory() as session:
        assert _hits(session, Clause("title", "=", "atlas")) == [first_number, second_number, 41 * EDGE]
        assert _hits(session, Clause("title", "=", "coral reef")) == [first_number, 41 * EDGE]


@pytest.mark.skipif(selected_backend() == "sqlite", reason="SQLite has one writer at a time")
def test_two_writers_giving_records_the_same_new_word_do_not_wait_for_each_other(session_factory):
    """A word no record had is listed for left truncation (kohaweb.search.vocabulary) in a short
    transaction of its own: a second writer giving another record that word, while the first
    writer's transaction is still open, commits at once (listed in the writers' transactions,
    the unique key made it wait for the first's commit). Both records are then found, by the word
    and by its ending; a writer that rolls back leaves its new word listed, finding nothing."""
    first_number, second_number, third_number = 44 * EDGE + 3, 45 * EDGE + 5, 46 * EDGE + 1
    _second_writer_commits_while_the_first_is_open(
        session_factory, {first_number: _entry("quetzalcoatlomancy of the coral reef")},
        {second_number: _entry("quetzalcoatlomancy and the river delta")})
    with session_factory() as session, session.begin():
        indexer.apply(session, {third_number: _entry("brontosaurolatry of the storm")})
        session.rollback()
    with session_factory() as session:
        assert _hits(session, Clause("title", "=", "quetzalcoatlomancy")) == [first_number, second_number]
        assert _hits(session, Clause("title", "=", f"{MASK_ANY}coatlomancy")) == [first_number, second_number]
        listed = set(session.scalars(select(tables.reversed_terms.c.term_reversed)
                                     .where(tables.reversed_terms.c.idx == "title")))
        assert "yrtaloruasotnorb" in listed  # listed apart, committed though its writer rolled back
        assert _hits(session, Clause("title", "=", f"{MASK_ANY}saurolatry")) == []
        assert _hits(session, Clause("title", "=", "brontosaurolatry")) == []


def test_an_edit_lists_only_the_new_words_it_gives_records(dbsession, monkeypatch):
    """An edit reads which of the words it gives records are listed, and lists the others: a
    word listed before is not written again, a new one is (SQLite lists them all, ignoring those
    listed: no round trip to spare there)."""
    from kohaweb.search import vocabulary

    indexer.apply(dbsession, {11: _entry("coral reef atlas")})
    dbsession.commit()
    listed: list[tuple[str, str]] = []
    insert = vocabulary._insert
    monkeypatch.setattr(vocabulary, "_insert", lambda conn, rows: (listed.extend(rows), insert(conn, rows)))
    indexer.apply(dbsession, {12: _entry("coral atlas")})  # words another record has: listed already
    if selected_backend() != "sqlite":
        assert listed == []
    listed.clear()
    indexer.apply(dbsession, {11: _entry("coral reef atlas of lichens")})
    dbsession.commit()
    assert ("title", "snehcil") in listed and ("title", "fo") in listed
    if selected_backend() != "sqlite":
        assert {term for _, term in listed} == {"snehcil", "fo"}
    found = set(dbsession.scalars(select(tables.reversed_terms.c.term_reversed).where(
        tables.reversed_terms.c.idx == "title")))
    assert {"snehcil", "fo", "laroc", "feer", "salta"} <= found
    assert _hits(dbsession, Clause("title", "=", f"{MASK_ANY}chens")) == [11]


@pytest.mark.skipif(selected_backend() == "sqlite", reason="planner statistics are a server matter")
def test_index_statements_use_keys_on_never_analysed_tables(dbsession):
    """The statements of the read and write paths are key lookups or key-range reads even when
    the planner knows nothing of the tables (never analysed, autovacuum off)."""
    from sqlalchemy import text

    dialect = dbsession.get_bind().dialect.name
    if dialect == "postgresql":
        # Fresh tables in a schema of this transaction's own, searched first: statistics that an
        # earlier test's ANALYZE left on the shared tables cannot reach them, nothing else holds a
        # lock on them, and the rollback at the end drops them (so the test never commits here).
        dbsession.execute(text("CREATE SCHEMA never_analysed"))
        for table in ("search_postings", "search_records", "search_blocks", "search_segments", "search_reversed_terms"):
            dbsession.execute(text(f"CREATE TABLE never_analysed.{table} (LIKE public.{table} INCLUDING ALL)"
                                   " WITH (autovacuum_enabled = off)"))
        dbsession.execute(text("SET LOCAL search_path = never_analysed, public"))
    rng = random.Random(3)
    for start in range(1, 3000, 500):  # several segments, two blocks' worth of terms
        indexer.apply(dbsession, {n: _entry(_title(rng) + f" w{n}") for n in range(start, start + 500)})
    if dialect != "postgresql":
        dbsession.commit()
    p = tables.postings
    joined = postings.ranges_in_one_select(dbsession)
    assert joined == (dialect in ("mysql", "mariadb"))
    statements = [
        select(p.c.term, p.c.block, p.c.docs, p.c.dels).where(p.c.idx == "title", p.c.term.in_(["coral", "reef"]))
        .order_by(p.c.term, p.c.block, p.c.seg),
        select(p.c.term, p.c.block, p.c.docs, p.c.dels).where(p.c.idx == "title", p.c.term >= "co", p.c.term < "cp")
        .order_by(p.c.term, p.c.block, p.c.seg),
        select(tables.record_terms.c.terms).where(tables.record_terms.c.biblionumber.in_([5, 6, 7])),
        select(tables.records.c.title).where(tables.records.c.biblionumber.in_([5, 6, 7])),
        # an edited record's own rows, updated in place (writer._RowChanges)
        update(tables.record_terms).where(tables.record_terms.c.biblionumber == 5)
        .values(terms=tables.record_terms.c.terms),
        update(tables.records).where(tables.records.c.biblionumber == 5).values(year=tables.records.c.year + 1),
        # several key ranges in one read, as this database gets them (postings.key_ranges): a word
        # searched in any and its title occurrences (postings.docs_and_keys_of), the same with the
        # index's size (a ranked search), a rec.id's block with the hidden records, a date range's pieces
        postings._pairs_statement(2, joined=joined).params(idx0="any", term0="coral", idx1="title", term1="coral"),
        postings._pairs_statement(2, sized=True, joined=joined).params(
            idx0="any", term0="coral", idx1="title", term1="coral", size_idx="_all", size_term=""),
        postings._blocks_statement(True, True, joined).params(idx="_all", term="", low=0, high=0,
                                                              hidden_idx="_hidden", hidden_term=""),
        postings._ranges_statement(2, joined).params(idx0="date#", low0="0000001990", high0="0000001995",
                                                     idx1="date#/10", low1="0000000200", high1="0000000201"),
        # which of the words an edit gives records are listed (vocabulary._listed_rows)
        select(tables.reversed_terms.c.idx, tables.reversed_terms.c.term_reversed).where(
            (tables.reversed_terms.c.idx == "title") & tables.reversed_terms.c.term_reversed.in_(["laroc", "feer"])
            | (tables.reversed_terms.c.idx == "any") & tables.reversed_terms.c.term_reversed.in_(["laroc"])),
        # a left-truncated word: the namespace's terms LIKE it (query.Evaluator.expand)
        select(p.c.term).where(p.c.idx == "title", p.c.term.like("%oral")).distinct().order_by(p.c.term),
        # a fold's read of the keys its segments wrote, of several namespaces at once, and their
        # rows' deletion when the folded ones are swapped in (kohaweb.search.compaction)
        compaction._rows_statement(0, 10**6, {"title": ["coral", "reef"], "any": ["coral"]}, joined),
        *compaction._delete_statements(0, 10**6, {"title": ["coral", "reef"], "any": ["coral"]}, joined),
    ]
    # (search_segments holds a few rows per block: a full read of so small a table is the right plan)
    for statement in statements:
        compiled = statement.compile(dbsession.get_bind(), compile_kwargs={"literal_binds": True})
        rows = list(dbsession.execute(text(f"EXPLAIN {compiled}")))
        if dialect == "postgresql":
            plan = "\n".join(str(row[0]) for row in rows)
            assert "Seq Scan" not in plan, plan
        else:  # MariaDB: the access type of each table read, ALL being a full scan
            reads = [row for row in rows if row._mapping["select_type"] != "UNION RESULT"]  # the union's own buffer
            assert all(row._mapping["type"] in ("const", "eq_ref", "ref", "range") for row in reads), rows
            assert all(row._mapping["key"] for row in reads), rows
            if "search_postings.idx =" in str(compiled):
                # reads of the postings (several key ranges included) fill and sort no temporary
                # table, and come in the key's order without a sort (kohaweb.db._mysql_session)
                assert len(reads) == len(rows), rows
                assert not any("temporary" in (row._mapping["Extra"] or "") for row in rows), rows
                assert not any("filesort" in (row._mapping["Extra"] or "") for row in rows), rows
    dbsession.rollback()


def test_postgresql_connections_plan_no_parallel_reads(engine):
    """Worker processes cost more to start than a request's reads take, and without statistics
    PostgreSQL planned them for small key ranges (kohaweb.db)."""
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    with engine.connect() as conn:
        assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == "0"


def test_stored_term_lists_round_trip_and_older_rows_still_read():
    """``search_record_terms.terms``: grouped by namespace now; rows written in the earlier line form
    (with positions, or from before positions were kept) decode to the same keys."""
    import zlib

    terms = {("any", "coral"): (1, 7), ("title", "coral"): (1,), ("any=", "coral reef"): (),
             ("_all", ""): (), ("date#", "00001999"): (), ("any", "reef"): (2,)}
    assert writer.decode_terms(writer.encode_terms(terms)) == terms
    assert writer.decode_terms(writer.encode_terms({})) == {}
    earlier = zlib.compress(b"any\tcoral\t1,7\ntitle\tcoral\t1\nany=\tcoral reef\t", 1)
    assert writer.decode_terms(earlier) == {("any", "coral"): (1, 7), ("title", "coral"): (1,),
                                            ("any=", "coral reef"): ()}
    oldest = zlib.compress(b"any\tcoral\ntitle\tcoral", 1)
    assert writer.decode_terms(oldest) == {("any", "coral"): None, ("title", "coral"): None}


# --- repacking the postings' B-tree (kohaweb.search.repack) ---------------------------------------

def _indexed(session_factory) -> dict[int, str]:
    rng = random.Random(11)
    model = {n: _title(rng) for n in NUMBERS}
    with session_factory() as session:
        indexer.apply(session, {n: _entry(t) for n, t in model.items()})
        session.commit()
    return model


def _invalid_indexes(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = CAST('search_postings' AS regclass) AND NOT i.indisvalid")).scalars())


def test_a_repacked_index_answers_the_same_and_takes_writes(engine, session_factory):
    model = _indexed(session_factory)
    seconds = repack(engine)
    assert seconds > 0 if selected_backend() != "sqlite" else seconds == 0
    with session_factory() as session:
        _check(session, model)
        model[NUMBERS[0]] = "storm harbour"
        indexer.apply(session, {NUMBERS[0]: _entry("storm harbour")})
        session.commit()
        _check(session, model)
    if selected_backend() == "postgresql":
        assert _invalid_indexes(engine) == []


@pytest.mark.skipif(selected_backend() == "sqlite", reason="SQLite needs no repack")
def test_a_repack_held_off_by_an_open_transaction_gives_up_and_leaves_the_index_whole(engine, session_factory):
    model = _indexed(session_factory)
    with session_factory() as reader:
        _check(reader, model)  # a transaction that has read the postings stays open
        with pytest.raises(RepackError):
            repack(engine, wait=0.5)
        reader.rollback()
    with session_factory() as session:
        _check(session, model)
    assert repack(engine) > 0  # the next one goes through
    if selected_backend() == "postgresql":
        assert _invalid_indexes(engine) == []  # and no half-built copy is left behind


@pytest.mark.skipif(selected_backend() != "postgresql", reason="VACUUM is the PostgreSQL part of a repack")
def test_a_repack_vacuums_what_a_load_fills(engine, session_factory):
    model = _indexed(session_factory)
    with engine.connect() as conn:
        before = dict(conn.execute(text(
            "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = 'search_postings'")).all())
    repack(engine)
    with engine.connect() as conn:
        # the statistics are reported when the vacuum ends; read them fresh
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        after = dict(conn.execute(text(
            "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = 'search_postings'")).all())
    assert after["search_postings"] == before.get("search_postings", 0) + 1
    with session_factory() as session:
        _check(session, model)


def test_the_write_that_makes_a_block_due_returns_before_the_fold(dbsession, monkeypatch):
    """On PostgreSQL and MariaDB the fold runs in the background: the committing write does not
    wait for it, and searches answer the same before and after it."""
    if dbsession.get_bind().dialect.name == "sqlite":
        pytest.skip("SQLite folds in the committing session: one writer at a time")
    from kohaweb.search import compactor

    monkeypatch.setattr(writer, "COMPACT_AFTER", 3)
    release, started = threading.Event(), threading.Event()
    fold = compaction.compact_in_steps

    def held_fold(engine, block):
        started.set()
        assert release.wait(30)
        return fold(engine, block)

    monkeypatch.setattr(compaction, "compact_in_steps", held_fold)
    catalog = Catalog(dbsession)
    biblio = catalog.add_record(_record("coral reef"))
    dbsession.commit()
    for title in ("river delta", "storm ocean", "moss lichen"):
        catalog.update_record(biblio.biblionumber, _record(title))
        dbsession.commit()
    assert started.wait(30)  # the fold began, held, and the commits above returned all the same
    dbsession.close()
    assert not compactor.wait_for_compaction(timeout=0.2)
    assert search.search(dbsession, Clause("title", "=", "moss lichen"), limit=10).ids == [biblio.biblionumber]
    dbsession.close()
    release.set()
    assert compactor.wait_for_compaction(timeout=30)
    assert dbsession.scalar(select(func.count()).select_from(tables.segments)) < 3
    assert search.search(dbsession, Clause("title", "=", "moss lichen"), limit=10).ids == [biblio.biblionumber]
    assert search.search(dbsession, Clause("title", "=", "coral"), limit=10).ids == []


def test_a_forked_process_folds_with_a_queue_of_its_own(monkeypatch):
    from kohaweb.search import compactor

    queue = compactor.Compactor()
    folded = []
    monkeypatch.setattr(compactor, "compact_blocks", lambda engine, blocks: folded.extend(blocks))
    queue._pid = -1  # as a child sees its parent's queue after fork
    queue._due[(0, 99)] = (None, 99)  # left by the parent: not this process's to fold
    queue.submit(object(), [3, 1])
    assert queue.wait(timeout=10)
    assert folded == [1, 3]


def test_a_fold_in_steps_leaves_merged_rows_and_the_same_answers(dbsession):
    """The background fold of the servers (list, fold, swap: three transactions) folds every
    segment and removal away, and searches answer as before it."""
    rng = random.Random(11)
    model: dict[int, str] = {}
    _changed_block(dbsession, rng, model, transactions=12)
    engine = dbsession.get_bind()
    blocks = compaction.blocks_with_deltas(dbsession)
    dbsession.close()
    for block in blocks:
        assert compaction.compact_in_steps(engine, block) > 0
    assert dbsession.scalar(select(func.count()).select_from(tables.segments)) == 0
    p = tables.postings
    assert dbsession.scalar(select(func.count()).select_from(p).where(p.c.dels.is_not(None))) == 0
    _check(dbsession, model)


@contextlib.contextmanager
def _short_lock_wait(session) -> Iterator[None]:
    """A writer that would wait for a held block fails within a couple of seconds instead. On
    MariaDB the setting is the connection's: put back before the connection returns to the
    test session's pool."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL lock_timeout = '2s'"))  # ends with the transaction
        yield
        return
    session.execute(text("SET SESSION innodb_lock_wait_timeout = 2"))
    try:
        yield
    finally:
        session.execute(text("SET SESSION innodb_lock_wait_timeout = DEFAULT"))


@pytest.mark.skipif(selected_backend() == "sqlite", reason="SQLite folds in the committing session")
def test_writers_of_a_block_go_on_while_it_is_folded(session_factory, monkeypatch):
    """While the background fold reads and folds a block's rows, nothing holds the block: a
    writer of that block (a word the fold is merging, a deletion) commits at once, and its delta
    stays on top of the merged rows (answers right before and after the next fold)."""
    rng = random.Random(5)
    model: dict[int, str] = {}
    with session_factory() as session:
        _changed_block(session, rng, model)
        engine = session.get_bind()
    block = posting_format.block_of(NUMBERS[0])
    fold = compaction._fold
    writes: list[dict[int, str | None]] = []

    def fold_then_write(conn, folded_block, logged):
        folded = fold(conn, folded_block, logged)
        changes: dict[int, str | None] = {1: "coral reef harbour", 2: None, 3: "storm ocean"}
        with session_factory() as writer_session, writer_session.begin(), _short_lock_wait(writer_session):
            indexer.apply(writer_session, {n: (_entry(t) if t else None) for n, t in changes.items()})
        writes.append(changes)
        return folded

    monkeypatch.setattr(compaction, "_fold", fold_then_write)
    assert compaction.compact_in_steps(engine, block) > 0
    assert writes, "the writer did not run"
    for number, title in writes[0].items():
        if title is None:
            model.pop(number, None)
        else:
            model[number] = title
    with session_factory() as session:
        s = tables.segments
        assert session.scalar(select(func.count()).select_from(s).where(s.c.block == block)) == 1  # the writer's
        _check(session, model)
    monkeypatch.setattr(compaction, "_fold", fold)
    assert compaction.compact_in_steps(engine, block) == 1
    with session_factory() as session:
        _check(session, model)


@pytest.mark.skipif(selected_backend() == "sqlite", reason="SQLite folds in the committing session")
def test_a_fold_that_another_fold_overtook_swaps_nothing_in(session_factory, monkeypatch):
    """Two folds of one block (two processes): the one that swaps second finds its segments gone
    and leaves the first one's rows as they are. Those rows also hold a write that came after the
    second fold listed its segments: swapping its own rows in would lose that write."""
    rng = random.Random(9)
    model: dict[int, str] = {}
    with session_factory() as session:
        _changed_block(session, rng, model)
        engine = session.get_bind()
    block = posting_format.block_of(NUMBERS[0])
    fold = compaction._fold
    overtaken: list[int] = []

    def overtaken_fold(conn, folded_block, logged):
        folded = fold(conn, folded_block, logged)
        if not overtaken:
            with session_factory() as writer_session, writer_session.begin():
                indexer.apply(writer_session, {1: _entry("moss lichen harbour"), 2: None})
            model.update({1: "moss lichen harbour"})
            model.pop(2, None)
            monkeypatch.setattr(compaction, "_fold", fold)
            overtaken.append(compaction.compact_in_steps(engine, folded_block))  # the other process's
        return folded

    monkeypatch.setattr(compaction, "_fold", overtaken_fold)
    swapped = compaction.compact_in_steps(engine, block)
    assert overtaken and overtaken[0] > 0
    with session_factory() as session:
        _check(session, model)  # the write after the listing is kept
    assert swapped == 0
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(tables.segments)
                              .where(tables.segments.c.block == block)) == 0
        _check(session, model)
