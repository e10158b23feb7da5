"""kohaweb db upgrade|downgrade|current"""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("db", help="database migrations")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("upgrade", help="migrate to the newest schema (or REVISION)")
    up.add_argument("revision", nargs="?", default="heads")
    up.set_defaults(func=upgrade)
    down = actions.add_parser("downgrade", help="migrate down to REVISION (base = empty)")
    down.add_argument("revision")
    down.set_defaults(func=downgrade)
    cur = actions.add_parser("current", help="show the database's revision")
    cur.set_defaults(func=current)


def _url(cli) -> str:
    return cli.site.core["database_url"]


def upgrade(args, cli) -> int:
    from ..migrate import upgrade as run

    run(_url(cli), args.revision)
    cli.out.write(f"database at {args.revision}\n")
    return 0


def downgrade(args, cli) -> int:
    from ..migrate import downgrade as run

    run(_url(cli), args.revision)
    cli.out.write(f"database at {args.revision}\n")
    return 0


def current(args, cli) -> int:
    from alembic.runtime.migration import MigrationContext

    with cli.site.engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    cli.out.write((" ".join(heads) or "(empty)") + "\n")
    return 0
