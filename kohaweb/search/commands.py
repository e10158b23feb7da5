"""kohaweb index rebuild | status | repack"""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("index", help="the search index")
    actions = parser.add_subparsers(dest="index_action", metavar="ACTION")
    actions.required = True
    rebuild = actions.add_parser("rebuild", help="re-index every record from its stored MARC (services refuse "
                                 "to search until it has finished)")
    rebuild.add_argument("--batch-size", type=int, default=8192,
                         help="records per transaction (at most one block of 8,192 record numbers)")
    rebuild.add_argument("--workers", type=int, default=1,
                         help="processes that parse records and extract terms while this one writes")
    rebuild.add_argument("--authorities", action="store_true",
                         help="rebuild the authorities index instead (as kohaweb authorities reindex)")
    rebuild.set_defaults(func=run_rebuild)
    status = actions.add_parser("status", help="show whether the index is ready and how many records it holds")
    status.set_defaults(func=run_status)
    repack = actions.add_parser("repack", help="rebuild the postings' B-tree compactly after large changes, "
                                "vacuuming first on PostgreSQL (searches and writes go on; done by import "
                                "and rebuild themselves)")
    repack.set_defaults(func=run_repack)


def run_rebuild(args, cli) -> int:
    from sqlalchemy import func, select

    from ..cli import CommandError
    from ..models import Biblio
    from .indexer import rebuild_index

    if args.batch_size < 1:
        raise CommandError("--batch-size must be positive")
    if args.authorities:
        from ..commands.authorities import run_reindex

        return run_reindex(args, cli)
    if args.workers < 1:
        raise CommandError("--workers must be positive")
    with cli.transaction() as session:
        total = session.scalar(select(func.count()).select_from(Biblio)) or 0
    progress = cli.progress(total, "records")
    rebuilt = rebuild_index(cli.site.session_factory, batch=args.batch_size, workers=args.workers,
                            progress=progress.update)
    progress.finish()
    cli.out.write(f"indexed {rebuilt.records} records; the index is ready\n")
    # postings whose key was built after the rows went in are compact already
    repack_after_load(cli, postings=not rebuilt.key_built)
    return 0


def run_repack(args, cli) -> int:
    from ..cli import CommandError
    from .repack import RepackError

    try:
        _repack(cli)
    except RepackError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _repack(cli, *, postings: bool = True) -> None:
    from .repack import repack

    seconds = repack(cli.site.engine, postings=postings)
    if seconds:
        cli.out.write(f"repacked the search index in {seconds:.1f} s\n")


def repack_after_load(cli, *, postings: bool = True) -> None:
    """Repack after a bulk load (import, rebuild): a failure leaves a working index, so it is
    reported, not raised. ``postings`` False: the postings' key was built after the load
    (kohaweb.search.staging), compact already."""
    from .repack import RepackError

    try:
        _repack(cli, postings=postings)
    except RepackError as exc:
        cli.err.write(f"{exc}; run `kohaweb index repack` later\n")


def run_status(args, cli) -> int:
    from . import count_rows, status

    with cli.transaction() as session:
        cli.out.write(f"status: {status(session)}\nrecords indexed: {count_rows(session)}\n")
    return 0
