"""kohaweb import FILE... / kohaweb export"""

from __future__ import annotations

import sys

from ..cli import CommandError


def register(sub) -> None:
    imp = sub.add_parser("import", help="import MARC records (ISO 2709 or MARCXML, MARC21 or UNIMARC)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--batch-size", type=int, default=500,
                     help="records per transaction; a batch commits whole or not at all")
    imp.add_argument("--flavour", choices=("MARC21", "UNIMARC"), help="force the MARC flavour")
    imp.set_defaults(func=import_files)
    exp = sub.add_parser("export", help="write the catalogue as a MARCXML collection (streaming)")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.add_argument("--with-items", action="store_true", help="embed items in 952/995")
    exp.set_defaults(func=export)


def import_files(args, cli) -> int:
    from ..catalog import CatalogError
    from ..marc import read_records

    if args.batch_size < 1:
        raise CommandError("--batch-size must be positive")
    progress = cli.progress(label="records")
    imported = rejected = 0
    for path in args.files:
        try:
            results = read_records(path)
            batch: list = []
            for result in results:
                if result.record is None:
                    rejected += 1
                    cli.err.write(f"{path}: record {result.position} skipped: {result.error}\n")
                    continue
                batch.append(result)
                if len(batch) >= args.batch_size:
                    imported, rejected = _commit(cli, path, batch, args, imported, rejected, progress)
                    batch = []
            if batch:
                imported, rejected = _commit(cli, path, batch, args, imported, rejected, progress)
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        except CatalogError as exc:
            raise CommandError(f"{path}: {exc}") from None
    progress.finish()
    cli.out.write(f"imported {imported} records, skipped {rejected}\n")
    return 0 if imported or not rejected else 1


def _commit(cli, path, batch, args, imported, rejected, progress):
    """Store one batch in one transaction (all or nothing if the process dies). A record the
    catalogue refuses is rolled back to its savepoint, reported and skipped."""
    from sqlalchemy.exc import DataError, IntegrityError

    from ..catalog import CatalogError

    refused = (CatalogError, ValueError, IntegrityError, DataError)
    stored = 0
    with cli.transaction() as session:
        catalog = cli.catalog(session)
        try:
            with session.begin_nested():
                catalog.add_records([r.record for r in batch], flavour=args.flavour)
            stored = len(batch)
        except refused:
            for result in batch:  # find the culprit(s) one record at a time
                try:
                    with session.begin_nested():
                        catalog.add_records([result.record], flavour=args.flavour)
                    stored += 1
                except refused as exc:
                    rejected += 1
                    cli.err.write(f"{path}: record {result.position} skipped: {exc}\n")
    progress.update(stored)
    return imported + stored, rejected


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
        for biblio in cli.catalog(session).iter_biblios():
            xml = biblio.metadata_row.metadata_xml.encode("utf-8")
            if args.with_items and biblio.items:
                record = embed_items(parse_xml(xml), biblio.flavour, (item_dict(i) for i in biblio.items))
                xml = record_to_xml(record)
            out.write(xml + b"\n")
    out.write(b"</collection>\n")
