"""``kohaweb oai ...``: manage OAI sets and their mapping rules, recompute membership
(Koha's Administration › OAI sets configuration and misc/migration_tools/build_oai_sets.pl), and
apply a change of the public visibility preferences (``apply-visibility``)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from kohaweb.plugin_api import (
    CommandError,
    OaiSet,
    OaiSetBiblio,
    OaiSetDescription,
    OaiSetMapping,
    set_preference,
    sets,
    visibility,
)

from .protocol import SET_SPEC

FIELD = re.compile(r"^[0-9A-Za-z]{3}$")


def register(sub) -> None:
    oai = sub.add_parser("oai", help="OAI-PMH sets: define, map, rebuild membership")
    commands = oai.add_subparsers(dest="oai_command", metavar="COMMAND")
    commands.required = True

    build = commands.add_parser("build-sets", help="recompute membership of every record in the mapped sets")
    build.add_argument("--clear", action="store_true",
                       help="empty the mapped sets first (also drops memberships of deleted records)")
    build.add_argument("--set", dest="spec", help="only this set")
    build.set_defaults(func=build_sets)

    apply = commands.add_parser(
        "apply-visibility", help="after a change of OpacSuppression, OpacHiddenItems, OpacHiddenItemsHidesRecord "
        "or hidelostitems: records the public can no longer (or can again) see get a new datestamp, so "
        "harvesters see them deleted (or back), and are re-indexed")
    apply.add_argument("--set", dest="preferences", metavar="NAME=VALUE", action="append", default=[],
                       help="first set one of " + ", ".join(visibility.PREFERENCES) + " (repeatable; "
                       "OpacHiddenItems=@FILE reads the YAML from FILE)")
    apply.add_argument("--dry-run", action="store_true", help="only report what would change")
    apply.set_defaults(func=apply_visibility)

    set_parser = commands.add_parser("set", help="add, list, remove and map sets")
    set_commands = set_parser.add_subparsers(dest="set_command", metavar="ACTION")
    set_commands.required = True

    add = set_commands.add_parser("add", help="define a set")
    add.add_argument("spec", help="setSpec, e.g. books or lang:fre (colon for a hierarchy)")
    add.add_argument("name", help="setName shown to harvesters")
    add.add_argument("--description", action="append", default=[], help="a setDescription (repeatable)")
    add.set_defaults(func=add_set)

    lst = set_commands.add_parser("list", help="list sets with their rules and sizes")
    lst.set_defaults(func=list_sets)

    remove = set_commands.add_parser("remove", help="delete a set, its rules and its membership")
    remove.add_argument("spec")
    remove.set_defaults(func=remove_set)

    mapping = set_commands.add_parser(
        "map", help="add a rule FIELD$SUBFIELD equal|notequal VALUE and rebuild the set's membership")
    mapping.add_argument("spec")
    mapping.add_argument("field", help="MARC tag and subfield, e.g. 952$a (control fields: 008)")
    mapping.add_argument("value", help="value compared exactly")
    mapping.add_argument("--operator", choices=sets.OPERATORS, default="equal")
    joined = mapping.add_mutually_exclusive_group()
    joined.add_argument("--and", dest="join", action="store_const", const="and",
                        help="combine with the previous rule by AND (binds tighter than OR)")
    joined.add_argument("--or", dest="join", action="store_const", const="or",
                        help="combine with the previous rule by OR (the default)")
    mapping.add_argument("--replace", action="store_true", help="drop the set's existing rules first")
    mapping.set_defaults(func=map_set)


def _find(session, spec: str) -> OaiSet:
    found = session.scalar(select(OaiSet).options(selectinload(OaiSet.mappings)).where(OaiSet.spec == spec))
    if found is None:
        raise CommandError(f"no set {spec!r} (see `kohaweb oai set list`)")
    return found


def add_set(args, cli) -> int:
    if not SET_SPEC.match(args.spec):
        raise CommandError(f"{args.spec!r} is not a setSpec: letters, digits and -_.!~*'() in parts "
                           "separated by single colons")
    if not args.name.strip() or len(args.name) > 80 or len(args.spec) > 80:
        raise CommandError("spec and name must be 1 to 80 characters")
    with cli.transaction() as session:
        if session.scalar(select(OaiSet.id).where(OaiSet.spec == args.spec)) is not None:
            raise CommandError(f"set {args.spec!r} already exists")
        oai_set = OaiSet(spec=args.spec, name=args.name.strip())
        oai_set.descriptions.extend(OaiSetDescription(description=d) for d in args.description)
        session.add(oai_set)
    cli.out.write(f"added set {args.spec}\n")
    return 0


def list_sets(args, cli) -> int:
    with cli.transaction() as session:
        sizes = dict(session.execute(select(OaiSetBiblio.set_id, func.count()).group_by(OaiSetBiblio.set_id)).all())
        found = list(session.scalars(select(OaiSet).options(selectinload(OaiSet.mappings))
                                     .order_by(OaiSet.spec)))
        if not found:
            cli.out.write("no sets\n")
        for oai_set in found:
            cli.out.write(f"{oai_set.spec}\t{oai_set.name}\t{sizes.get(oai_set.id, 0)} records\n")
            for index, rule in enumerate(sorted(oai_set.mappings, key=lambda r: (r.rule_order or 0, r.id))):
                join = "" if index == 0 else f"{(rule.rule_operator or 'or').upper()} "
                cli.out.write(f"    {join}{rule.marcfield}${rule.marcsubfield} {rule.operator} {rule.marcvalue!r}\n")
    return 0


def remove_set(args, cli) -> int:
    with cli.transaction() as session:
        oai_set = _find(session, args.spec)
        session.execute(OaiSetBiblio.__table__.delete().where(OaiSetBiblio.set_id == oai_set.id))
        session.delete(oai_set)
    cli.out.write(f"removed set {args.spec}\n")
    return 0


def map_set(args, cli) -> int:
    tag, _, code = args.field.partition("$")
    if not FIELD.match(tag) or len(code) > 1 or (not code and not tag.startswith("00")):
        raise CommandError(f"{args.field!r}: give TAG$SUBFIELD such as 952$a (or a control field such as 008)")
    if len(args.value) > 80:
        raise CommandError("the value is limited to 80 characters")
    with cli.transaction() as session:
        oai_set = _find(session, args.spec)
        if args.replace:
            oai_set.mappings.clear()
            session.flush()
        order = max((r.rule_order or 0 for r in oai_set.mappings), default=-1) + 1
        oai_set.mappings.append(OaiSetMapping(
            rule_order=order, rule_operator=None if order == 0 else (args.join or "or"), marcfield=tag,
            marcsubfield=code, operator=args.operator, marcvalue=args.value))
        session.flush()
        progress = cli.progress(label="records")
        sets.rebuild(session, [oai_set], clear=True, progress=progress)
        progress.finish()
        size = session.scalar(select(func.count()).select_from(OaiSetBiblio).where(OaiSetBiblio.set_id == oai_set.id))
    cli.out.write(f"set {args.spec}: rule added; {size} records in the set\n")
    return 0


def build_sets(args, cli) -> int:
    with cli.transaction() as session:
        only = [_find(session, args.spec)] if args.spec else None
        progress = cli.progress(label="records")
        examined = sets.rebuild(session, only, clear=args.clear, progress=progress)
        progress.finish()
        sizes = session.execute(select(OaiSet.spec, func.count(OaiSetBiblio.biblionumber))
                                .outerjoin(OaiSetBiblio, OaiSetBiblio.set_id == OaiSet.id)
                                .group_by(OaiSet.spec).order_by(OaiSet.spec)).all()
    cli.out.write(f"examined {examined} records\n")
    for spec, size in sizes:
        cli.out.write(f"{spec}\t{size}\n")
    return 0


def apply_visibility(args, cli) -> int:
    known = {name.lower(): name for name in visibility.PREFERENCES}
    with cli.transaction() as session:
        for assignment in args.preferences:
            name, equals, value = assignment.partition("=")
            if not equals or name.strip().lower() not in known:
                raise CommandError(f"{assignment!r}: give NAME=VALUE with NAME one of {', '.join(visibility.PREFERENCES)}")
            if value.startswith("@"):
                try:
                    value = Path(value[1:]).read_text(encoding="utf-8")
                except OSError as exc:
                    raise CommandError(f"cannot read {value[1:]}: {exc.strerror}") from None
            set_preference(session, known[name.strip().lower()], value)
        progress = cli.progress(label="records")
        try:
            result = visibility.apply(session, dry_run=args.dry_run, progress=progress.update)
        except visibility.PolicyError as exc:
            raise CommandError(str(exc)) from None
        finally:
            progress.finish()
        if args.dry_run:
            session.rollback()
    verb = "would change" if args.dry_run else "changed"
    cli.out.write(f"examined {result.checked} records; {verb}: {len(result.hidden)} hidden from the public, "
                  f"{len(result.shown)} visible again\n")
    return 0
