"""Koha's ``q`` JSON filters (SQL::Abstract style, API field names) -> SQLAlchemy expressions.

An object ANDs its keys, an array ORs its elements. A field maps to a value (equality, or
IS NULL for null), an array of values (any of them) or an object of operators:
``= != <> < > <= >= -like -not_like -in -not_in -between -not_between -ident -regexp``
(the leading dash is optional, case does not matter). ``-and``, ``-or`` and ``-not`` combine
sub-filters. ``-like`` is case-insensitive on every database, as on Koha's MariaDB.
Every value is checked against the field's type; anything else is a 400 ``invalid_query``.
Nothing is ever pasted into SQL text. Filters are bounded before they are translated: JSON
nesting (``kohaweb.api.max_json_depth``), logical nesting (``MAX_DEPTH``) and the number of
conditions and values of all the filters of one request (``kohaweb.api.max_query_values``), so
no statement outgrows a database's limits on variables or expression depth.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, false, not_, or_, true

from .errors import ApiError
from .service import JsonTooDeep, load_json

if TYPE_CHECKING:
    from .listing import Field, Resource

MAX_DEPTH = 16


def translate(resource: Resource, text: str, max_depth: int = 32, max_values: int | None = None):
    """The SQLAlchemy condition of one JSON filter."""
    return translate_tree(resource, parse(text, max_depth, max_values))


def parse(text: str, max_depth: int = 32, max_values: int | None = None) -> Any:
    """A filter's JSON, refused when nested deeper than ``max_depth`` or holding more than
    ``max_values`` conditions and values."""
    try:
        tree = load_json(text, max_depth)
    except JsonTooDeep:
        raise _bad(f"nested too deeply (at most {max_depth} levels)") from None
    except ValueError:
        raise ApiError(400, "q: not valid JSON", "invalid_query") from None
    if max_values is not None and count_values(tree) > max_values:
        raise too_many_values(max_values)
    return tree


def too_many_values(limit: int) -> ApiError:
    return _bad(f"too many conditions and values (at most {limit} in one request)")


def count_values(tree: Any) -> int:
    """Conditions and values in a parsed filter: every object key and every scalar (without
    recursion; the tree is already bounded in depth)."""
    count = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            count += len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        else:
            count += 1
    return count


def translate_tree(resource: Resource, tree: Any):
    """The SQLAlchemy condition of a parsed (and bounded) filter."""
    return _node(resource, tree, 0)


def _bad(message: str) -> ApiError:
    return ApiError(400, f"q: {message}", "invalid_query")


def _node(resource: Resource, node: Any, depth: int):
    if depth > MAX_DEPTH:
        raise _bad("nested too deeply")
    if isinstance(node, list):
        parts = [_node(resource, n, depth + 1) for n in node]
        return or_(*parts) if parts else false()
    if not isinstance(node, dict):
        raise _bad("expected an object or an array of objects")
    parts = []
    for key, value in node.items():
        op = _op(key)
        if op == "-and":
            items = value if isinstance(value, list) else [value]
            parts.append(and_(*[_node(resource, v, depth + 1) for v in items]) if items else true())
        elif op == "-or":
            items = value if isinstance(value, list) else [{k: v} for k, v in _obj(value).items()]
            parts.append(or_(*[_node(resource, v, depth + 1) for v in items]) if items else false())
        elif op == "-not":
            parts.append(not_(_node(resource, value, depth + 1)))
        elif key.startswith("-"):
            raise _bad(f"unknown combinator {key!r}")
        elif "." in key.removeprefix("me."):
            parts.append(_embedded(resource, key.removeprefix("me."), value, depth))
        else:
            parts.append(_field(resource, _field_of(resource, key), value, depth))
    return and_(*parts) if parts else true()


def _embedded(resource: Resource, key: str, value: Any, depth: int):
    """``{"item.external_id": ...}``: the condition on an embedded object, as an EXISTS subquery
    over the relation the embed declares (Koha filters on embedded objects the same way)."""
    head, rest = key.split(".", 1)
    embed = resource.embed_named(head)
    if embed is None or embed.link is None:
        raise _bad(f"unknown field {key!r}")
    target = embed.target()
    condition = _node(target, {rest: value}, depth + 1)
    return exists().where(embed.link(), condition)


def _obj(value: Any) -> dict:
    if not isinstance(value, dict):
        raise _bad("expected an object or an array")
    return value


def _op(key: str) -> str:
    lowered = key.lower()
    if lowered.lstrip("-") in _WORD_OPS:
        return "-" + lowered.lstrip("-")
    return lowered


def _field_of(resource: Resource, name: str) -> Field:
    field = resource.by_name.get(name.removeprefix("me."))
    if field is None:
        raise _bad(f"unknown field {name!r}")
    return field


def _field(resource: Resource, field: Field, value: Any, depth: int):
    column = field.column
    if value is None:
        return column.is_(None)
    if isinstance(value, list):
        if not value:
            return false()
        return or_(*[_field(resource, field, v, depth + 1) for v in value])
    if not isinstance(value, dict):
        return column == _value(field, value)
    parts = []
    for key, operand in value.items():
        op = _op(key)
        if op in _COMPARISONS:
            if operand is None and op in ("=", "!=", "<>"):
                parts.append(column.is_(None) if op == "=" else column.is_not(None))
            else:
                parts.append(_COMPARISONS[op](column, _value(field, operand)))
        elif op in ("-like", "-not_like"):
            if field.type != "string" or not isinstance(operand, str):
                raise _bad(f"{op} needs a string field and a string pattern ({field.name})")
            # Koha's % and _ wildcards pass through unchanged, as in SQL LIKE
            clause = column.ilike(operand)
            parts.append(clause if op == "-like" else not_(clause))
        elif op in ("-in", "-not_in"):
            if not isinstance(operand, list):
                raise _bad(f"{op} needs an array ({field.name})")
            values = [_value(field, v) for v in operand]
            if not values:
                parts.append(false() if op == "-in" else true())
            else:
                parts.append(column.in_(values) if op == "-in" else column.not_in(values))
        elif op in ("-between", "-not_between"):
            if not isinstance(operand, list) or len(operand) != 2:
                raise _bad(f"{op} needs an array of two values ({field.name})")
            low, high = (_value(field, v) for v in operand)
            clause = column.between(low, high)
            parts.append(clause if op == "-between" else not_(clause))
        elif op == "-ident":
            if not isinstance(operand, str):
                raise _bad(f"-ident needs a field name ({field.name})")
            parts.append(column == _field_of(resource, operand).column)
        elif op == "-regexp":
            if field.type != "string" or not isinstance(operand, str):
                raise _bad(f"-regexp needs a string field and a string pattern ({field.name})")
            parts.append(column.regexp_match(operand))
        else:
            raise _bad(f"unknown operator {key!r} on {field.name}")
    return and_(*parts) if parts else true()


def _value(field: Field, value: Any) -> Any:
    """Check a JSON scalar against the field's type and convert it for the column."""
    kind = field.type
    ok = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool) or value in (0, 1),
        "string": isinstance(value, str),
        "date": isinstance(value, str),
        "date-time": isinstance(value, str),
    }[kind]
    if kind == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value, ok = int(value), True  # Koha clients often quote ids
    if not ok:
        raise _bad(f"{field.name} expects a {kind} value, got {json.dumps(value)}")
    if kind == "integer" and not -(2**31) <= value < 2**31:
        raise _bad(f"{field.name}: integer out of range")
    if kind == "boolean":
        return bool(value)
    try:
        return field.from_api(value)
    except ApiError as exc:
        raise _bad(exc.message) from None


_COMPARISONS = {
    "=": lambda c, v: c == v,
    "==": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<>": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    ">": lambda c, v: c > v,
    "<=": lambda c, v: c <= v,
    ">=": lambda c, v: c >= v,
}
_WORD_OPS = {"like", "not_like", "in", "not_in", "between", "not_between", "ident", "regexp", "and", "or",
             "not"}
