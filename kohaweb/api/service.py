"""API services: a cornice ``Service`` whose operations carry their own OpenAPI pieces.

An operation declares, next to its view, the permission(s) it needs and its parameters,
request body and responses as JSON Schema (OpenAPI 3.1). The same declaration is used twice:
``kohaweb.api.openapi`` puts it in the document served at ``/api/v1/``, and the validator
below checks every request against it before the view runs (unknown query parameters are
refused, as Koha does), so the document and the behaviour cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cornice import Service
from jsonschema import Draft202012Validator
from pyramid.csrf import check_csrf_token
from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from ..auth import koha_permission
from .errors import ApiError, api_error
from .library_context import check_library_header

API_PREFIX = "/api/v1"
JSON = "application/json"


@dataclass(frozen=True)
class Param:
    """One OpenAPI parameter (``in`` = query, path or header) with its JSON Schema."""

    name: str
    location: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False

    def to_openapi(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "in": self.location, "schema": self.schema}
        if self.description:
            spec["description"] = self.description
        if self.required or self.location == "path":
            spec["required"] = True
        if self.schema.get("type") == "array" and self.location == "query":
            spec["explode"] = True
        return spec


def query(name: str, schema: dict[str, Any] | str, description: str = "", required: bool = False) -> Param:
    """A query parameter; ``schema`` may be a JSON Schema or just a type name ("integer")."""
    return Param(name, "query", {"type": schema} if isinstance(schema, str) else schema, description, required)


INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}


def path(name: str, schema: dict[str, Any] | str = "integer", description: str = "") -> Param:
    """A path parameter; integers are limited to what every database's INTEGER holds."""
    if schema == "integer":
        schema = dict(INT32)
    return Param(name, "path", {"type": schema} if isinstance(schema, str) else schema, description, True)


def header(name: str, schema: dict[str, Any] | str = "string", description: str = "") -> Param:
    return Param(name, "header", {"type": schema} if isinstance(schema, str) else schema, description)


