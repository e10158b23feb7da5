"""Resources with Koha's API field names, and Koha's listing conventions.

A ``Resource`` maps API field names to model columns. It serialises rows (``to_api``), gives
the JSON Schema of the object and the query parameters of a list operation, and runs a list:
``_page``/``_per_page`` (-1 = all, as Koha, but never more than ``kohaweb.api.max_per_page``
rows: larger pages are cut to that size and ``Link`` leads to the next ones), ``_order_by`` (``+field``/``-field``, csv or repeated),
``_match`` for simple ``?field=value`` filters and ``q``: Koha's JSON filters
(SQL::Abstract style, see ``kohaweb.api.query``), always translated to SQLAlchemy expressions.
Answers carry ``X-Total-Count`` (after filtering), ``X-Base-Total-Count`` (before) and ``Link``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute

from . import embeds as embedding
from .errors import ApiError
from .query import count_values, parse, too_many_values, translate_tree
from .service import Param, header, query

DEFAULT_PER_PAGE = 20
TYPES = {"integer", "string", "boolean", "number", "date", "date-time"}


@dataclass(frozen=True)
class Field:
    """One API field: its name, the column it reads, its type and whether it may be null."""

    name: str
    column: InstrumentedAttribute
    type: str  # integer, string, boolean, number, date, date-time
    nullable: bool = True
    writable: bool = False
    max_length: int | None = None
    extra: dict[str, Any] | None = None  # more JSON Schema keywords (e.g. minimum/maximum)

    def schema(self) -> dict[str, Any]:
        if self.type in ("date", "date-time"):
            base: dict[str, Any] = {"type": "string", "format": self.type}
        else:
            base = {"type": self.type}
        if self.type == "integer":
            base.update(minimum=-(2**31), maximum=2**31 - 1)  # what every database's INTEGER holds
        if self.max_length and self.type == "string":
            base["maxLength"] = self.max_length
        if self.extra:
            base.update(self.extra)
        if self.nullable:
            base["type"] = [base["type"], "null"]
        return base

    def to_api(self, value: Any) -> Any:
        if value is None:
            return None
        if self.type == "date-time" and isinstance(value, dt.datetime):
            return value.replace(microsecond=0).isoformat() + ("+00:00" if value.tzinfo is None else "")
        if self.type == "date" and isinstance(value, dt.date):
            return value.isoformat()[:10]
        if self.type == "number" and isinstance(value, Decimal):
            return float(value)
        if self.type == "boolean":
            return bool(value)
        if self.type == "integer":
            return int(value)
        return value

    def from_api(self, value: Any) -> Any:
        """A JSON value (already schema-checked) to the column's Python type."""
        if value is None:
            return None
        if self.type == "date":
            try:
                parsed = dt.date.fromisoformat(value)
            except ValueError:
                raise ApiError(400, f"{self.name}: not a date: {value!r}", "invalid_value") from None
            return _in_range(self.name, parsed)
        if self.type == "date-time":
            return _in_range(self.name, parse_datetime(self.name, value))
        if self.type == "number":
            return Decimal(str(value))
        return value


def _in_range(name: str, value: Any) -> Any:
    # MariaDB's DATE/DATETIME start at year 1000
    if not 1000 <= value.year <= 9999:
        raise ApiError(400, f"{name}: year out of range (1000-9999)", "invalid_value")
    return value


