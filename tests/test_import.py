"""`kohaweb import`: real MARC21 and UNIMARC files, malformed records, all-or-nothing batches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymarc
import pytest
from sqlalchemy import func, select

from kohaweb.marc import read_records
from kohaweb.models import Authority, Biblio, Item
from kohaweb.sampledata import generate_records


def marc_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (
        ".mrc", ".dat", ".xml", ".iso", ".marc", ".mrc8", ".utf8"))


def _bibliographic(record) -> bool:
    return record is not None and str(record.leader)[6:7] not in ("z", "u", "v", "x", "y")


def pymarc_readable(path: Path) -> int:
    """How many bibliographic records pymarc itself can read from a file (the issue's yardstick;
    authority and holdings records are not imported as bibliographic records)."""
    if path.suffix.lower() == ".xml":
        try:
            return sum(map(_bibliographic, pymarc.parse_xml_to_array(str(path))))
        except Exception:  # noqa: BLE001  (a file pymarc cannot parse at all counts as zero)
            return 0
    with open(path, "rb") as fh:
        reader = pymarc.MARCReader(fh, to_unicode=True, permissive=True)
        count = 0
        try:
            for record in reader:
                count += _bibliographic(record)
        except Exception:  # noqa: BLE001
            pass
        return count


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("flavour_dir", ["marc21", "unimarc"])
def test_import_real_files_loads_what_pymarc_reads(flavour_dir, shared_data, run_cli, dbsession):
    files = marc_files(shared_data / flavour_dir)
    assert files
    expected = sum(pymarc_readable(p) for p in files)
    # the two workers of a default import on this machine, one pool for all the files
    status, out, err = run_cli("import", "--workers", "2", "--batch-size", "200", *map(str, files))
    imported = count(dbsession, Biblio)
    assert f"imported {imported} records" in out
    # everything pymarc reads is loaded; we may also rescue records pymarc's XML reader refuses
    assert imported >= expected * 0.99, (imported, expected, err[-2000:])
    if flavour_dir == "unimarc":
        flavours = dict(dbsession.execute(select(Biblio.flavour, func.count()).group_by(Biblio.flavour)).all())
        assert flavours.get("UNIMARC", 0) > imported * 0.8


def test_malformed_records_are_reported_by_position(shared_data, run_cli, dbsession):
    path = shared_data / "malformed" / "edsu__pymarc" / "bad_records.mrc"
    results = list(read_records(str(path)))
    bad = [r.position for r in results if r.record is None]
    good = [r for r in results if r.record is not None]
    assert bad, "fixture should contain broken records"
    status, out, err = run_cli("import", str(path))
    for position in bad:
        assert f"{path}: record {position} skipped" in err
    assert count(dbsession, Biblio) == len(good)


def test_whole_malformed_folder_never_crashes(shared_data, run_cli):
    files = marc_files(shared_data / "malformed")
    status, out, err = run_cli("import", *map(str, files))
    assert "imported" in out
    assert "Traceback" not in err
    assert "skipped" in err


def test_unreadable_path_is_one_line(run_cli, tmp_path):
    status, out, err = run_cli("import", str(tmp_path / "missing.mrc"))
    assert status == 1 and "missing.mrc" in err and "Traceback" not in err


def _write_sample_file(path: Path, records: int) -> None:
    with open(path, "wb") as fh:
        writer = pymarc.MARCWriter(fh)
        for generated in generate_records(records, seed=5):
            writer.write(generated.record)
        writer.close(close_fh=False)


def test_one_pool_of_workers_prepares_every_file_of_a_run(tmp_path, run_cli, dbsession, monkeypatch):
    """Starting workers forks the importing process: once a run, not once a file (a folder of
    268 real files took 24 s with a pool per file, 14 s with one)."""
    import multiprocessing.pool

    started = []
    original = multiprocessing.pool.Pool.__init__

    def counted(self, *args, **kwargs):
        started.append(args[:1])
        original(self, *args, **kwargs)

    monkeypatch.setattr(multiprocessing.pool.Pool, "__init__", counted)
    files = []
    for size in (3, 4, 5):
        files.append(tmp_path / f"part{size}.mrc")
        _write_sample_file(files[-1], size)
    status, out, err = run_cli("import", "--workers", "2", *map(str, files))
    assert status == 0, err
    assert "imported 12 records" in out
    assert len(started) == 1


def test_killed_import_leaves_only_whole_batches(tmp_path, ini_file, dbsession):
    path = tmp_path / "big.mrc"
    _write_sample_file(path, 6000)
    proc = subprocess.Popen([sys.executable, "-m", "kohaweb.cli", "-c", str(ini_file), "import",
                             "--batch-size", "250", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            dbsession.rollback()
            if count(dbsession, Biblio) >= 500 or proc.poll() is not None:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    dbsession.rollback()
    loaded = count(dbsession, Biblio)
    assert 0 < loaded < 6000, "the import should have been killed mid-way"
    assert loaded % 250 == 0, f"{loaded} records: a partial batch was committed"
    # the same command again resumes after the last committed batch: nothing twice, nothing lost
    done = subprocess.run([sys.executable, "-m", "kohaweb.cli", "-c", str(ini_file), "import",
                           "--batch-size", "250", str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming after record {loaded}" in done.stderr
    dbsession.rollback()
    assert count(dbsession, Biblio) == 6000
    again = subprocess.run([sys.executable, "-m", "kohaweb.cli", "-c", str(ini_file), "import", str(path)],
                           capture_output=True, text=True, timeout=300)
    assert "already imported completely" in again.stderr
    dbsession.rollback()
    assert count(dbsession, Biblio) == 6000


def test_authority_records_go_to_authorities_and_holdings_records_are_skipped(tmp_path, run_cli, dbsession):
    path = tmp_path / "mixed.mrc"
    kinds = ["a", "z", "a", "y", "u", "a"]
    with open(path, "wb") as fh:
        writer = pymarc.MARCWriter(fh)
        for position, kind in enumerate(kinds, 1):
            record = pymarc.Record(leader=f"00000n{kind}m a2200000 a 4500")
            record.add_field(pymarc.Field(tag="001", data=f"rec{position}"))
            record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                          subfields=[pymarc.Subfield("a", f"Heading {position}")]))
            writer.write(record)
        writer.close(close_fh=False)
    status, out, err = run_cli("import", str(path))
    assert status == 0, err
    assert "imported 3 records and 1 authority records, skipped 2" in out
    assert "record 2 skipped" not in err
    assert f"{path}: record 4 skipped: a holdings record (leader/06 'y')" in err
    assert f"{path}: record 5 skipped: a holdings record (leader/06 'u')" in err
    assert count(dbsession, Biblio) == 3
    assert count(dbsession, Authority) == 1


def test_items_at_unknown_libraries_are_reported_not_created(tmp_path, run_cli, dbsession, reference_data):
    from kohaweb.models import Library

    libraries = count(dbsession, Library)
    dbsession.rollback()
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", "Coral reefs")]))
    for barcode, branch in (("B1", "CPL"), ("B2", "x" * 40)):
        record.add_field(pymarc.Field(tag="952", indicators=pymarc.Indicators(" ", " "), subfields=[
            pymarc.Subfield("a", branch), pymarc.Subfield("b", branch), pymarc.Subfield("p", barcode),
            pymarc.Subfield("y", "BK")]))
    path = tmp_path / "items.mrc"
    path.write_bytes(record.as_marc())
    status, out, err = run_cli("import", str(path))
    assert status == 0, err
    assert "imported 1 records" in out
    assert "record 1: item 'B2' skipped: its library 'xxxxxxxx" in err
    dbsession.rollback()
    assert count(dbsession, Library) == libraries
    assert list(dbsession.scalars(select(Item.barcode))) == ["B1"]


def test_batch_retried_record_by_record_keeps_item_types_it_created(tmp_path, run_cli, dbsession, reference_data):
    """A batch refused by the database is stored again one record at a time; item types the
    failed attempt created were rolled back with it and must be created again, or the good
    records of that batch would be refused on a foreign key."""
    from kohaweb.models import ItemType

    def book(title: str, barcode: str, itype: str) -> pymarc.Record:
        record = pymarc.Record(leader="00000nam a2200000 a 4500")
        record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                      subfields=[pymarc.Subfield("a", title)]))
        record.add_field(pymarc.Field(tag="952", indicators=pymarc.Indicators(" ", " "), subfields=[
            pymarc.Subfield("a", "CPL"), pymarc.Subfield("b", "CPL"), pymarc.Subfield("p", barcode),
            pymarc.Subfield("y", itype)]))
        return record

    path = tmp_path / "batch.mrc"
    # the second record repeats the first one's barcode: the batch's INSERT fails as a whole
    path.write_bytes(book("Coral reefs", "DUP1", "NEWTYPE").as_marc() + book("Atolls", "DUP1", "BK").as_marc())
    status, out, err = run_cli("import", "--workers", "1", str(path))
    assert status == 0, err
    assert "imported 1 records, skipped 1" in out
    assert "record 2 skipped" in err
    dbsession.rollback()
    assert list(dbsession.scalars(select(Item.barcode))) == ["DUP1"]
    assert dbsession.get(ItemType, "NEWTYPE") is not None


def test_left_truncation_finds_what_later_batches_and_retried_batches_imported(tmp_path, run_cli, dbsession, reference_data):
    """A batch does not list again the terms its run's previous batch listed (vocabulary.BatchRun),
    and a refused record's terms are listed by the next batch that has them: a left-truncated
    word finds every record either way."""
    from kohaweb import search
    from kohaweb.search import MASK_ANY, Clause

    def book(title: str, barcode: str) -> pymarc.Record:
        record = pymarc.Record(leader="00000nam a2200000 a 4500")
        record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                      subfields=[pymarc.Subfield("a", title)]))
        record.add_field(pymarc.Field(tag="952", indicators=pymarc.Indicators(" ", " "), subfields=[
            pymarc.Subfield("a", "CPL"), pymarc.Subfield("b", "CPL"), pymarc.Subfield("p", barcode)]))
        return record

    path = tmp_path / "batches.mrc"
    # batch 1: the second record repeats the first one's barcode and is refused; batch 2 has its words
    path.write_bytes(b"".join(r.as_marc() for r in (
        book("Coral reefs", "B1"), book("Atolls", "B1"), book("Atolls lagoons", "B2"), book("Reefs", "B3"))))
    status, out, err = run_cli("import", "--workers", "1", "--batch-size", "2", str(path))
    assert status == 0, err
    assert "imported 3 records, skipped 1" in out
    dbsession.rollback()

    def titles(word: str) -> list[str]:
        ids = search.search(dbsession, Clause("title", "=", word), limit=10).ids
        return sorted(b.title for b in dbsession.scalars(select(Biblio).where(Biblio.biblionumber.in_(ids))))

    assert titles(MASK_ANY + "tolls") == ["Atolls lagoons"]
    assert titles(MASK_ANY + "eefs") == ["Coral reefs", "Reefs"]


def test_progress_lines_when_not_a_terminal():
    import io

    from kohaweb.cli import Progress

    stream = io.StringIO()
    progress = Progress(stream, 1000, "records", interval=0)
    progress.update(250)
    progress.update(250)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("500/1000 records") and "left" in lines[1]


def test_import_iso2709_marc8_and_utf8(shared_data, run_cli, dbsession):
    """MARC-8 and UTF-8 records are stored as the same Unicode text pymarc decodes."""
    from kohaweb.marc import parse_xml
    from kohaweb.models import BiblioMetadata

    folder = shared_data / "marc21" / "edsu__pymarc"
    files = [folder / "marc8.dat", folder / "diacritic.dat"]
    status, out, err = run_cli("import", *map(str, files))
    assert status == 0, err
    expected = []
    for path in files:
        with open(path, "rb") as fh:
            expected += [str(r) for r in pymarc.MARCReader(fh, to_unicode=True, permissive=True) if r]
    stored = [str(parse_xml(x)) for x in dbsession.scalars(
        select(BiblioMetadata.metadata_xml).order_by(BiblioMetadata.biblionumber))]
    assert stored == expected
    assert any(ord(ch) > 127 for text in stored for ch in text), "fixtures should carry diacritics"


def test_export_round_trip(run_cli, sample_records, dbsession, tmp_path):
    ids = sample_records(25)
    out_file = tmp_path / "export.xml"
    status, _, _ = run_cli("export", "--with-items", "-o", str(out_file))
    assert status == 0
    exported = [r.record for r in read_records(str(out_file))]
    assert len(exported) == len(ids)
    items_in_db = count(dbsession, Item)
    assert sum(len(r.get_fields("952")) for r in exported) == items_in_db


def test_user_add_reads_password_from_stdin(run_cli, monkeypatch, reference_data, dbsession):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    status, out, err = run_cli("user", "add", "librarian", "--permission", "reports", "--permission", "catalogue")
    assert status == 0, err
    from kohaweb.auth import authenticate_password

    patron = authenticate_password(dbsession, "librarian", "a-long-password")
    assert patron is not None and patron.permission_codes == {"reports", "catalogue"}
    status, _, err = run_cli("user", "add", "other", "--permission", "wizardry")
    assert status == 1 and "unknown permission" in err


def test_plugins_command_lists_services(run_cli):
    status, out, _ = run_cli("plugins")
    assert status == 0 and "status" in out and "enabled" in out


def test_sample_data_is_deterministic(run_cli, dbsession):
    run_cli("sample-data", "--records", "30", "--seed", "3")
    first = list(dbsession.scalars(select(Biblio.title).order_by(Biblio.biblionumber)))
    assert len(first) == 30
    again = [g.record for g in generate_records(30, seed=3)]
    from kohaweb.marc import summary

    assert first == [summary(r, "MARC21")["title"] for r in again]


def test_a_first_load_repacks_the_index_and_a_small_addition_does_not(run_cli, monkeypatch, tmp_path, dbsession):
    """The import repacks the postings' B-tree after a run that at least doubled the index (and
    added REPACK_AFTER records); `kohaweb index repack` does it on demand (nothing to do on SQLite)."""
    from kohaweb.commands import records
    from kohaweb.search import count_rows
    from kohaweb.testing import selected_backend

    monkeypatch.setattr(records, "REPACK_AFTER", 20)
    first, more = tmp_path / "first.mrc", tmp_path / "more.mrc"
    with open(first, "wb") as fh:
        for record in generate_records(30, seed=5):
            fh.write(record.record.as_marc())
    with open(more, "wb") as fh:
        for record in generate_records(25, seed=6):
            fh.write(record.record.as_marc())
    repacks = selected_backend() != "sqlite"
    status, out, _ = run_cli("import", str(first))
    assert status == 0 and ("repacked the search index" in out) == repacks
    status, out, _ = run_cli("import", str(more))  # 25 more: short of doubling 30
    assert status == 0 and "repacked" not in out
    assert count_rows(dbsession) == 55
    dbsession.rollback()  # a transaction open on the postings holds a repack off (until it gives up)
    status, out, err = run_cli("index", "repack")
    assert status == 0, err
    assert ("repacked the search index" in out) == repacks


def test_a_worker_chunk_is_one_block_of_the_index():
    # a stored batch is then one worker's chunk, with no joining in the writing process
    from kohaweb import loading
    from kohaweb.search.posting_format import BLOCK

    assert loading.CHUNK == BLOCK


def test_a_batch_that_fails_in_the_storing_thread_ends_the_import_there(monkeypatch):
    # the next batch is already queued for the thread when one fails: it must not be stored,
    # or the file's position would move past the failed batch's records
    import threading

    from kohaweb.commands import records

    stored, release = [], threading.Event()

    def fake_store(cli, key, batch, run, staged):
        stored.append(batch)
        if batch == 2:
            release.wait(5)  # batch 3 is queued meanwhile
            raise OSError("the database went away")
        return (1, 0)

    def batches():
        yield from (1, 2)
        release.set()
        yield 3

    monkeypatch.setattr(records, "_store", fake_store)
    got = []
    with pytest.raises(OSError, match="went away"):
        for batch, result in records._stored_in_turn(None, "key", None, False, batches()):
            got.append((batch, result))
    assert got == [(1, (1, 0))]
    assert stored == [1, 2]


def test_a_database_that_runs_out_of_space_is_one_line_and_keeps_the_batches_before(tmp_path, run_cli, dbsession,
                                                                                     monkeypatch):
    # SQLite rolls the whole transaction back by itself when its disk is full, so rolling back
    # the batch's savepoint fails as well: the message names the first error, not a traceback
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from kohaweb.catalog import Catalog

    path = tmp_path / "some.mrc"
    _write_sample_file(path, 30)
    real, calls = Catalog.add_prepared, []

    def add_prepared(self, batch):
        calls.append(len(batch.records))
        if len(calls) == 2:
            try:
                raise OperationalError("INSERT INTO search_postings ...", {}, sqlite3.OperationalError(
                    "database or disk is full"))
            except OperationalError:  # raised while handling it, as the savepoint's rollback is
                raise OperationalError("ROLLBACK TO SAVEPOINT sa_savepoint_1", {}, sqlite3.OperationalError(  # noqa: B904
                    "no such savepoint: sa_savepoint_1"))
        return real(self, batch)

    monkeypatch.setattr(Catalog, "add_prepared", add_prepared)
    status, out, err = run_cli("import", "--batch-size", "10", "--workers", "1", str(path))
    assert status == 1 and "Traceback" not in err, err
    assert err.strip().splitlines() == [
        "kohaweb: the database cannot be used just now (OperationalError: database or disk is full); "
        "what was committed before stays"]
    dbsession.expire_all()
    assert dbsession.scalar(select(func.count()).select_from(Biblio)) == 10  # the first batch, whole
