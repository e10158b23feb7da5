"""kohaweb sample-data --records N"""

from __future__ import annotations

from ..cli import CommandError


def register(sub) -> None:
    parser = sub.add_parser("sample-data", help="load a generated sample catalogue (deterministic by seed)")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--patrons", type=int, default=None, help="default: records / 20, at least 10")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flavour", choices=("MARC21", "UNIMARC"), help="default: kohaweb.marcflavour")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--if-empty", action="store_true", help="do nothing when the catalogue has records")
    parser.add_argument("--demo-user", action="store_true",
                        help="also create the superlibrarian 'koha' with password 'koha' (development only)")
    parser.set_defaults(func=sample_data)


def sample_data(args, cli) -> int:
    from sqlalchemy import func, select

    from ..auth import find_patron, grant, hash_password
    from ..models import Biblio, Patron
    from ..sampledata import ensure_reference_data, generate_patrons, generate_records

    if args.records < 0:
        raise CommandError("--records must not be negative")
    flavour = args.flavour or cli.site.core["marcflavour"]
    with cli.transaction() as session:
        if args.if_empty and session.scalar(select(func.count()).select_from(Biblio)):
            cli.out.write("catalogue not empty; sample data not loaded\n")
            return 0
        ensure_reference_data(session)
        generate_patrons(session, args.patrons if args.patrons is not None else max(10, args.records // 20),
                         args.seed)
        if args.demo_user and find_patron(session, "koha") is None:
            patron = Patron(userid="koha", cardnumber="koha", surname="Demo librarian", branchcode="CPL",
                            categorycode="S", password=hash_password("koha"))
            session.add(patron)
            grant(session, patron, "superlibrarian")
    progress = cli.progress(args.records)
    batch = []
    for generated in generate_records(args.records, args.seed, flavour):
        batch.append(generated)
        if len(batch) >= args.batch_size:
            _store(cli, batch, flavour)
            progress.update(len(batch))
            batch = []
    if batch:
        _store(cli, batch, flavour)
        progress.update(len(batch))
    progress.finish()
    cli.out.write(f"loaded {args.records} {flavour} sample records\n")
    return 0


def _store(cli, batch, flavour) -> None:
    with cli.transaction() as session:
        cli.catalog(session).add_records([g.record for g in batch], flavour=flavour, items=[g.items for g in batch])
