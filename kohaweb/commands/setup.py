"""First-run set-up and the reference tables:

- ``kohaweb init [--from FILE.yaml]`` migrates the database, adds the libraries, item types, patron
  categories, default circulation rules and preferences of a site definition
  (:mod:`kohaweb.reference_data`) and creates the first superlibrarian. Without ``--from`` it asks
  (on a terminal) for the library and the superlibrarian and proposes defaults for the rest.
- ``kohaweb library|itemtype|category list|add|remove`` for the same tables afterwards.
"""

from __future__ import annotations

import sys

from ..cli import CommandError


def register(sub) -> None:
    init = sub.add_parser("init", help="first-run set-up: migrate, libraries, item types, patron categories, "
                                       "circulation defaults, the first superlibrarian")
    init.add_argument("--from", dest="definition", metavar="FILE.yaml",
                      help="site definition (see kohaweb.reference_data; the password is read from a "
                           "prompt or the first line of stdin, never from the file)")
    init.add_argument("--no-migrate", action="store_true", help="do not run the migrations first")
    init.set_defaults(func=init_command)

    for name, label, extra in (("library", "libraries (branches)", _library_arguments),
                               ("itemtype", "item types", _item_type_arguments),
                               ("category", "patron categories", _category_arguments)):
        parser = sub.add_parser(name, help=label)
        actions = parser.add_subparsers(dest=f"{name}_action", metavar="ACTION")
        actions.required = True
        actions.add_parser("list", help=f"list {label}").set_defaults(func=list_command, table=name)
        add = actions.add_parser("add", help=f"add one of the {label}")
        add.add_argument("code")
        add.add_argument("name", help="name or description")
        extra(add)
        add.set_defaults(func=add_command, table=name)
        remove = actions.add_parser("remove", help=f"remove one of the {label} (only while nothing uses it)")
        remove.add_argument("code")
        remove.set_defaults(func=remove_command, table=name)


def _library_arguments(parser) -> None:
    parser.add_argument("--city")
    parser.add_argument("--email")
    parser.add_argument("--marc-org-code", help="MARC organisation code (003/040)")
    parser.add_argument("--no-pickup", action="store_true", help="not a pickup location for holds")


def _item_type_arguments(parser) -> None:
    parser.add_argument("--not-for-loan", action="store_true")
    parser.add_argument("--hide-in-opac", action="store_true")


def _category_arguments(parser) -> None:
    from ..reference_data import CATEGORY_TYPES

    parser.add_argument("--type", default="A", choices=CATEGORY_TYPES,
                        help="A adult, C child, S staff, I organisation, P professional, X statistical")
    parser.add_argument("--enrolment-period", type=int, help="months")


# --- kohaweb init -------------------------------------------------------------------------------

def _read_definition(path: str) -> dict:
    import yaml

    from ..reference_data import DefinitionError, validate

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CommandError(f"{path}: not valid YAML{where}") from None
    try:
        return validate(data)
    except DefinitionError as exc:
        raise CommandError(f"{path}: {exc}") from None


def _ask(prompt: str, default: str) -> str:
    answer = input(f"{prompt} [{default}]: ").strip()
    return answer or default


def _interactive_definition() -> dict:
    from ..reference_data import (
        DEFAULT_CIRCULATION,
        DEFAULT_ITEM_TYPES,
        DEFAULT_PATRON_CATEGORIES,
        DefinitionError,
        validate,
    )

    print("kohaweb init: a library, the first superlibrarian and default item types, patron categories "
          "and circulation rules (change them later with kohaweb library/itemtype/category).")
    code = _ask("Library code", "MAIN")
    definition = {
        "libraries": [{"code": code, "name": _ask("Library name", "Main library")}],
        "item_types": DEFAULT_ITEM_TYPES,
        "patron_categories": DEFAULT_PATRON_CATEGORIES,
        "circulation": DEFAULT_CIRCULATION,
        "superlibrarian": {"userid": _ask("Superlibrarian user name", "admin"), "library": code, "category": "S"},
    }
    try:
        return validate(definition)
    except DefinitionError as exc:
        raise CommandError(str(exc)) from None


def init_command(args, cli) -> int:
    if args.definition:
        definition = _read_definition(args.definition)
    elif sys.stdin.isatty():
        definition = _interactive_definition()
    else:
        raise CommandError("pass a site definition with --from FILE.yaml (stdin is not a terminal to ask on)")

    if not args.no_migrate:
        from ..migrate import upgrade

        upgrade(cli.site.core["database_url"])
        cli.out.write("database migrated\n")

    from ..reference_data import apply

    wanted = definition.get("superlibrarian")
    with cli.transaction() as session:
        applied = apply(session, definition)
        if wanted:
            line = _superlibrarian(session, wanted, definition)
            (applied.created if line.startswith("superlibrarian") else applied.kept).append(line)
        missing = _missing_prerequisites(session)
    for line in applied.created:
        cli.out.write(f"created {line}\n")
    for line in applied.kept:
        cli.out.write(f"kept {line} (already there)\n")
    for line in missing:
        cli.err.write(f"warning: {line}\n")
    return 0


