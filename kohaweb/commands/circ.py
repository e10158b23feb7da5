"""kohaweb circ checkout|checkin|renew: loans from the command line, by the same rules as the
web services (kohaweb.circulation)."""

from __future__ import annotations

import datetime as dt

from ..cli import CommandError


def register(sub) -> None:
    parser = sub.add_parser("circ", help="circulation: check out, check in and renew items")
    actions = parser.add_subparsers(dest="circ_action", metavar="ACTION")
    actions.required = True
    out = actions.add_parser("checkout", help="lend an item to a patron (due date from the circulation rules)")
    out.add_argument("patron", help="cardnumber, userid or borrowernumber")
    out.add_argument("item", help="barcode or itemnumber")
    out.add_argument("--library", help="branchcode where the loan happens (default: the item's library)")
    out.add_argument("--due", help="due date YYYY-MM-DD (default: from the circulation rules)")
    out.set_defaults(func=checkout_command)
    back = actions.add_parser("checkin", help="return an item")
    back.add_argument("item", help="barcode or itemnumber")
    back.add_argument("--library", help="branchcode where the item is returned")
    back.add_argument("--no-holds", action="store_true",
                      help="do not set the item aside for the first hold it can fill")
    back.set_defaults(func=checkin_command)
    again = actions.add_parser("renew", help="renew a loan (refused with Koha's reason code)")
    again.add_argument("item", help="barcode or itemnumber")
    again.set_defaults(func=renew_command)


def _patron(session, text: str):
    from ..auth import find_patron
    from ..models import Patron

    patron = find_patron(session, text)
    if patron is None and text.strip().isdigit() and len(text.strip()) < 10:
        patron = session.get(Patron, int(text.strip()))
    if patron is None:
        raise CommandError(f"no patron with cardnumber, userid or number {text!r}")
    return patron


def _item(session, text: str):
    from ..circulation import find_item

    item = find_item(session, text)
    if item is None:
        raise CommandError(f"no item with barcode or number {text!r}")
    return item


def _library(session, code: str | None) -> str | None:
    from ..models import Library

    if code is not None and session.get(Library, code) is None:
        raise CommandError(f"no library {code!r}")
    return code


def checkout_command(args, cli) -> int:
    from ..circulation import CirculationError, checkout

    due = None
    if args.due:
        try:
            due = dt.datetime.combine(dt.date.fromisoformat(args.due), dt.time(23, 59))
        except ValueError:
            raise CommandError(f"--due: expected YYYY-MM-DD, got {args.due!r}") from None
    with cli.transaction() as session:
        patron, item = _patron(session, args.patron), _item(session, args.item)
        try:
            loan = checkout(session, patron, item, branchcode=_library(session, args.library), due=due,
                            catalog=cli.catalog(session))
        except CirculationError as exc:
            raise CommandError(f"cannot check out: {exc.code}: {exc.message}") from None
        line = (f"checked out item {item.itemnumber} ({item.barcode or 'no barcode'}) to patron "
                f"{patron.borrowernumber}, due {loan.date_due:%Y-%m-%d %H:%M} (checkout {loan.issue_id})\n")
    cli.out.write(line)
    return 0


def checkin_command(args, cli) -> int:
    from ..circulation import CirculationError, checkin, trap_hold

    with cli.transaction() as session:
        item = _item(session, args.item)
        library = _library(session, args.library)
        try:
            old = checkin(session, item, branchcode=library, catalog=cli.catalog(session))
        except CirculationError as exc:
            raise CommandError(f"cannot check in: {exc.code}: {exc.message}") from None
        line = f"checked in item {item.itemnumber} (checkout {old.issue_id}, patron {old.borrowernumber})\n"
        hold = None if args.no_holds else trap_hold(session, item, branchcode=library)
        if hold is not None:
            state = "waiting at" if hold.found == "W" else "to be sent to"
            line += f"hold {hold.reserve_id} of patron {hold.borrowernumber}: {state} {hold.branchcode}\n"
    cli.out.write(line)
    return 0


def renew_command(args, cli) -> int:
    from ..circulation import CirculationError, renew

    with cli.transaction() as session:
        item = _item(session, args.item)
        try:
            loan = renew(session, item, catalog=cli.catalog(session))
        except CirculationError as exc:
            raise CommandError(f"cannot renew: {exc.code}: {exc.message}") from None
        line = (f"renewed item {item.itemnumber}: due {loan.date_due:%Y-%m-%d %H:%M}, "
                f"renewals {loan.renewals_count}\n")
    cli.out.write(line)
    return 0
