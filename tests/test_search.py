"""The core search index: normalisation, the index in step with every catalogue change, the
query tree on each database, rebuild and the not-ready state."""

from __future__ import annotations

import pymarc
import pytest

from kohaweb import search
from kohaweb.search import ANCHOR, MASK_ANY, MASK_ONE, Boolean, Clause, QueryError, SortKey, normalize
from kohaweb.testing import Catalog


def _record(title: str, *, author: str = "Doe, Jane", isbn: str | None = None, subjects=(), year: str = "1999",
            extra=()) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data=f"240101s{year}    xx            000 0 eng d"))
    if isbn:
        record.add_field(pymarc.Field(tag="020", indicators=pymarc.Indicators(" ", " "),
                                      subfields=[pymarc.Subfield("a", isbn)]))
    record.add_field(pymarc.Field(tag="100", indicators=pymarc.Indicators("1", " "),
                                  subfields=[pymarc.Subfield("a", author)]))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "4"),
                                  subfields=[pymarc.Subfield("a", title)]))
    for subject in subjects:
        record.add_field(pymarc.Field(tag="650", indicators=pymarc.Indicators(" ", "0"),
                                      subfields=[pymarc.Subfield("a", subject)]))
    for field in extra:
        record.add_field(field)
    return record


def _hits(session, node, **kwargs) -> list[int]:
    return search.search(session, node, limit=1000, **kwargs).ids


def test_normalisation_folds_case_diacritics_and_splits_scripts():
    assert normalize.words("Récifs CORALLIENS, l'Œuvre") == ["recifs", "coralliens", "l", "oeuvre"]
    assert normalize.words("Straße") == normalize.words("STRASSE")
    assert normalize.words("図書館の本") == ["図", "書", "館", "の", "本"]
    assert normalize.words("Θάλασσα") == ["θαλασσα"]
    assert normalize.isbn_forms("0-19-852663-6 (pbk.)") == ["9780198526636", "0198526636"]
    assert normalize.isbn_forms("978-0-8044-2957-3") == ["9780804429573", "080442957x"]
    assert normalize.identifier("1234-567X") == "1234567x"
    assert normalize.query_words(f"cor{MASK_ANY} r{MASK_ONE}ef") == [f"cor{MASK_ANY}", f"r{MASK_ONE}ef"]


def test_index_follows_add_update_delete_in_the_same_transaction(dbsession):
    catalog = Catalog(dbsession)
    biblio = catalog.add_record(_record("Les récifs coralliens"))
    number = biblio.biblionumber
    # visible inside the transaction that wrote it, before commit
    assert _hits(dbsession, Clause("title", "=", "recifs")) == [number]
    dbsession.commit()
    assert _hits(dbsession, Clause("title", "=", "RÉCIFS")) == [number]
    catalog.update_record(number, _record("Jardins d'hiver"))
    assert _hits(dbsession, Clause("title", "=", "recifs")) == []
    assert _hits(dbsession, Clause("title", "=", "jardins")) == [number]
    dbsession.rollback()  # the update is undone, and so is its indexing
    assert _hits(dbsession, Clause("title", "=", "recifs")) == [number]
    catalog.delete_record(number)
    dbsession.commit()
    assert _hits(dbsession, Clause("title", "=", "recifs")) == []
    assert _hits(dbsession, Clause("allrecords", "=", "1")) == []


def test_savepoints_and_rollbacks_keep_the_index_right(dbsession):
    catalog = Catalog(dbsession)
    kept = catalog.add_record(_record("Kept before the savepoint")).biblionumber
    savepoint = dbsession.begin_nested()
    dropped = catalog.add_record(_record("Dropped inside the savepoint")).biblionumber
    assert _hits(dbsession, Clause("title", "any", "kept dropped")) == [kept, dropped]  # searched inside
    savepoint.rollback()
    assert _hits(dbsession, Clause("title", "any", "kept dropped")) == [kept]
    with dbsession.begin_nested():
        catalog.update_record(kept, _record("Kept and renamed"))
    dbsession.commit()
    assert _hits(dbsession, Clause("title", "=", "renamed")) == [kept]
    catalog.add_record(_record("Never committed"))
    dbsession.rollback()
    dbsession.commit()
    assert _hits(dbsession, Clause("title", "=", "never")) == []