@dataclass
class Operation:
    """Everything the document and the validator need to know about one method of a service."""

    method: str
    # one permission, or several that are all required (Koha's x-koha-authorization with several
    # modules, e.g. borrowers:edit_borrowers and updatecharges:remaining_permissions)
    permission: str | tuple[str, ...] | None
    summary: str
    parameters: list[Param] = field(default_factory=list)
    body: dict[str, Any] | None = None  # JSON Schema of a JSON request body
    body_media_types: tuple[str, ...] = ()  # raw (non-JSON) request bodies, e.g. MARC formats
    body_schemas: dict[str, Any] = field(default_factory=dict)  # their schemas in the document
    responses: dict[int, Any] = field(default_factory=dict)  # status -> schema | {media type: schema}
    response_headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    operation_id: str = ""
    tags: tuple[str, ...] = ()
    authorize: Callable[[Request], None] | None = None  # run after the parameters, before the body

    @property
    def required_permissions(self) -> tuple[str, ...]:
        """Every permission the caller must hold (none for a public operation)."""
        if self.permission is None:
            return ()
        return (self.permission,) if isinstance(self.permission, str) else tuple(self.permission)

    def check_permissions(self, request: Request) -> None:
        """Refuse a caller missing any of several required permissions: 401 without credentials
        (the core's forbidden view), else 403 naming all of them, as Koha's required_permissions.
        A single permission is checked by Pyramid before the view, as the core always has."""
        needed = self.required_permissions
        if len(needed) < 2:
            return
        if request.kohaweb_identity is None:
            raise HTTPForbidden()
        if not all(request.has_permission(p) for p in needed):
            raise ApiError(403, "Authorization failure. Missing required permission(s).", "forbidden",
                           # a whole module as the core's forbidden view names it (1, a number)
                           required_permissions={p.partition(":")[0]: p.partition(":")[2] or 1 for p in needed})

    def __post_init__(self) -> None:
        # answers only in JSON: a request whose Accept refuses JSON gets 406, as Koha's
        self.json_only = all(body is None or not _is_content_map(body) or set(body) == {JSON}
                             for status, body in self.responses.items() if 200 <= status < 300)
        self._validators = {p.name: Draft202012Validator(p.schema) for p in self.parameters}
        self._body_validator = Draft202012Validator(self.body) if self.body is not None else None

    # --- request validation ----------------------------------------------------------------

    def validate(self, request: Request, **_kw: Any) -> None:
        """Cornice validator: fill ``request.validated`` or report every problem in ``request.errors``.

        The body is read and checked last: after the parameters, and after ``authorize`` (the
        operation's own check of who may call it, when its permission is not a named one), so a
        caller who may not use the operation learns nothing about the body it expects."""
        self.check_permissions(request)  # several permissions: before anything, as Pyramid's check of one
        check_library_header(request)  # Koha refuses a wrong x-koha-library before anything else
        by_place: dict[str, dict[str, Param]] = {"query": {}, "path": {}, "header": {}}
        for param in self.parameters:
            by_place[param.location][param.name] = param
        try:
            request.GET.keys()
        except UnicodeDecodeError:
            request.errors.add("querystring", "", "Malformed query string: not UTF-8")
            return
        for name in request.GET.keys():
            if name not in by_place["query"]:
                request.errors.add("querystring", name, "Malformed query string")
        for param in by_place["query"].values():
            values = request.GET.getall(param.name)
            if not values:
                if param.required:
                    request.errors.add("querystring", param.name, "Missing property.")
                continue
            if param.schema.get("type") != "array" and len(values) > 1:
                request.errors.add("querystring", param.name, "Not an array: give this parameter once.")
                continue
            raw = values if param.schema.get("type") == "array" else values[0]
            self._check(request, param, raw)
        for param in by_place["path"].values():
            self._check(request, param, request.matchdict.get(param.name, ""))
        for param in by_place["header"].values():
            if param.name in request.headers:
                self._check(request, param, request.headers[param.name])
        if len(request.errors):
            return
        if self.authorize is not None:
            self.authorize(request)  # raises ApiError / HTTPForbidden to refuse
        if self._body_validator is not None:
            self._check_body(request)
        elif self.body_media_types:
            media_type = (request.content_type or "").lower()
            if media_type not in self.body_media_types:
                request.errors.add("header", "Content-Type",
                                   f"Content-Type must be one of {', '.join(self.body_media_types)}")
                request.errors.status = 415

    def _check(self, request: Request, param: Param, raw: Any) -> None:
        try:
            value = coerce(raw, param.schema)
        except ValueError as exc:
            request.errors.add(_CORNICE_PLACE[param.location], param.name, str(exc))
            return
        problems = [e.message for e in self._validators[param.name].iter_errors(value)]
        if problems:
            request.errors.add(_CORNICE_PLACE[param.location], param.name, "; ".join(problems))
        else:
            request.validated[param.name] = value

    def _check_body(self, request: Request) -> None:
        if (request.content_type or "").lower() != JSON:
            request.errors.add("header", "Content-Type", "Content-Type must be application/json")
            request.errors.status = 415
            return
        max_depth = request.registry.kohaweb.core["api.max_json_depth"]
        try:
            body = load_json(request.body or b"null", max_depth)
            _check_text(body)
        except JsonTooDeep:
            request.errors.add("body", "", f"Request body nested too deeply (at most {max_depth} levels)")
            return
        except (ValueError, UnicodeError):
            request.errors.add("body", "", "Request body is not valid JSON text (UTF-8, no NUL)")
            return
        problems = sorted(self._body_validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        for problem in problems:
            where = "/".join(str(p) for p in problem.absolute_path)
            request.errors.add("body", where, problem.message)
        if not problems:
            request.validated["body"] = body


def _is_content_map(body: Any) -> bool:
    """``{media type: schema}`` rather than a JSON Schema."""
    return isinstance(body, dict) and bool(body) and all("/" in key for key in body)


def coerce(raw: Any, schema: dict[str, Any]) -> Any:
    """Turn query/path/header strings into the JSON type the schema expects (OpenAPI's
    ``style: form``); the schema itself is checked afterwards."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "array":
        return [coerce(v, schema.get("items", {})) for v in raw]
    if "\x00" in raw:
        raise ValueError("NUL characters are not allowed")
    if kind == "integer":
        try:
            return int(raw.strip())
        except ValueError:
            raise ValueError(f"Expected integer - got {raw!r}.") from None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"Expected number - got {raw!r}.") from None
    if kind == "boolean":
        lowered = raw.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError(f"Expected boolean - got {raw!r}.")
    return raw


def _check_csrf(request: Request) -> None:
    """A browser's session cookie is sent automatically, so cookie-authenticated writes must also
    prove they come from our pages (bearer and Basic credentials are never sent implicitly)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    identity = request.kohaweb_identity
    if identity is not None and identity.method == "session" and \
            not check_csrf_token(request, header="X-CSRF-Token", raises=False):
        raise ApiError(403, "Missing or wrong X-CSRF-Token header", "csrf_token_invalid")


class JsonTooDeep(ValueError):
    """JSON text whose arrays and objects nest deeper than allowed."""


def load_json(text: str | bytes, max_depth: int) -> Any:
    """``json.loads`` that refuses (JsonTooDeep) nesting deeper than ``max_depth`` before the
    value reaches code that walks it recursively (schema validation, SQL building); text nested
    deeper than the parser itself can go is refused the same way."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(f"nested deeper than {max_depth}") from None
    if json_depth(value) > max_depth:
        raise JsonTooDeep(f"nested deeper than {max_depth}")
    return value


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _check_text(value: Any) -> None:
    """Strings every database can store: valid UTF-8 (no lone surrogates), no NUL (without
    recursion: the value may be deep)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            node.encode("utf-8")
            if "\x00" in node:
                raise ValueError("NUL character")
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())


