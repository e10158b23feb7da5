"""kohaweb authorities link | reindex | status"""

from __future__ import annotations

from ..cli import CommandError


def register(sub) -> None:
    parser = sub.add_parser("authorities", help="authority records: heading links and their search index")
    actions = parser.add_subparsers(dest="authorities_action", metavar="ACTION")
    actions.required = True
    link = actions.add_parser(
        "link", help="link unlinked bibliographic headings to authorities ($9) by exact match of the "
        "normalised heading (Koha's link_bibs_to_authorities)",
        description="Headings that already carry a $9 are left alone. Each batch of records commits "
                    "whole; linked records get a new datestamp and are re-indexed.")
    link.add_argument("--dry-run", action="store_true", help="count what would be linked; change nothing")
    link.add_argument("--linker", choices=("default", "first", "last"), default="default",
                      help="several matching authorities: default links none (Koha's Default), first or "
                           "last links the lowest or highest authid (FirstMatch, LastMatch)")
    link.add_argument("--batch-size", type=int, default=500, help="records per transaction (default 500)")
    link.add_argument("--verbose", action="store_true", help="one line per heading linked")
    link.set_defaults(func=run_link)
    reindex = actions.add_parser("reindex", help="rebuild the authorities search index from the stored "
                                 "records (SRU /sru/authorities refuses to search until it has finished)")
    reindex.add_argument("--batch-size", type=int, default=8192, help="authorities per transaction")
    reindex.set_defaults(func=run_reindex)
    status = actions.add_parser("status", help="authorities stored and indexed, and the index's state")
    status.set_defaults(func=run_status)


def run_link(args, cli) -> int:
    from sqlalchemy import select

    from .. import marc
    from ..authority_links import LinkOutcome, link_record
    from ..catalog import Catalog
    from ..models import Biblio, BiblioMetadata

    if args.batch_size < 1:
        raise CommandError("--batch-size must be positive")
    totals = LinkOutcome()
    checked = changed = 0
    cache: dict = {}
    last = 0
    while True:
        with cli.transaction() as session:
            rows = session.execute(
                select(Biblio.biblionumber, Biblio.flavour, BiblioMetadata.metadata_xml)
                .join(BiblioMetadata, BiblioMetadata.biblionumber == Biblio.biblionumber)
                .where(Biblio.biblionumber > last).order_by(Biblio.biblionumber).limit(args.batch_size)).all()
            if not rows:
                break
            for number, flavour, xml in rows:
                checked += 1
                try:
                    record = marc.parse_xml(xml)
                except (ValueError, KeyError):
                    cli.err.write(f"record {number}: stored MARCXML cannot be read; skipped\n")
                    continue
                outcome = link_record(session, record, flavour, linker=args.linker, cache=cache)
                totals.linked += outcome.linked
                totals.unmatched += outcome.unmatched
                totals.multiple += outcome.multiple
                totals.already += outcome.already
                if args.verbose:
                    for heading, authid in outcome.linked:
                        cli.out.write(f"{number}\t{heading.tag}\t{heading.display}\t-> {authid}\n")
                if outcome.linked:
                    changed += 1
                    if not args.dry_run:
                        Catalog(session, flavour).update_record(number, record)
            last = rows[-1][0]
    would = "would be " if args.dry_run else ""
    cli.out.write(f"records checked: {checked}; {would}changed: {changed}\n"
                  f"headings {would}linked: {len(totals.linked)}; already linked: {totals.already}; "
                  f"no authority: {len(totals.unmatched)}; several authorities: {len(totals.multiple)}\n")
    return 0


def run_reindex(args, cli) -> int:
    from sqlalchemy import func, select

    from ..models import Authority
    from ..search import authority_index

    if args.batch_size < 1:
        raise CommandError("--batch-size must be positive")
    with cli.transaction() as session:
        total = session.scalar(select(func.count()).select_from(Authority)) or 0
    progress = cli.progress(total, "authorities")
    done = authority_index.rebuild(cli.site.session_factory, batch=args.batch_size, progress=progress.update)
    progress.finish()
    cli.out.write(f"indexed {done} authorities; the authorities index is ready\n")
    return 0


def run_status(args, cli) -> int:
    from sqlalchemy import func, select

    from ..models import Authority
    from ..search import authority_index

    with cli.transaction() as session:
        stored = session.scalar(select(func.count()).select_from(Authority)) or 0
        cli.out.write(f"status: {authority_index.status(session)}\nauthorities stored: {stored}\n"
                      f"authorities indexed: {authority_index.size(session)}\n")
    return 0