def test_a_record_is_indexed_once_per_transaction_from_its_state_then(dbsession, reference_data, monkeypatch):
    from kohaweb.search import indexer

    catalog = Catalog(dbsession)
    number = catalog.add_record(_record("Tidal charts")).biblionumber
    items = [catalog.add_item(number, barcode=f"3999{n}", homebranch="FFL", holdingbranch="FFL", itype="BK")
             for n in range(3)]
    dbsession.commit()
    made = []
    real_entry_for = indexer.entry_for
    monkeypatch.setattr(indexer, "entry_for", lambda *args, **kwargs: made.append(1) or real_entry_for(*args, **kwargs))
    # an item changed outside a savepoint, another added inside one that rolls back: the entry
    # written at commit is made once, from what is left
    catalog.update_item(items[0].itemnumber, barcode="39990-new")
    with pytest.raises(RuntimeError), dbsession.begin_nested():
        catalog.add_item(number, barcode="39998", homebranch="FFL", holdingbranch="FFL", itype="BK")
        assert _hits(dbsession, Clause("barcode", "=", "39998")) == [number]  # searched inside
        raise RuntimeError("rolled back")
    catalog.update_record(number, _record("Tidal charts, revised"))
    dbsession.commit()
    assert _hits(dbsession, Clause("barcode", "=", "39998")) == []
    assert _hits(dbsession, Clause("barcode", "=", "39990new")) == [number]
    assert _hits(dbsession, Clause("title", "=", "revised")) == [number]
    assert len(made) == 2  # the search inside the savepoint wrote the queue once, the commit once
    # a withdrawal (its items one by one, then the record) makes no entry at all
    made.clear()
    for item in items:
        catalog.delete_item(item.itemnumber)
    catalog.delete_record(number)
    dbsession.commit()
    assert made == []
    assert _hits(dbsession, Clause("barcode", "=", "39991")) == []
    assert _hits(dbsession, Clause("title", "=", "tidal")) == []


def test_items_feed_item_indexes(dbsession, reference_data):
    catalog = Catalog(dbsession)
    biblio = catalog.add_record(_record("Island light"))
    item = catalog.add_item(biblio.biblionumber, barcode="39999-0001", homebranch="FFL", holdingbranch="FFL",
                            itype="DVD")
    dbsession.commit()
    assert _hits(dbsession, Clause("barcode", "=", "399990001")) == [biblio.biblionumber]
    assert _hits(dbsession, Clause("branch", "=", "ffl")) == [biblio.biblionumber]
    assert _hits(dbsession, Clause("itemtype", "=", "DVD")) == [biblio.biblionumber]
    catalog.delete_item(item.itemnumber)
    dbsession.commit()
    assert _hits(dbsession, Clause("barcode", "=", "399990001")) == []


@pytest.fixture
def small_catalogue(dbsession):
    catalog = Catalog(dbsession)
    records = [
        _record("The coral reef handbook", isbn="0-19-852663-6", subjects=["Coral reefs and islands"], year="1985"),
        _record("Reefs of the world", author="Müller, Hans", subjects=["Coral reefs"], year="2001"),
        _record("Coral gardens", author="Lefèvre, Chloé", isbn="9780804429573", subjects=["Gardening"], year="2010"),
        _record("図書館の歴史", author="田中", subjects=["Libraries"], year="1975"),
        _record("A history of the river", subjects=["History", "Rivers"], year="1890"),
    ]
    ids = [b.biblionumber for b in catalog.add_records(records)]
    dbsession.commit()
    return ids


def test_relations_masking_anchoring_and_booleans(dbsession, small_catalogue):
    reef, reefs, gardens, library, river = small_catalogue
    assert _hits(dbsession, Clause("title", "=", "coral")) == [reef, gardens]
    assert _hits(dbsession, Clause("title", "=", f"reef{MASK_ANY}")) == [reef, reefs]
    assert _hits(dbsession, Clause("title", "=", f"r{MASK_ONE}ef")) == [reef]
    assert _hits(dbsession, Clause("title", "=", f"{MASK_ANY}ardens")) == [gardens]
    assert _hits(dbsession, Clause("title", "=", "coral reef")) == [reef]  # phrase: adjacent words
    assert _hits(dbsession, Clause("title", "=", "reef coral")) == []
    assert _hits(dbsession, Clause("title", "all", "reef coral")) == [reef]
    assert _hits(dbsession, Clause("title", "any", "gardens river")) == [gardens, river]
    assert _hits(dbsession, Clause("subject", "exact", "coral reefs")) == [reefs]
    assert _hits(dbsession, Clause("subject", "=", f"{ANCHOR}coral reefs")) == [reef, reefs]
    assert _hits(dbsession, Clause("subject", "=", f"islands{ANCHOR}")) == [reef]
    assert _hits(dbsession, Clause("title", "=", "図書館")) == [library]
    assert _hits(dbsession, Clause("author", "=", "muller")) == [reefs]
    assert _hits(dbsession, Clause("author", "=", "LEFEVRE chloe")) == [gardens]
    assert _hits(dbsession, Clause("isbn", "=", "9780198526636")) == [reef]  # stored as ISBN-10
    assert _hits(dbsession, Clause("isbn", "=", "0-8044-2957-X")) == [gardens]  # stored as ISBN-13
    assert _hits(dbsession, Clause("pubdate", "<", "1900")) == [river]
    assert _hits(dbsession, Clause("pubdate", "within", "1980 2005")) == [reef, reefs]
    assert _hits(dbsession, Clause("pubdate", ">=", "2001")) == [reefs, gardens]
    assert _hits(dbsession, Clause("recid", "<=", str(reefs))) == [reef, reefs]
    assert _hits(dbsession, Clause("title", "<>", "coral")) == [reefs, library, river]
    coral, reefw = Clause("title", "=", "coral"), Clause("title", "=", f"reef{MASK_ANY}")
    assert _hits(dbsession, Boolean("and", coral, reefw)) == [reef]
    assert _hits(dbsession, Boolean("or", coral, reefw)) == [reef, reefs, gardens]
    assert _hits(dbsession, Boolean("not", coral, reefw)) == [gardens]
    assert _hits(dbsession, Boolean("or", Boolean("and", coral, reefw), Clause("any", "=", "rivers"))) == [reef, river]
    assert _hits(dbsession, Boolean("prox", Clause("title", "=", "coral"), Clause("title", "=", "handbook"),
                                    distance=2)) == [reef]
    assert _hits(dbsession, Boolean("prox", Clause("title", "=", "handbook"), Clause("title", "=", "coral"),
                                    distance=2, ordered=True)) == []