def parse_datetime(name: str, value: str) -> dt.datetime:
    """RFC 3339 / ISO 8601 -> naive UTC (how the database stores times)."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, AttributeError):
        raise ApiError(400, f"{name}: not a date-time: {value!r}", "invalid_value") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


@dataclass
class Resource:
    """An API view of one model: ordered fields, the id field, and optional extra properties."""

    name: str
    model: type
    fields: list[Field]
    id_field: str
    extra: Callable[[Any], dict[str, Any]] | None = None
    extra_schema: dict[str, Any] = field(default_factory=dict)
    embeds: tuple[embedding.Embed, ...] = ()  # what x-koha-embed may ask for
    strings: dict[str, str] = field(default_factory=dict)  # coded field -> kind, for +strings

    def __post_init__(self) -> None:
        self.by_name = {f.name: f for f in self.fields}

    def embed_named(self, name: str) -> embedding.Embed | None:
        return next((e for e in self.embeds if e.name == name), None)

    def embed_tree(self, request: Request) -> embedding.EmbedTree | None:
        """The request's x-koha-embed for this resource (400 for names it does not offer)."""
        header = request.validated.get(embedding.HEADER) if hasattr(request, "validated") else None
        return embedding.parse(self, header)

    def render(self, request: Request, row: Any, session: Any = None) -> dict[str, Any]:
        """``to_api`` plus what the request's x-koha-embed asks for."""
        return embedding.render(self, session or request.dbsession, row, self.embed_tree(request))

    def embed_params(self) -> list[Param]:
        """The x-koha-embed header parameter, when the resource embeds anything."""
        if not self.embeds and not self.strings:
            return []
        return [header(embedding.HEADER, "string", embedding.header_param_description(self))]

    def to_api(self, row: Any) -> dict[str, Any]:
        data = {f.name: f.to_api(getattr(row, f.column.key)) for f in self.fields}
        if self.extra is not None:
            data.update(self.extra(row))
        return data

    def schema(self) -> dict[str, Any]:
        properties = {f.name: f.schema() for f in self.fields}
        properties.update(self.extra_schema)
        required = list(properties)
        for embed in self.embeds:  # present only when asked for
            properties.setdefault(embed.name, embed.schema())
            if embed.many:
                properties.setdefault(f"{embed.name}_count", {"type": "integer"})
        if self.strings:
            properties["_strings"] = {"type": "object"}
        return {"type": "object", "properties": properties, "required": required,
                "additionalProperties": False}

    def write_schema(self, required: Iterable[str] = ()) -> dict[str, Any]:
        """JSON Schema of a request body setting the writable fields."""
        writable = {f.name: f.schema() for f in self.fields if f.writable}
        return {"type": "object", "properties": writable, "required": list(required),
                "additionalProperties": False}

    def columns_from_api(self, body: dict[str, Any]) -> dict[str, Any]:
        return {self.by_name[k].column.key: self.by_name[k].from_api(v) for k, v in body.items()}

    def list_params(self, exclude: Iterable[str] = ()) -> list[Param]:
        """Koha's reserved list parameters plus one simple filter per field (but ``exclude``)."""
        params = [
            query("_page", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "Page number (1-based)"),
            query("_per_page", {"type": "integer", "minimum": -1, "maximum": 2**31 - 1, "not": {"const": 0}},
                  f"Page size (default {DEFAULT_PER_PAGE}); -1 returns everything up to the site's largest "
                  "page (kohaweb.api.max_per_page, 1000 by default), as does any larger size"),
            query("_order_by", {"type": "array", "items": {"type": "string", "pattern": _order_pattern(self)}},
                  "Sort fields: +field / -field, comma separated or repeated"),
            query("_match", {"type": "string", "enum": ["contains", "exact", "starts_with", "ends_with"]},
                  "How simple field filters match strings (default contains)"),
            query("q", {"type": "array", "items": {"type": "string"}},
                  "JSON filter with API field names (Koha's operators); repeated filters are ANDed"),
            header("x-koha-query", "string", "The same JSON filter as q, in a header (ANDed with q)"),
            *self.embed_params(),
        ]
        for f in self.fields:
            if f.name in exclude:
                continue
            schema = dict(f.schema())
            schema["type"] = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
            schema.pop("maxLength", None)
            params.append(query(f.name, schema, f"Filter on {f.name}"))
        return params

    def list(self, request: Request, base: Select | None = None,
             serialise: Callable[[Any], Any] | None = None) -> Response:
        """Run a list operation on ``base`` (default: every row) with the request's parameters."""
        values = request.validated
        embed_tree = self.embed_tree(request)
        base = base if base is not None else select(self.model)
        conditions = []
        match = values.get("_match", "contains")
        for f in self.fields:
            if f.name in values:
                conditions.append(_simple_filter(f, values[f.name], match))
        core = request.registry.kohaweb.core
        budget = core["api.max_query_values"]
        for text in [*values.get("q", []), *filter(None, [values.get("x-koha-query")]),
                     *_body_query(request)]:
            tree = parse(text, core["api.max_json_depth"], budget)
            budget -= count_values(tree)  # one budget for all the filters of the request
            if budget < 0:
                raise too_many_values(core["api.max_query_values"])
            conditions.append(translate_tree(self, tree))
        filtered = base.where(and_(*conditions)) if conditions else base
        session = request.dbsession
        base_total = session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
        total = base_total if not conditions else session.scalar(
            select(func.count()).select_from(filtered.order_by(None).subquery()))
        page = values.get("_page", 1)
        per_page = page_size(values.get("_per_page", DEFAULT_PER_PAGE), core["api.max_per_page"])
        ordered = filtered.order_by(*self.order_by(values.get("_order_by", [])))
        ordered = ordered.limit(per_page).offset((page - 1) * per_page)
        rows = session.scalars(ordered).all()
        if serialise is None:
            body = [embedding.render(self, session, row, embed_tree) for row in rows]
        else:
            body = [serialise(row) for row in rows]
        response = Response(json_body=body)
        response.headers["X-Total-Count"] = str(total)
        response.headers["X-Base-Total-Count"] = str(base_total)
        # -1 ("all") that fits in one page answers as before the ceiling: no Link header
        if values.get("_per_page") != -1 or total > per_page or page > 1:
            links = _links(request, page, per_page, total)
            if links:
                response.headers["Link"] = links
        if "x-koha-request-id" in request.headers:
            response.headers["x-koha-request-id"] = request.headers["x-koha-request-id"]
        return response

    def order_by(self, specs: list[str]) -> list[Any]:
        clauses = []
        seen: set[str] = set()
        for spec in (part.strip() for item in specs for part in item.split(",")):
            if not spec:
                continue
            descending = spec.startswith("-")
            name = spec.lstrip("+-")
            f = self.by_name.get(name)
            if f is None:
                raise ApiError(400, f"_order_by: unknown field {name!r}", "invalid_query")
            if name in seen:
                continue  # a field sorted again changes nothing (and would lengthen ORDER BY without end)
            seen.add(name)
            clauses.append(f.column.desc() if descending else f.column.asc())
        clauses.append(self.by_name[self.id_field].column.asc())  # a stable order across pages
        return clauses

    def headers_schema(self) -> dict[int, dict[str, Any]]:
        return {200: {"X-Total-Count": {"type": "integer"}, "X-Base-Total-Count": {"type": "integer"},
                      "Link": {"type": "string"}}}


