"""``kohaweb report add|list|run|delete|setup-role`` (``reports`` works too): saved reports from
the command line, with the same checks as the REST API and the same read-only runner as the web
service; ``setup-role`` creates or refreshes the database role reports run as."""

from __future__ import annotations

import json
import sys

from kohaweb.plugin_api import CommandError


def register(sub) -> None:
    parser = sub.add_parser("report", aliases=["reports"], help="saved SQL reports")
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

    setup = actions.add_parser(
        "setup-role", help="create or refresh the database role reports run as (idempotent; re-run after "
                           "migrations)")
    setup.add_argument("--admin-url", help="a database URL that may create roles and grant (default: the site's)")
    setup.add_argument("--password", help="PostgreSQL: let the role log in with this password too (for "
                                          "reports.database_url)")
    setup.set_defaults(func=setup_role)


def service_for(cli):
    """The reports service of the configured site, whether or not the web service is enabled."""
    from kohaweb.plugin_api import parse_settings

    from . import SETTINGS
    from .service import ReportService

    settings = cli.site.settings.get("reports") or parse_settings(cli.raw_settings, "reports", SETTINGS)
    return ReportService(cli.site.engine, settings, cli.site.core["secret"])


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

    from kohaweb.plugin_api import SavedReport

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
        if exc.code == "result_too_large":
            raise CommandError(f"the result is larger than {service.runner.max_bytes} bytes (reports.max_bytes)") from None
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


def setup_role(args, cli) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from kohaweb.plugin_api import make_engine

    from .access import AccessError
    from .runner import DatabaseUnavailable

    service = service_for(cli)
    if service.backend == "sqlite":
        cli.out.write("SQLite has no roles: reports run under an authorizer that reads only "
                      "reports.readable_tables (nothing to set up)\n")
        return 0
    if args.password is not None and service.backend != "postgresql":
        raise CommandError("--password is for PostgreSQL; the MariaDB reports user's password is derived from "
                           "kohaweb.secret")
    if service.settings["database_url"] and not args.admin_url:
        raise CommandError("reports.database_url is set: give --admin-url of a user that may grant on that database")
    admin = make_engine(args.admin_url) if args.admin_url else None
    try:
        for line in service.setup_role(admin, args.password):
            cli.out.write(line + "\n")
    except AccessError as exc:
        raise CommandError(exc.message) from None
    except SQLAlchemyError as exc:
        raise CommandError(f"the database is unavailable: {str(exc).splitlines()[0]}") from None
    finally:
        if admin is not None:
            admin.dispose()
    try:
        service.access()
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc)) from None
    finally:
        service.dispose()
    cli.out.write(f"reports run as {service.settings['role']}: checked, it cannot read secret columns\n")
    return 0
