"""kohaweb user add USERID --permission P ..., user grant USERID -p P ..., user permissions [USERID].

A permission is a whole Koha module (``circulate``) or one of its sub-permissions as the REST
layer checks them (``reserveforothers:place_holds``), stored as Koha stores them."""

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
    add.add_argument("--permission", "-p", action="append", default=[],
                     help="module or module:code sub-permission (repeatable)")
    add.add_argument("--cardnumber")
    add.add_argument("--surname")
    add.add_argument("--firstname")
    add.add_argument("--email")
    add.add_argument("--library", help="branchcode (default: the first library)")
    add.add_argument("--category", help="patron category (default: the first category)")
    add.set_defaults(func=add_user)
    more = actions.add_parser("grant", help="give an existing user more permissions")
    more.add_argument("userid")
    more.add_argument("--permission", "-p", action="append", required=True,
                      help="module or module:code sub-permission (repeatable)")
    more.set_defaults(func=grant_permissions)
    listing = actions.add_parser("permissions", help="the permissions kohaweb knows, or those of a user")
    listing.add_argument("userid", nargs="?")
    listing.set_defaults(func=list_permissions)


def check_permissions(permissions: list[str]) -> None:
    """Refuse (CommandError) names that are neither a known module nor ``module:code`` of it."""
    from ..auth import known_permission

    unknown = sorted(p for p in permissions if not known_permission(p))
    if unknown:
        raise CommandError(f"unknown permission(s) {', '.join(unknown)}; "
                           "see kohaweb user permissions for modules and module:code sub-permissions")


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

    from ..auth import find_patron, grant, hash_password
    from ..models import Library, Patron, PatronCategory

    check_permissions(args.permission)
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


def grant_permissions(args, cli) -> int:
    """``user grant USERID -p P ...``: add modules or sub-permissions to an existing user."""
    from ..auth import find_patron, grant

    check_permissions(args.permission)
    with cli.transaction() as session:
        patron = find_patron(session, args.userid)
        if patron is None:
            raise CommandError(f"no patron with userid or cardnumber {args.userid!r}")
        grant(session, patron, *args.permission)
        session.flush()
        held = sorted(patron.permission_codes)
    cli.out.write(f"{args.userid} now has {', '.join(held)}\n")
    return 0


def list_permissions(args, cli) -> int:
    """``user permissions``: each module and its sub-permissions (``module:code``), one a line;
    ``user permissions USERID``: what that user holds."""
    from ..auth import PERMISSIONS, SUB_PERMISSIONS, find_patron

    if args.userid is None:
        for module in PERMISSIONS:
            cli.out.write(f"{module}\n")
            cli.out.writelines(f"{module}:{code}\n" for code in SUB_PERMISSIONS.get(module, ()))
        return 0
    with cli.transaction() as session:
        patron = find_patron(session, args.userid)
        if patron is None:
            raise CommandError(f"no patron with userid or cardnumber {args.userid!r}")
        held = sorted(patron.permission_codes)
    cli.out.writelines(f"{name}\n" for name in held)
    return 0
