"""kohaweb import FILE... / kohaweb export"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..cli import CommandError
from ..search.posting_format import BLOCK
from ..search.staging import begin as begin_staged_load
from ..search.staging import finish as finish_staged_load
from ..search.vocabulary import RUN, BatchRun
from ..search.writer import STAGED


def register(sub) -> None:
    imp = sub.add_parser("import", help="import MARC records (ISO 2709 or MARCXML, MARC21 or UNIMARC)",
                         description="Import bibliographic records. Each batch commits whole (records, items "
                                     "and index) or not at all; a run that was stopped resumes after its last "
                                     "committed batch when given the same file again. Authority records "
                                     "(leader/06 z; x or y in UNIMARC) are stored as authorities, in the "
                                     "same batches; holdings records are reported and skipped.")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--batch-size", type=int, default=BLOCK,
                     help="records per transaction at most; a batch commits whole or not at all, and never "
                          f"spans two blocks of the search index ({BLOCK} record numbers; the default)")
    imp.add_argument("--flavour", choices=("MARC21", "UNIMARC"), help="force the MARC flavour")
    imp.add_argument("--workers", type=int, default=None,
                     help="processes that parse and prepare records (default: one per CPU; 1: none)")
    imp.add_argument("--authorities", action="store_true",
                     help="store every record of the files as an authority record, whatever its leader")
    imp.add_argument("--again", action="store_true",
                     help="import a file again even though an earlier run imported all of it")
    imp.set_defaults(func=import_files)
    exp = sub.add_parser("export", help="write the catalogue as a MARCXML collection (streaming)")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.add_argument("--with-items", action="store_true", help="embed items in 952/995")
    exp.add_argument("--authorities", action="store_true",
                     help="write the authority records instead of the bibliographic ones")
    exp.set_defaults(func=export)


# fewer new records leave the postings' B-tree little looser than a repack would (kohaweb.search.repack)
REPACK_AFTER = 10_000


def import_files(args, cli) -> int:
    from .. import loading

    if args.batch_size < 1:
        raise CommandError("--batch-size must be positive")
    workers = args.workers if args.workers is not None else max(os.cpu_count() or 1, 1)
    if workers < 1:
        raise CommandError("--workers must be positive")
    with cli.transaction() as session:
        from ..search import count_rows
        from ..visibility import load_policy

        catalog = cli.catalog(session)
        context = loading.LoadContext(args.flavour, load_policy(session), catalog.library_codes(),
                                      authorities=args.authorities, site_flavour=catalog.flavour)
        indexed_before = count_rows(session)
    imported = rejected = authorities = 0
    run = BatchRun()
    factory = cli.site.session_factory
    identified = {path: _identify_or_error(path) for path in args.files}
    staged = begin_staged_load(factory, records=sum(found[2] for found in identified.values()
                                                    if not isinstance(found, OSError)))
    with loading.worker_pool(workers) as pool:
        for path in args.files:
            counts = _import_file(cli, args, path, identified[path], context, run, staged, workers, pool)
            imported, rejected, authorities = imported + counts[0], rejected + counts[1], authorities + counts[2]
    if staged:  # the batches' posting rows were staged: put in key order (kohaweb.search.staging)
        from ..search.staging import FINISHING

        cli.err.write(f"search index: {FINISHING[cli.site.engine.dialect.name]}\n")
        finish_staged_load(factory)
    also = f" and {authorities} authority records" if authorities else ""
    cli.out.write(f"imported {imported} records{also}, skipped {rejected}\n")
    # a first load, or one that doubled the index (SQLite repacks nothing either way)
    if imported >= max(indexed_before, REPACK_AFTER):
        from ..search.commands import repack_after_load

        repack_after_load(cli, postings=not staged)  # a staged load's postings are in order already
    return 0 if imported or authorities or not rejected else 1


def _import_file(cli, args, path: str, found: tuple[str, int, int] | OSError, context: Any, run: BatchRun,
                 staged: bool, workers: int, pool: Any) -> tuple[int, int, int]:
    """One file of ``kohaweb import``, resumed where an earlier run stopped: (records imported,
    refused, authority records imported)."""
    from .. import loading, marc

    imported = rejected = authorities = 0
    if isinstance(found, OSError):
        raise CommandError(f"{path}: {found.strerror or found}") from None
    key, size, total = found
    with cli.transaction() as session:
        done = _progress_row(session, key, path, size)
        resume_after, completed = done.position, done.completed
    if completed and not args.again:
        cli.err.write(f"{path}: already imported completely on {completed:%Y-%m-%d %H:%M} "
                      "(--again to import it again)\n")
        return 0, 0, 0
    if completed:
        resume_after = 0
        with cli.transaction() as session:
            _restart(session, key)
    elif resume_after:
        cli.err.write(f"{path}: resuming after record {resume_after} (an earlier run stopped there)\n")
    progress = cli.progress(total=max(total - resume_after, 0) or None, label="records")
    raw = ((p, data, error) for p, data, error in marc.read_raw_records(path) if p > resume_after)
    prepared = loading.prepared_batches(raw, lambda n: _allocate(cli, n), context, workers=workers,
                                        chunk=min(args.batch_size, loading.CHUNK), pool=pool)
    try:
        for batch, (stored, stored_authorities) in _stored_in_turn(cli, key, run, staged,
                                                                    loading.joined(prepared, args.batch_size)):
            authorities += stored_authorities
            stored -= stored_authorities
            for item in batch.refused:
                cli.err.write(f"{path}: record {item.position} skipped: {item.reason}\n")
            for item in batch.skipped_items:
                cli.err.write(f"{path}: record {item.position}: {item.reason}\n")
            imported += stored
            rejected += len(batch.refused)
            progress.update(stored + stored_authorities + len(batch.refused))
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror or exc}") from None
    with cli.transaction() as session:
        _finish(session, key)
    progress.finish()
    return imported, rejected, authorities


def _identify_or_error(path: str) -> tuple[str, int, int] | OSError:
    try:
        return _identify(path)
    except OSError as exc:  # reported when the import comes to the file
        return exc


def _identify(path: str) -> tuple[str, int, int]:
    """A key for the file (digest of its size and first megabyte), its size, and about how many
    records it holds (counted without parsing, for the time left)."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    count = 0
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
        digest.update(head)
        xml = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
        chunk, tail = head, b""
        while chunk:
            text = tail + chunk
            if xml:  # closing tags, with or without a namespace prefix
                count += len(_CLOSING_RECORD.findall(text)) - len(_CLOSING_RECORD.findall(text[-24:]))
                tail = text[-24:]
            else:
                count += chunk.count(b"\x1d")
            chunk = fh.read(1 << 22)
    return digest.hexdigest(), size, count


