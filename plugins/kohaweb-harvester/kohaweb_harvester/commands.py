"""kohaweb harvest add|list|run|worker|runs|remove"""

from __future__ import annotations

import logging
import signal
import time

from kohaweb.plugin_api import CommandError, parse_settings


def register(sub) -> None:
    parser = sub.add_parser("harvest", help="harvest other OAI-PMH repositories into the catalogue")
    actions = parser.add_subparsers(dest="harvest_action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a source")
    add.add_argument("name")
    add.add_argument("base_url")
    add.add_argument("--prefix", default="marcxml", help="metadataPrefix (MARCXML formats or oai_dc)")
    add.add_argument("--set", dest="sets", action="append", default=[], help="setSpec (repeatable)")
    add.add_argument("--schedule", help="schedule hint, e.g. daily (for cron)")
    add.add_argument("--disabled", action="store_true")
    add.set_defaults(func=add_command)
    actions.add_parser("list", help="list sources").set_defaults(func=list_command)
    run = actions.add_parser("run", help="harvest sources now, in this process (incremental, resumable; for cron)")
    run.add_argument("names", nargs="*", metavar="NAME", help="default: every enabled source")
    run.set_defaults(func=run_command)
    worker = actions.add_parser("worker", help="execute the runs queued through the REST API (a service)")
    worker.add_argument("--once", action="store_true", help="execute what is queued, then exit (for cron)")
    worker.add_argument("--poll", type=float, default=10.0, metavar="SECONDS",
                        help="how often to look for queued runs (default 10)")
    worker.set_defaults(func=worker_command)
    runs = actions.add_parser("runs", help="run history of a source")
    runs.add_argument("name")
    runs.set_defaults(func=runs_command)
    remove = actions.add_parser("remove", help="remove a source (its records stay)")
    remove.add_argument("name")
    remove.set_defaults(func=remove_command)


def add_command(args, cli) -> int:
    from .sources import SourceError, add_source

    try:
        with cli.transaction() as session:
            source = add_source(session, args.name, args.base_url, args.prefix, args.sets, args.schedule,
                                not args.disabled)
            cli.out.write(f"added source {source.name} (id {source.id})\n")
    except SourceError as exc:
        raise CommandError(str(exc)) from None
    return 0


def list_command(args, cli) -> int:
    from sqlalchemy import select

    from .models import HarvestSource
    from .sources import source_dict

    with cli.transaction() as session:
        for source in session.scalars(select(HarvestSource).order_by(HarvestSource.name)):
            info = source_dict(session, source)
            run = info["last_run"]
            state = "enabled" if info["enabled"] else "disabled"
            last = f"last run {run['status']} +{run['added']} ~{run['updated']} -{run['deleted']} !{run['failed']}" \
                if run else "never run"
            cli.out.write(f"{info['name']:<20} {state:<8} {info['metadata_prefix']:<10} {info['records']:>7} records  "
                          f"{last}  {info['base_url']}\n")
    return 0


def _harvester(cli, **kwargs):
    from . import SETTINGS
    from .runner import Harvester

    settings = parse_settings(cli.raw_settings, "harvester", SETTINGS)
    return Harvester.from_settings(cli.site.session_factory, cli.site.core["marcflavour"], settings, **kwargs)


def _report(cli, name: str, run) -> bool:
    cli.out.write(f"{name}: run {run.id} {run.status}: {run.added} added, {run.updated} updated, "
                  f"{run.deleted} deleted, {run.failed} failed"
                  + (f" (last error: {run.last_error})" if run.last_error else "") + "\n")
    return run.status == "completed"


def run_command(args, cli) -> int:
    """Queue and execute a run of each source; a source whose run is queued (by the REST API) has
    that run executed, one whose run is running elsewhere is skipped."""
    from sqlalchemy import select

    from .models import HarvestSource
    from .runs import RunActive
    from .sources import find_source

    with cli.transaction() as session:
        if args.names:
            sources = []
            for name in args.names:
                source = find_source(session, name)
                if source is None:
                    raise CommandError(f"no harvest source {name!r}")
                sources.append((source.id, source.name))
        else:
            sources = [(s.id, s.name) for s in session.scalars(
                select(HarvestSource).where(HarvestSource.enabled.is_(True)).order_by(HarvestSource.name))]
    failed = 0
    for source_id, name in sources:
        progress = cli.progress(label=f"records from {name}")
        harvester = _harvester(cli, progress=progress.update)
        try:
            run = harvester.run(source_id)
        except RunActive as exc:
            run = harvester.start(exc.run_id) if exc.status == "queued" and exc.run_id else None
            if run is None:
                progress.finish()
                cli.out.write(f"{name}: skipped, run {exc.run_id or ''} is already {exc.status}\n")
                continue
        progress.finish()
        failed += not _report(cli, name, run)
    return 1 if failed else 0


class _Stop(KeyboardInterrupt):
    """SIGTERM: the current run is recorded as interrupted (its checkpoint kept), then the worker exits."""


def worker_command(args, cli) -> int:
    from .runs import queued_runs, reap_stale

    def stop(signum, frame):
        raise _Stop(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    harvester = _harvester(cli)
    log = logging.getLogger(__name__)
    cli.out.write("harvest worker started\n")
    try:
        while True:
            with cli.transaction() as session:
                for run_id in reap_stale(session, harvester.stale_after):
                    cli.out.write(f"run {run_id} was left running by a process that is gone: marked failed\n")
                queued = queued_runs(session)
            for run_id in queued:
                run = harvester.start(run_id)
                if run is not None:
                    _report(cli, f"source {run.source_id}", run)
                    log.info("harvest run %s of source %s: %s", run.id, run.source_id, run.status)
            if args.once:
                if queued:
                    continue  # runs queued meanwhile are executed too
                return 0
            if not queued:
                time.sleep(args.poll)
    except _Stop:
        cli.out.write("harvest worker stopped\n")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def runs_command(args, cli) -> int:
    from sqlalchemy import select

    from .models import HarvestRun
    from .sources import find_source, run_dict

    with cli.transaction() as session:
        source = find_source(session, args.name)
        if source is None:
            raise CommandError(f"no harvest source {args.name!r}")
        for run in session.scalars(select(HarvestRun).where(HarvestRun.source_id == source.id).order_by(HarvestRun.id)):
            info = run_dict(run)
            cli.out.write(f"{info['run_id']:>5} {info['started']} {info['status']:<11} +{info['added']} "
                          f"~{info['updated']} -{info['deleted']} !{info['failed']} {info['last_error'] or ''}\n")
    return 0


def remove_command(args, cli) -> int:
    from .sources import find_source, remove_source

    with cli.transaction() as session:
        source = find_source(session, args.name)
        if source is None:
            raise CommandError(f"no harvest source {args.name!r}")
        remove_source(session, source)
    cli.out.write(f"removed source {args.name}\n")
    return 0