_CORNICE_PLACE = {"query": "querystring", "path": "path", "header": "header"}
_OPENAPI_PLACE = {"querystring": "query"}


def _error_handler(request: Request) -> Response:
    """Validation failures in Koha's shape plus the project's ``error``/``error_code`` pair."""
    status = request.errors.status or 400
    errors = [{"path": f"/{_OPENAPI_PLACE.get(e['location'], e['location'])}/{e['name']}".rstrip("/"), "message": _text(e["description"])}
              for e in request.errors]
    if status == 415:
        return api_error(request, 415, errors[0]["message"], "unsupported_media_type", errors=errors)
    message = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
    return api_error(request, 400, message, "invalid_parameters", errors=errors)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


FORM = "application/x-www-form-urlencoded"


def _default_body_schema(media_type: str) -> dict[str, Any]:
    if media_type == FORM:
        return {"type": "object", "additionalProperties": {"type": "string"}}
    return {"type": "string"}


class ApiService(Service):
    """A cornice Service mounted under ``/api/v1``; its operations are declared with
    :meth:`operation` and appear in the aggregated OpenAPI document."""

    def __init__(self, name: str, path: str, *, tag: str | None = None, description: str = "",
                 **kwargs: Any):
        super().__init__(name=f"api:{name}", path=API_PREFIX + path, description=description,
                         error_handler=_error_handler, **kwargs)
        self.api_path = path
        self.tag = tag or name.split(".")[0]
        self.operations: dict[str, Operation] = {}

    def add_view(self, method: Any, view: Any, **kwargs: Any) -> None:
        """cornice's, less the copy of a GET view it adds for HEAD: Pyramid's view for GET
        answers HEAD already (its ``request_method`` predicate admits both), and the copy was a
        fifth of the views an app registers (48 of the core's 241), each costing its build."""
        super().add_view(method, view, **kwargs)
        if self.definitions and self.definitions[-1][0] == "HEAD" and str(method).upper() == "GET":
            self.definitions.pop()  # HEAD stays among the service's methods (Allow, 405s)

    def operation(self, method: str, *, permission: str | Iterable[str] | None, summary: str,
                  parameters: Iterable[Param] = (), body: dict[str, Any] | None = None,
                  body_media_types: Iterable[str] | dict[str, Any] = (), responses: dict[int, Any] | None = None,
                  response_headers: dict[int, dict[str, Any]] | None = None,
                  description: str = "", authorize: Callable[[Request], None] | None = None) -> Callable:
        """Decorator declaring one operation. ``permission=None`` makes it public; a tuple of
        permissions (each in a different module, as Koha's document names them) requires them all.

        ``authorize(request)`` is for operations whose caller check is not a named permission
        (e.g. "the patron themself"): it runs once the path, query and header parameters are
        valid and before the request body is read or validated, and refuses by raising
        (``ApiError`` 403, or ``HTTPForbidden`` for the core's 401 without credentials).

        ``responses`` maps a status to a JSON Schema (for application/json), to
        ``{media type: schema}``, or to None (no body). ``body_media_types`` lists the accepted
        raw body types (the view reads ``request.body``) or maps them to the schema the document
        shows (default: a string; for forms, an object of string fields). Error responses (400/401/403/404/...)
        are added to the document automatically from what the operation declares.
        The view returns a Response, or JSON-able data sent as 200 (or the only 2xx declared).
        """
        method = method.upper()
        declared = _declared_permission(permission)

        def register(view: Callable) -> Callable:
            raw_schemas = {mt: _default_body_schema(mt) for mt in body_media_types}
            if isinstance(body_media_types, dict):
                raw_schemas.update(body_media_types)
            op = Operation(method, declared, summary, list(parameters), body, tuple(raw_schemas), raw_schemas,
                           dict(responses or {200: None}), dict(response_headers or {}), description,
                           f"{view.__name__}", (self.tag,), authorize)
            self.operations[method] = op
            success = min((s for s in op.responses if 200 <= s < 300), default=200)

            def api_view(request: Request) -> Response:
                _check_csrf(request)
                if op.json_only and "Accept" in request.headers and not request.accept.acceptable_offers([JSON]):
                    raise ApiError(406, "Not acceptable: this operation answers in application/json",
                                   "not_acceptable", acceptable=[JSON])
                result = view(request)
                if isinstance(result, Response):
                    return result
                return Response(status=success, json_body=result)

            api_view.__name__ = view.__name__
            # several permissions are checked by the operation's validator (first of all), so that
            # the 403 names them all; Pyramid checks a single one
            pyramid_permission = declared if isinstance(declared, str) or declared is None \
                else NO_PERMISSION_REQUIRED
            self.add_view(method, api_view, permission=pyramid_permission, validators=[op.validate],
                          require_csrf=False)
            return view

        return register