_CLOSING_RECORD = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?record>")


def _progress_row(session, key: str, path: str, size: int):
    from ..models import ImportedFile

    row = session.get(ImportedFile, key)
    if row is None:
        row = ImportedFile(file_key=key, path=os.path.abspath(path), size=size, position=0, imported=0, refused=0)
        session.add(row)
        session.flush()
    return row


def _restart(session, key: str) -> None:
    from ..models import ImportedFile, utcnow

    row = session.get(ImportedFile, key)
    row.position, row.imported, row.refused, row.completed, row.started = 0, 0, 0, None, utcnow()


def _finish(session, key: str) -> None:
    from ..models import ImportedFile, utcnow

    row = session.get(ImportedFile, key)
    row.completed = row.updated = utcnow()


def _allocate(cli, count: int) -> range:
    from ..ids import allocate

    with cli.transaction() as session:
        return allocate(session, "biblio", count)


def _stored_in_turn(cli, key: str, run: BatchRun, staged: bool,
                    batches: Iterator) -> Iterator[tuple[Any, tuple[int, int]]]:
    """Each batch with what ``_store`` stored of it, in order: stored by a thread of its own
    while this one gathers (and joins) the next batch.

    Storing a batch is mostly waiting for the database, during which the GIL is free: the
    next batch's results are received from the workers and joined meanwhile, rather than
    after. One batch at most waits for the thread, so memory stays what it was; batches are
    still stored one at a time, in file order, each in its own transaction. A failure ends
    the import at that batch, raised here: the batch queued behind it is not stored (it
    would move the file's position past records that were not)."""
    from ..loading import cycle_collector_paused

    failed = threading.Event()

    def store(batch) -> tuple[int, int]:
        if failed.is_set():
            raise RuntimeError("not stored: an earlier batch failed")
        try:
            with cycle_collector_paused():
                return _store(cli, key, batch, run, staged)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(1, thread_name_prefix="kohaweb-import-store") as storing:
        waiting: tuple[Any, Future] | None = None
        try:
            for batch in batches:
                started = storing.submit(store, batch)
                if waiting is not None:
                    yield waiting[0], waiting[1].result()
                waiting = (batch, started)
            if waiting is not None:
                yield waiting[0], waiting[1].result()
        except BaseException:
            failed.set()  # nothing queued is stored after this
            if waiting is not None:  # let the batch in flight end (committed or rolled back) first
                with contextlib.suppress(BaseException):
                    waiting[1].result()
            raise


