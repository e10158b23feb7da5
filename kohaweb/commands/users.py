"""kohaweb user add USERID --permission P ..."""

from __future__ import annotations

import getpass
import sys

from ..cli import CommandError


def register(sub) -> None:
    parser = sub.add_parser("user", help="staff users")
    actions = parser.add_subparsers(dest="user_action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="create a staff user (password from a prompt or stdin)")
    add.add_argument("userid")
    add.add_argument("--permission", "-p", action="append", default=[], help="named permission (repeatable)")
    add.add_argument("--cardnumber")
    add.add_argument("--surname")
    add.add_argument("--firstname")
    add.add_argument("--email")
    add.add_argument("--library", help="branchcode (default: the first library)")
    add.add_argument("--category", help="patron category (default: the first category)")
    add.set_defaults(func=add_user)


def read_password(stdin=None) -> str:
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise CommandError("the passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def add_user(args, cli) -> int:
    from sqlalchemy import select

    from ..auth import PERMISSIONS, find_patron, grant, hash_password
    from ..models import Library, Patron, PatronCategory

    unknown = set(args.permission) - set(PERMISSIONS)
    if unknown:
        raise CommandError(f"unknown permission(s) {', '.join(sorted(unknown))}; known: {', '.join(PERMISSIONS)}")
    password = read_password()
    if len(password) < 8:
        raise CommandError("the password must have at least 8 characters")
    with cli.transaction() as session:
        if find_patron(session, args.userid):
            raise CommandError(f"a patron with userid or cardnumber {args.userid!r} exists")
        library = args.library or session.scalar(select(Library.branchcode).order_by(Library.branchcode))
        category = args.category or session.scalar(select(PatronCategory.categorycode)
                                                   .order_by(PatronCategory.categorycode))
        if library is None or session.get(Library, library) is None:
            raise CommandError("no such library; create libraries first (kohaweb sample-data) or pass --library")
        if category is None or session.get(PatronCategory, category) is None:
            raise CommandError("no such patron category; pass --category")
        patron = Patron(userid=args.userid, cardnumber=args.cardnumber or args.userid,
                        surname=args.surname or args.userid, firstname=args.firstname, email=args.email,
                        branchcode=library, categorycode=category, password=hash_password(password))
        session.add(patron)
        grant(session, patron, *args.permission)
        session.flush()
        number = patron.borrowernumber
    cli.out.write(f"created user {args.userid} (patron {number}) with {', '.join(args.permission) or 'no'} "
                  f"permissions\n")
    return 0