def test_sorting_and_paging(dbsession, small_catalogue):
    node = Clause("allrecords", "=", "1")
    titles = search.search(dbsession, node, limit=10, sort=(SortKey("title"),)).ids
    # "The coral..." files under "coral" (245 second indicator 4 skips "The ")
    assert titles.index(small_catalogue[0]) < titles.index(small_catalogue[1])
    years = search.search(dbsession, node, limit=10, sort=(SortKey("date", ascending=False),)).ids
    assert years[0] == small_catalogue[2] and years[-1] == small_catalogue[4]
    page = search.search(dbsession, node, offset=2, limit=2)
    assert page.total == 5 and page.ids == small_catalogue[2:4]


@pytest.mark.parametrize("rank", [False, True])
@pytest.mark.parametrize("word", ["coral", f"cora{MASK_ANY}", "coral reef"])  # the hidden list read with the word, or alone
def test_suppressed_records_are_hidden_from_public_searches(dbsession, small_catalogue, rank, word):
    node = Clause("title", "=", word)
    everyone = _hits(dbsession, node, public=False, rank=rank)
    assert small_catalogue[0] in everyone
    Catalog(dbsession).set_suppressed(small_catalogue[0])
    # the search's own transaction already hides it, and so does every later one
    assert _hits(dbsession, node, rank=rank) == [n for n in everyone if n != small_catalogue[0]]
    dbsession.commit()
    assert _hits(dbsession, node, rank=rank) == [n for n in everyone if n != small_catalogue[0]]
    assert search.search(dbsession, node, rank=rank).total == len(everyone) - 1
    assert _hits(dbsession, node, public=False, rank=rank) == everyone


@pytest.mark.parametrize("node, code", [
    (Clause("title", "=", f"r{MASK_ONE}"), "masking_too_short"),
    (Clause("title", "=", f"{MASK_ONE}{MASK_ANY}"), "masking_too_short"),
    (Clause("title", "=", "  ...  "), "empty_term"),
    (Clause("date", "<", "soon"), "invalid_term"),
    (Clause("title", "=", f"co{ANCHOR}ral"), "anchor_position"),
    (Clause("nosuchindex", "=", "x"), "unsupported_index"),
    (Clause("title", "encloses", "x"), "unsupported_relation"),
])
def test_query_errors(dbsession, node, code):
    with pytest.raises(QueryError) as caught:
        search.search(dbsession, node)
    assert caught.value.code == code


def test_scan_lists_terms_with_counts(dbsession, small_catalogue):
    terms = search.scan(dbsession, "title", "reef", position=2, count=4)
    values = [t.value for t in terms]
    assert values[1] == "reef" and values == sorted(values)
    assert {t.value: t.count for t in terms}["reef"] == 1


def test_rebuild_and_not_ready_state(dbsession, session_factory, small_catalogue):
    from sqlalchemy import delete

    from kohaweb.search import state, tables

    dbsession.execute(delete(tables.postings))
    dbsession.commit()
    assert _hits(dbsession, Clause("title", "=", "coral")) == []
    state.set_status(dbsession, state.REBUILDING)  # as left by a rebuild that died half-way
    dbsession.commit()
    assert not search.is_ready(dbsession)
    assert search.rebuild(session_factory, batch=2) == 5
    dbsession.rollback()  # end the read transaction that still sees the old snapshot
    assert search.is_ready(dbsession)
    assert _hits(dbsession, Clause("title", "=", "coral")) == [small_catalogue[0], small_catalogue[2]]


