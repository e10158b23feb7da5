"""``kohaweb report add|list|run|delete``: saved reports from the command line, with the same
checks as the REST API and the same read-only runner as the web service."""

from __future__ import annotations

import json
import sys

from kohaweb.cli import CommandError


def register(sub) -> None:
    parser = sub.add_parser("report", help="saved SQL reports")
    actions = parser.add_subparsers(dest="report_action", metavar="ACTION")
    actions.required = True

    add = actions.add_parser("add", help="save a report (SQL from --sql, --file or stdin)")
    add.add_argument("name")
    add.add_argument("--sql", help="the SQL (default: read --file, or stdin)")
    add.add_argument("--file", help="read the SQL from this file")
    add.add_argument("--description", help="what the report shows")
    add.add_argument("--public", action="store_true", help="anyone may run it at /opac/svc/report")
    add.add_argument("--cache-expiry", type=int, default=300, help="seconds results are cached (default 300)")
    add.set_defaults(func=add_report)

    listing = actions.add_parser("list", help="list saved reports")
    listing.set_defaults(func=list_reports)

    run = actions.add_parser("run", help="run a report and print its rows")
    run.add_argument("report", help="id or name")
    run.add_argument("--param", "-p", action="append", default=[],
                     help="a value for the next <<placeholder>>, or LABEL=VALUE (repeatable)")
    run.add_argument("--format", choices=("json", "annotated", "csv"), default="json")
    run.set_defaults(func=run_report)

    delete = actions.add_parser("delete", help="delete a report")
    delete.add_argument("report", help="id or name")
    delete.set_defaults(func=delete_report)


def service_for(cli):
    """The reports service of the configured site, whether or not the web service is enabled."""
    from kohaweb.settings import parse_settings

    from . import SETTINGS
    from .service import ReportService

    settings = cli.site.settings.get("reports") or parse_settings(cli.raw_settings, "reports", SETTINGS)
    return ReportService(cli.site.engine, settings)


def add_report(args, cli) -> int:
    from . import store

    if args.sql is not None:
        sql = args.sql
    elif args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                sql = handle.read()
        except OSError as exc:
            raise CommandError(f"{args.file}: {exc.strerror}") from None
    else:
        sql = sys.stdin.read()
    service = service_for(cli)
    try:
        with cli.transaction() as session:
            report = store.create(session, service, store.ReportInput(
                args.name, sql, args.description, args.public, args.cache_expiry))
            report_id = report.id
    except store.ReportError as exc:
        raise CommandError(exc.message) from None
    cli.out.write(f"saved report {report_id}: {args.name}\n")
    return 0


def list_reports(args, cli) -> int:
    from sqlalchemy import select

    from kohaweb.models import SavedReport

    with cli.transaction() as session:
        rows = session.execute(select(SavedReport.id, SavedReport.report_name, SavedReport.public,
                                      SavedReport.cache_expiry).order_by(SavedReport.id)).all()
    for report_id, name, public, expiry in rows:
        cli.out.write(f"{report_id}\t{'public' if public else 'private'}\t{expiry}s\t{name}\n")
    return 0


def run_report(args, cli) -> int:
    from . import output, store
    from .placeholders import ParameterError
    from .runner import DatabaseUnavailable, ReportFailed, TooBusy
    from .safety import Refused

    service = service_for(cli)
    values, names = [], []
    for param in args.param:
        label, sep, value = param.partition("=")
        if sep and "<<" not in label:
            names.append(label)
            values.append(value)
        else:
            values.append(param)
    if names and len(names) != len(values):
        raise CommandError("give every --param as LABEL=VALUE, or none")
    try:
        with cli.transaction() as session:
            report = store.lookup(session, args.report)
            result = service.run_sql(report.savedsql, values, names)
    except store.ReportError as exc:
        raise CommandError(exc.message) from None
    except (Refused, ParameterError) as exc:
        raise CommandError(str(exc)) from None
    except ReportFailed as exc:
        raise CommandError("the report ran too long and was stopped" if exc.timeout
                           else f"the database refused the report: {exc.message}") from None
    except (TooBusy, DatabaseUnavailable) as exc:
        raise CommandError(str(exc)) from None
    finally:
        service.runner.dispose()
    if args.format == "csv":
        cli.out.write(output.to_csv(result))
    else:
        cli.out.write(json.dumps(output.rows_json(result, args.format == "annotated"), ensure_ascii=False) + "\n")
    if result.truncated:
        cli.err.write(f"(only the first {service.max_rows} rows: reports.max_rows)\n")
    return 0


def delete_report(args, cli) -> int:
    from . import store

    service = service_for(cli)
    try:
        with cli.transaction() as session:
            report = store.lookup(session, args.report)
            name = report.report_name
            store.delete(session, service, report)
    except store.ReportError as exc:
        raise CommandError(exc.message) from None
    cli.out.write(f"deleted report {name}\n")
    return 0