def _store(cli, key: str, batch, run: BatchRun, staged: bool = False) -> tuple[int, int]:
    """Store one prepared batch (its bibliographic and authority records) in one transaction,
    with the file's position moved in the same transaction. If the batch as a whole fails (a
    constraint of the database), its records are stored one at a time to find the culprits,
    which are added to ``batch.refused``. Returns how many records were stored, and how many of
    them are authorities. ``run``: the terms the import's batches list, told what committed."""
    try:
        with cli.transaction() as session:
            session.info[RUN] = run
            session.info[STAGED] = staged
            stored, authorities = _store_in(cli, session, key, batch, run)
            del session.info[RUN]
    except BaseException:
        run.rolled_back()
        raise
    run.committed()
    from ..db import empty_sqlite_wal

    empty_sqlite_wal(cli.site.session_factory.kw["bind"])
    return stored, authorities


def _store_in(cli, session, key: str, batch, run: BatchRun) -> tuple[int, int]:
    from sqlalchemy.exc import DataError, IntegrityError

    from ..authorities import Authorities, AuthorityError
    from ..catalog import CatalogError
    from ..loading import PreparedBatch, RefusedRecord, reindexed
    from ..models import ImportedFile, utcnow

    failures = (CatalogError, AuthorityError, ValueError, IntegrityError, DataError)
    catalog = cli.catalog(session)
    store = Authorities(session, catalog.flavour)
    try:
        with session.begin_nested():
            stored = len(catalog.add_prepared(batch))
            authorities = len(store.add_prepared(batch.authorities))
            stored += authorities
    except failures:
        run.rolled_back()  # what the savepoint listed went with it
        stored = authorities = 0
        # a new Catalog: the one above remembers the item types it created in the savepoint
        # that was just rolled back
        catalog = cli.catalog(session)
        for authority in batch.authorities:
            try:
                with session.begin_nested():
                    authorities += len(store.add_prepared([authority]))
            except failures as exc:
                batch.refused.append(RefusedRecord(authority.position, str(exc).splitlines()[0]))
        stored = authorities
        for record in batch.records:
            try:
                with session.begin_nested():
                    stored += len(catalog.add_prepared(PreparedBatch([record], index=reindexed(record))))
            except failures as exc:
                run.rolled_back()
                batch.refused.append(RefusedRecord(record.position, str(exc).splitlines()[0]))
        batch.refused.sort(key=lambda r: r.position)
    row = session.get(ImportedFile, key)
    positions = [r.position for r in batch.records + batch.authorities + batch.refused]
    row.position, row.updated = max(positions + [row.position]), utcnow()
    row.imported += stored
    row.refused += len(batch.refused)
    return stored, authorities


def export(args, cli) -> int:
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    try:
        _write_collection(cli, args, out)
    except BrokenPipeError:  # `kohaweb export | head` is not an error
        return 0
    finally:
        if args.output:
            out.close()
    return 0


def _write_collection(cli, args, out) -> None:
    from ..catalog import item_dict
    from ..marc import embed_items, parse_xml, record_to_xml

    out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n'
              b'<collection xmlns="http://www.loc.gov/MARC21/slim">\n')
    with cli.transaction() as session:
        if args.authorities:
            from ..authorities import Authorities

            for authority in Authorities(session).iter_authorities():
                out.write(authority.marcxml.encode("utf-8") + b"\n")
            out.write(b"</collection>\n")
            return
        for biblio in cli.catalog(session).iter_biblios():
            xml = biblio.metadata_row.metadata_xml.encode("utf-8")
            if args.with_items and biblio.items:
                record = embed_items(parse_xml(xml), biblio.flavour, (item_dict(i) for i in biblio.items))
                xml = record_to_xml(record)
            out.write(xml + b"\n")
    out.write(b"</collection>\n")