def _body_query(request: Request) -> list[str]:
    """Koha takes ``q`` in a JSON body too (GET with a body): ``{"q": ...}`` or the filter itself."""
    if not request.body or request.method not in ("GET", "HEAD"):
        return []
    import json

    from .service import JsonTooDeep, load_json

    max_depth = request.registry.kohaweb.core["api.max_json_depth"]
    try:
        parsed = load_json(request.body, max_depth)
    except JsonTooDeep:
        raise ApiError(400, f"q: nested too deeply (at most {max_depth} levels)", "invalid_query") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "q: the request body is not valid JSON", "invalid_query") from None
    if isinstance(parsed, dict) and set(parsed) == {"q"}:
        parsed = parsed["q"]
    if isinstance(parsed, str):
        return [parsed]
    return [json.dumps(parsed)]


def page_size(requested: int, ceiling: int) -> int:
    """Rows per page: Koha's -1 ("all") and anything above the site's ceiling give the ceiling."""
    return ceiling if requested == -1 or requested > ceiling else requested


def _order_pattern(resource: Resource) -> str:
    names = "|".join(f.name for f in resource.fields)
    return rf"^\s*[+-]?({names})(\s*,\s*[+-]?({names}))*\s*$"


def _simple_filter(f: Field, value: Any, match: str):
    if f.type != "string":
        return f.column == f.from_api(value) if f.type in ("date", "date-time", "number") else f.column == value
    if match == "exact":
        return f.column == value
    if match == "starts_with":
        return f.column.istartswith(value, autoescape=True)
    if match == "ends_with":
        return f.column.iendswith(value, autoescape=True)
    return f.column.icontains(value, autoescape=True)


def _links(request: Request, page: int, per_page: int, total: int) -> str:
    last = max(1, -(-total // per_page))
    params = [(k, v) for k, v in request.GET.items() if k not in ("_page", "_per_page")]

    def url(number: int) -> str:
        return request.path_url + "?" + urlencode([*params, ("_page", number), ("_per_page", per_page)])

    links = [f'<{url(1)}>; rel="first"']
    if page > 1:
        links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links.append(f'<{url(page + 1)}>; rel="next"')
    links.append(f'<{url(last)}>; rel="last"')
    return ", ".join(links)