def _superlibrarian(session, wanted: dict, definition: dict) -> str:
    from sqlalchemy import select

    from ..auth import SUPERLIBRARIAN, find_patron, grant, hash_password
    from ..models import Library, Patron, PatronCategory
    from .users import read_password

    if find_patron(session, wanted["userid"]) is not None:
        return f"user {wanted['userid']}"
    session.flush()
    library = wanted.get("library") or session.scalar(select(Library.branchcode).order_by(Library.branchcode))
    if library is None or session.get(Library, library) is None:
        raise CommandError(f"superlibrarian: no library {library!r}; list one under libraries:")
    category = wanted.get("category") or session.scalar(
        select(PatronCategory.categorycode).order_by((PatronCategory.category_type != "S"),
                                                     PatronCategory.categorycode))
    if category is None or session.get(PatronCategory, category) is None:
        raise CommandError(f"superlibrarian: no patron category {category!r}; list one under patron_categories:")
    password = read_password()
    if len(password) < 8:
        raise CommandError("the password must have at least 8 characters")
    patron = Patron(userid=wanted["userid"], cardnumber=wanted.get("cardnumber") or wanted["userid"],
                    surname=wanted.get("surname") or wanted["userid"], firstname=wanted.get("firstname"),
                    email=wanted.get("email"), branchcode=library, categorycode=category,
                    password=hash_password(password))
    session.add(patron)
    grant(session, patron, SUPERLIBRARIAN)
    session.flush()
    return f"superlibrarian {wanted['userid']} (patron {patron.borrowernumber})"


def _missing_prerequisites(session) -> list[str]:
    """What a working catalogue still lacks after init, in words saying how to add it."""
    from sqlalchemy import select

    from ..models import ItemType, Library, PatronCategory, PatronPermission

    missing = []
    for model, what, command in ((Library, "library", "kohaweb library add CODE NAME"),
                                 (ItemType, "item type", "kohaweb itemtype add CODE DESCRIPTION"),
                                 (PatronCategory, "patron category", "kohaweb category add CODE DESCRIPTION")):
        if session.scalar(select(model).limit(1)) is None:
            missing.append(f"no {what} yet: {command}")
    if session.scalar(select(PatronPermission).where(PatronPermission.code == "superlibrarian")
                      .limit(1)) is None:
        missing.append("no superlibrarian yet: kohaweb user add USERID -p superlibrarian")
    return missing


# --- kohaweb library|itemtype|category ----------------------------------------------------------

def _model(table: str):
    from ..models import ItemType, Library, PatronCategory

    return {"library": (Library, Library.branchcode, Library.branchname),
            "itemtype": (ItemType, ItemType.itemtype, ItemType.description),
            "category": (PatronCategory, PatronCategory.categorycode, PatronCategory.description)}[table]


def list_command(args, cli) -> int:
    from sqlalchemy import select

    _model_class, code, name = _model(args.table)
    with cli.transaction() as session:
        for row in session.execute(select(code, name).order_by(code)):
            cli.out.write(f"{row[0]}\t{row[1] or ''}\n")
    return 0


def add_command(args, cli) -> int:
    import re

    from ..reference_data import CODE_PATTERN, add_item_type, add_library, add_patron_category

    if not re.match(CODE_PATTERN, args.code):
        raise CommandError(f"code {args.code!r}: 1 to 10 letters, digits, '_', '.' or '-'")
    model, _code, _name = _model(args.table)
    with cli.transaction() as session:
        if session.get(model, args.code) is not None:
            raise CommandError(f"{args.table} {args.code} exists")
        if args.table == "library":
            details = {"city": args.city, "email": args.email, "marc_org_code": args.marc_org_code,
                       "pickup_location": not args.no_pickup}
            add_library(session, args.code, args.name, **{k: v for k, v in details.items() if v is not None})
        elif args.table == "itemtype":
            add_item_type(session, args.code, args.name, args.not_for_loan, args.hide_in_opac)
        else:
            add_patron_category(session, args.code, args.name, args.type, args.enrolment_period)
    cli.out.write(f"added {args.table} {args.code}\n")
    return 0


def remove_command(args, cli) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from ..models import Item, Patron

    model, code_column, _name = _model(args.table)
    users = {"library": [(Item.homebranch, "items"), (Item.holdingbranch, "items"), (Patron.branchcode, "patrons")],
             "itemtype": [(Item.itype, "items")],
             "category": [(Patron.categorycode, "patrons")]}[args.table]
    with cli.transaction() as session:
        row = session.get(model, args.code)
        if row is None:
            raise CommandError(f"no {args.table} {args.code}")
        for column, what in users:
            count = session.scalar(select(func.count()).where(column == args.code))
            if count:
                raise CommandError(f"{args.table} {args.code} is used by {count} {what}; it stays")
        session.delete(row)
        try:
            session.flush()
        except IntegrityError:  # referenced elsewhere (loans, holds, rules...): the database says no
            raise CommandError(f"{args.table} {args.code} is still referenced; it stays") from None
    cli.out.write(f"removed {args.table} {args.code}\n")
    return 0