def _declared_permission(permission: str | Iterable[str] | None) -> str | tuple[str, ...] | None:
    """One permission as a string, several as a tuple; several must name different modules
    (Koha's x-koha-authorization maps a module to one sub-permission)."""
    if permission is None or isinstance(permission, str):
        return permission
    several = tuple(permission)
    if not several:
        raise ValueError("an operation's permissions: give None for a public operation, not an empty list")
    modules = [p.partition(":")[0] for p in several]
    if len(set(modules)) != len(modules):
        raise ValueError(f"permissions {several!r}: at most one per module")
    return several[0] if len(several) == 1 else several


def koha_permissions(permissions: Iterable[str]) -> dict[str, str]:
    """Koha's form of one or several required permissions (x-koha-authorization's ``permissions``,
    a 403's ``required_permissions``): ``{"borrowers": "edit_borrowers", "updatecharges": "1"}``."""
    merged: dict[str, str] = {}
    for permission in permissions:
        merged.update(koha_permission(permission))
    return merged


CONTRIB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def contrib_service(plugin: str, name: str, path: str, *, description: str = "", **kwargs: Any) -> ApiService:
    """A plugin's own service under ``/api/v1/contrib/<plugin>/`` (as Koha plugins add their
    routes): in the same OpenAPI document, tagged ``contrib:<plugin>``, with the core's
    validation, permissions and error bodies. Register it with ``config.add_cornice_service``
    in the plugin's ``includeme``. ``path`` starts with ``/`` (e.g. ``/biblios/{biblio_id}/stats``)."""
    if not CONTRIB_NAME.match(plugin):
        raise ValueError(f"contrib plugin name {plugin!r}: lower-case letters, digits, - and _ only")
    if not path.startswith("/"):
        raise ValueError(f"contrib path {path!r} must start with /")
    return ApiService(f"contrib.{plugin}.{name}", f"/contrib/{plugin}{path}", tag=f"contrib:{plugin}",
                      description=description, **kwargs)