def test_rebuild_command(tmp_path, database_url, clean_db, small_catalogue):
    import io

    from kohaweb.cli import Cli, build_parser

    ini = tmp_path / "test.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {database_url}\n"
                   "kohaweb.secret = test-secret-0123456789abcdef0123456789\n")
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["-c", str(ini), "index", "rebuild", "--batch-size", "2"])
    cli = Cli(str(ini), out, err)
    assert args.func(args, cli) == 0
    assert "indexed 5 records" in out.getvalue()
    assert "5/5" in err.getvalue()  # the progress line


def test_posting_lists_across_blocks_follow_updates_and_removals(dbsession):
    """Records in several blocks of record numbers (first, last and next record of a block, and a
    far one): phrases, proximity, booleans, sorting and scan read across blocks, and replacing or
    removing one record leaves the others' postings in its block intact."""
    from kohaweb.search import indexer, posting_format

    edge = posting_format.BLOCK
    numbers = [5, edge - 1, edge, 3 * edge + 17]
    titles = {5: "The coral reef atlas", edge - 1: "The reef and the coral", edge: "The coral reef studies",
              3 * edge + 17: "The deep coral reef ecology"}  # "The " is non-filing (245 ind. 2 = 4)

    def entry(title):
        return indexer.entry_for(_record(title), "MARC21", [])

    indexer.apply(dbsession, {n: entry(titles[n]) for n in numbers})
    assert _hits(dbsession, Clause("title", "=", "coral reef")) == [5, edge, 3 * edge + 17]
    assert _hits(dbsession, Clause("title", "all", "reef coral")) == numbers
    assert _hits(dbsession, Boolean("prox", Clause("title", "=", "coral"), Clause("title", "=", "reef"),
                                    distance=3, comparison=">=")) == [edge - 1]
    assert _hits(dbsession, Clause("title", "exact", "the coral reef studies")) == [edge]
    assert _hits(dbsession, Clause("allrecords", "=", "1")) == numbers
    by_title = search.search(dbsession, Clause("title", "=", "reef"), limit=10, sort=(SortKey("title"),)).ids
    assert by_title == [5, edge, 3 * edge + 17, edge - 1]
    assert {t.value: t.count for t in search.scan(dbsession, "title", "reef", count=1)} == {"reef": 4}
    indexer.apply(dbsession, {edge - 1: entry("atlas of lichens"), edge: None})
    assert _hits(dbsession, Clause("title", "=", "reef")) == [5, 3 * edge + 17]
    assert _hits(dbsession, Clause("title", "=", "atlas")) == [5, edge - 1]
    assert _hits(dbsession, Clause("allrecords", "=", "1")) == [5, edge - 1, 3 * edge + 17]
    assert search.count_rows(dbsession) == 3


def test_rebuild_with_worker_processes(dbsession, session_factory, small_catalogue):
    before = _hits(dbsession, Clause("title", "=", "coral"))
    dbsession.rollback()
    assert search.rebuild(session_factory, workers=2) == 5
    assert _hits(dbsession, Clause("title", "=", "coral")) == before
    assert search.is_ready(dbsession)


def test_rebuilds_leave_no_dead_rows_on_postgresql(dbsession, session_factory, small_catalogue, engine):
    """The old index is truncated, not deleted row by row: on a server without autovacuum the
    dead rows would stay in the tables (and in searches' way) rebuild after rebuild."""
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is the PostgreSQL path")
    from sqlalchemy import text

    def heap_pages() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT pg_relation_size('search_postings') / 8192")).scalar()

    dbsession.rollback()
    assert search.rebuild(session_factory) == 5
    after_one = heap_pages()
    for _ in range(3):
        assert search.rebuild(session_factory) == 5
    assert heap_pages() == after_one  # row by row deletes would have kept each old copy's pages


def test_a_rebuild_deletes_when_a_reader_holds_the_index(dbsession, session_factory, small_catalogue, engine,
                                                         monkeypatch):
    """An open transaction that read the index would hold TRUNCATE off: after a short wait the
    rebuild deletes the rows instead (every writer would otherwise queue behind it)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is the PostgreSQL path")
    from kohaweb.search import indexer

    monkeypatch.setattr(indexer, "TRUNCATE_WAIT_MS", 200)
    before = _hits(dbsession, Clause("title", "=", "coral"))  # dbsession's transaction stays open
    assert search.rebuild(session_factory) == 5
    dbsession.rollback()
    assert _hits(dbsession, Clause("title", "=", "coral")) == before
