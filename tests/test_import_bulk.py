"""`kohaweb import`'s bulk path stores what the data layer stores, record for record.

The real collections of ../shared/data are loaded twice into the same database: by ``kohaweb
import`` (worker processes, the fast ISO 2709 reader and MARCXML writer, prepared index rows) and
by the data layer one record at a time (``Catalog.add_records``, the index's delta path). Stored
MARCXML, summaries, items, each record's stored index terms and every posting list must be the
same (record numbers differ: an import leaves the numbers of refused and authority records
unused, so records are paired in order). The fast reader and writer are also compared with
pymarc's reader and lxml's serialiser on every real record.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from kohaweb import loading, marc
from kohaweb.authorities import is_authority
from kohaweb.catalog import Catalog
from kohaweb.models import Biblio, BiblioMetadata, Item, Library
from kohaweb.search import posting_folds, posting_format, tables
from kohaweb.search.writer import decode_terms
from kohaweb.testing import clean_database

COLLECTIONS = ["marc21-collection.xml", "unimarc-collection.xml"]


def _iso2709_files(shared_data: Path) -> list[Path]:
    return sorted(p for folder in ("marc21", "unimarc", "malformed") for p in (shared_data / folder).rglob("*")
                  if p.is_file() and p.suffix.lower() in (".mrc", ".dat", ".iso", ".marc", ".mrc8", ".utf8"))


def _shape(record) -> tuple:
    return (str(record.leader), [(f.tag, f.data) if f.is_control_field() else
                                 (f.tag, tuple(f.indicators), [tuple(s) for s in f.subfields]) for f in record.fields])


def test_fast_reader_reads_what_pymarc_reads(shared_data):
    fast = slow = 0
    for path in _iso2709_files(shared_data):
        for position, data, _ in marc.read_raw_records(str(path)):
            if data is None:
                continue
            record = marc.files._read_plain_utf8(data)
            found = list(marc.files._read_iso2709(io.BytesIO(data)))
            expected = found[0].record if found else None
            if record is None:
                slow += 1
                continue
            fast += 1
            assert expected is not None, (path, position, found[0].error)
            assert _shape(record) == _shape(expected), (path, position)
            assert marc.read_one(data) is not None
    # both paths are exercised: UTF-8 records take the fast one, MARC-8 and broken ones do not
    assert fast > 1000 and slow > 100, (fast, slow)


def test_marcxml_writer_writes_what_lxml_writes(shared_data):
    compared = 0
    for name in COLLECTIONS:
        for result in marc.read_records(str(shared_data / name)):
            if result.record is not None:
                expected = etree.tostring(marc.record_to_element(result.record), encoding="utf-8")
                assert marc.record_to_xml(result.record) == expected, (name, result.position)
                compared += 1
    assert compared > 9000


@pytest.mark.parametrize("text", ['a & b <c> "d" \'e\'', "tab\tline\nreturn\r", "bad \x01 char \ufffe",
                                  "", "]]> &amp;", "\U0001f600 é 中"])
def test_marcxml_writer_escapes_and_cleans_as_lxml(text):
    import pymarc

    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="001", data=text))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", text[:1] or " "), subfields=[
        pymarc.Subfield(code=text[:1] or "a", value=text), pymarc.Subfield(code="b", value="")]))
    record.add_field(pymarc.Field(tag="500", indicators=pymarc.Indicators(" ", " "), subfields=[]))
    expected = etree.tostring(marc.record_to_element(record), encoding="utf-8")
    assert marc.record_to_xml(record) == expected
    assert marc.parse_xml(expected) is not None


def _bibliographic(path: Path) -> list:
    """The records ``kohaweb import`` stores as bibliographic records, in file order."""
    out = []
    for result in marc.read_records(str(path)):
        record = result.record
        if record is None or is_authority(record) or str(record.leader)[6:7] in loading.HOLDINGS:
            continue
        out.append(record)
    return out


def _libraries(session, records: list) -> frozenset[str]:
    """Libraries for the item codes of these records that fit a library code, so that items are
    stored (those at other codes are left out, by both paths)."""
    codes = set()
    for record in records:
        tag = "995" if marc.detect_flavour(record) == marc.UNIMARC else "952"
        for field in record.get_fields(tag):
            codes.update(v.strip() for v in field.get_subfields("a", "b", "c") if v.strip() and len(v.strip()) <= 10)
    for code in sorted(codes):
        session.add(Library(branchcode=code, branchname=code))
    session.commit()
    return frozenset(codes)


def _snapshot(session) -> dict:
    """What the database holds, by record number: stored record, items, index terms, postings."""
    biblios = {number: (flavour, hidden, title, author, isbn, xml) for number, flavour, hidden, title, author, isbn, xml
               in session.execute(select(Biblio.biblionumber, Biblio.flavour, Biblio.hidden_from_public, Biblio.title,
                                         Biblio.author, Biblio.isbn, BiblioMetadata.metadata_xml)
                                  .join(BiblioMetadata, BiblioMetadata.biblionumber == Biblio.biblionumber))}
    items: dict[int, list] = {}
    for number, barcode, home, itype in session.execute(select(Item.biblionumber, Item.barcode, Item.homebranch,
                                                               Item.itype)):
        items.setdefault(number, []).append((barcode, home, itype))
    r, t = tables.records, tables.record_terms
    terms = {number: ({k: tuple(v) if v else None for k, v in decode_terms(blob).items()}, title, author, year)
             for number, blob, title, author, year in session.execute(
                 select(r.c.biblionumber, t.c.terms, r.c.title, r.c.author, r.c.year)
                 .join(t, t.c.biblionumber == r.c.biblionumber))}
    assert len(terms) == session.scalar(select(func.count()).select_from(r)) \
        == session.scalar(select(func.count()).select_from(t))  # both rows of every record
    p = tables.postings
    grouped: dict[tuple, list] = {}
    for idx, term, block, docs, positions, dels in session.execute(
            select(p.c.idx, p.c.term, p.c.block, p.c.docs, p.c.positions, p.c.dels)
            .order_by(p.c.idx, p.c.term, p.c.block, p.c.seg)):
        grouped.setdefault((idx, term, block), []).append((docs, positions, dels))
    lists: dict[tuple, dict[int, tuple]] = {}
    for (idx, term, block), rows in grouped.items():
        found = lists.setdefault((idx, term), {})
        base = block << posting_format.BLOCK_BITS
        for offset in posting_folds.fold_docs([(docs, dels) for docs, _, dels in rows]).tolist():
            found[base + offset] = ()
        if any(positions for _, positions, _ in rows):
            for key in posting_folds.fold_keys(rows).tolist():
                found[base + (key >> posting_format.POSITION_BITS)] += (key & 0xFFFF,)
    return {"biblios": biblios, "items": items, "terms": terms,
            "postings": {key: found for key, found in lists.items() if found}}


def _renumbered(snapshot: dict) -> dict:
    """The snapshot with records numbered 1, 2, 3... in the order of their numbers."""
    new = {old: i for i, old in enumerate(sorted(snapshot["biblios"]), 1)}
    return {"biblios": {new[n]: v for n, v in snapshot["biblios"].items()},
            "items": {new[n]: sorted(v, key=repr) for n, v in snapshot["items"].items()},
            "terms": {new[n]: v for n, v in snapshot["terms"].items()},
            "postings": {key: {new[n]: v for n, v in found.items()} for key, found in snapshot["postings"].items()}}


@pytest.mark.parametrize("name", COLLECTIONS)
def test_bulk_import_stores_what_the_data_layer_stores(name, shared_data, run_cli, engine, dbsession):
    path = shared_data / name
    records = _bibliographic(path)
    libraries = _libraries(dbsession, records)
    # the default batch: 2,000-record chunks prepared by the workers, joined into one transaction
    # (and one index row per term) per block
    status, out, err = run_cli("import", "--workers", "2", str(path))
    assert status == 0, err[-2000:]
    dbsession.expire_all()
    bulk = _renumbered(_snapshot(dbsession))
    dbsession.commit()
    clean_database(engine)
    _libraries(dbsession, records)
    catalog = Catalog(dbsession)
    for start in range(0, len(records), 500):
        chunk = records[start:start + 500]
        items = []
        for record in chunk:
            values = marc.strip_items(record, marc.detect_flavour(record))
            items.append([v for v in values if loading.item_problem(v, libraries) is None])
        catalog.add_records(chunk, items=items)
        dbsession.commit()
    layer = _renumbered(_snapshot(dbsession))
    assert len(bulk["biblios"]) == len(records) > 3000
    assert sum(map(len, bulk["items"].values())) == sum(map(len, layer["items"].values()))
    for part in ("biblios", "items", "terms"):
        assert bulk[part] == layer[part], part
    assert len(bulk["postings"]) > 100000
    assert bulk["postings"].keys() == layer["postings"].keys()
    assert bulk["postings"] == layer["postings"]


def test_chunks_end_where_index_blocks_end_and_join_into_one_row_per_term(shared_data):
    """Chunks never span two index blocks; joined, a block's chunks give what preparing all its
    records at once gives (one row per term, records and positions in order)."""
    from kohaweb.search.writer import new_record_rows
    from kohaweb.visibility import Policy

    raw = [(p, data, error) for p, data, error in marc.read_raw_records(str(shared_data / "marc21-collection.xml"))
           if data is None or not is_authority(marc.read_one(data))][:700]
    raw.insert(10, (99999, None, "cut badly"))  # an unreadable record, refused in the chunk it was met in
    start = posting_format.BLOCK - 250  # numbers run over a block's end
    taken = []

    def allocate(count: int) -> range:
        numbers = range(start + sum(map(len, taken)), start + sum(map(len, taken)) + count)
        taken.append(numbers)
        return numbers

    context = loading.LoadContext(None, Policy(), frozenset())
    chunks = list(loading.prepared_batches(iter(raw), allocate, context, workers=1, chunk=100))
    readable = sum(1 for _, data, _ in raw if data is not None)
    rest = readable - 250
    assert [len(c.numbers) for c in chunks] == [100, 100, 50] + [100] * (rest // 100) + [rest % 100] * bool(rest % 100)
    assert all(posting_format.block_of(c.numbers[0]) == posting_format.block_of(c.numbers[-1]) for c in chunks)
    assert [r.reason for r in chunks[0].refused] == ["cut badly"]
    whole = list(loading.joined(chunks, posting_format.BLOCK))
    assert [len(b.numbers) for b in whole] == [250, rest]
    assert len(whole[0].records) == sum(len(c.records) for c in chunks[:3]) and whole[0].refused
    for batch in whole:
        entries = {}
        for record in batch.records:
            from kohaweb.search.indexer import entry_for

            entries[record.biblionumber] = entry_for(marc.parse_xml(record.marcxml), record.flavour, record.items)
        expected = new_record_rows(entries)
        assert batch.index.keys() == expected.keys()
        for block, rows in expected.items():
            assert batch.index[block].postings.rows() == rows.postings.rows()
            assert batch.index[block].records == rows.records
    assert all(len(b.numbers) <= 200 for b in loading.joined(chunks, 200))  # the limit holds too
