"""The stable API of the core for plugins: import from here, and from nothing else in ``kohaweb``
(``kohaweb.testing`` in tests excepted; ``tests/test_plugin_api.py`` checks the plugins in
plugins/).

``API_VERSION`` follows semantic versioning: a minor version adds names, a major version removes
or changes one (and the ``kohaweb`` distribution's major/minor version moves with it, so a plugin
declares ``kohaweb >= 0.2, < 0.3``). Everything not listed in ``__all__`` is private and may change
in any release. The names are grouped as the documentation (docs/DEVELOPING.md) is:

- hooks: ``hookimpl`` and the change objects the catalogue hooks receive (kohaweb.hookspecs);
- settings: ``Setting``, ``ConfigError``, ``parse_settings``;
- the catalogue: ``Catalog`` (the only writer of records and items), its errors, ``item_dict``,
  the models (``models`` and the common ones by name), ``marc``, ``visibility``, ``sets``,
  ``preferences``, ``circulation``;
- search: the ``search`` package, ``Clause``, ``Boolean``, ``SortKey``, ``SearchResult``, ``ScanTerm``,
  ``QueryError``, ``INDEXES``, ``SearchBackend`` and the core's
  ``SqlSearchBackend``, ``search_backend(request_or_site)``;
- formats: ``MetadataFormat``, ``RecordSource``, ``RenderError``; ``load_records`` (one page of
  stored records, ``StoredRecord``);
- REST: ``ApiService``, ``contrib_service(plugin, name, path)`` (a service under
  /api/v1/contrib/<plugin>/), ``ApiError``, ``Resource``, ``Field``, ``path``, ``query``, ``header``,
  ``ERROR_REF``;
- requests and security: ``Identity``, ``InvalidCredentials``, ``AccessRefused``,
  ``access_refusal``, ``find_patron``, ``verify_password``, ``sign_in``, ``auth_error``,
  ``PERMISSIONS``, ``SUPERLIBRARIAN``, ``scope_allowed`` (may a patron ask for a token scope), ``hash_password``, ``end_sessions_after_request``,
  ``error_response``; signing (itsdangerous, with key rotation): ``sign``, ``unsign``,
  ``sign_url_params``, ``verify_url_params``, ``site_secrets``, ``BadSignature``, ``Expired``;
- XML: ``xml_text`` (drop what XML cannot carry), ``is_xml_text``, ``xml_escape`` and
  ``xml_escape_attribute`` (XML written as text), ``MARC_NS``;
- the database: ``discard_changes(request)`` (roll back what the request wrote, still answer), ``transaction``, ``make_engine``, ``session_beside``, ``DatabaseUnavailable``,
  ``database_unavailable``, ``note_protocol_error``;
- the command line: ``CommandError``.
"""

from __future__ import annotations

from typing import Any

from . import __version__, circulation, marc, models, preferences, search, sets, signing, visibility
from .api import ApiError, ApiService, Field, Resource, header, path, query
from .api.openapi import ERROR_REF
from .api.service import contrib_service
from .auth import (
    PERMISSIONS,
    SUPERLIBRARIAN,
    AccessRefused,
    Identity,
    InvalidCredentials,
    access_refusal,
    auth_error,
    end_sessions_after_request,
    find_patron,
    hash_password,
    scope_allowed,
    sign_in,
    verify_password,
)
from .catalog import Catalog, CatalogError, NotFound, item_dict
from .changes import ItemChange, RecordChange
from .circulation import CirculationError
from .cli import CommandError
from .db import make_engine, transaction
from .formats import MetadataFormat, RecordSource, RenderError, StoredRecord, load_records
from .hookspecs import hookimpl
from .limits import DatabaseUnavailable, database_unavailable
from .marc import MARC_NS
from .metrics import note_protocol_error
from .models import (
    AccountLine,
    ApiKey,
    AuthorisedValue,
    Authority,
    Base,
    Biblio,
    BiblioMetadata,
    Checkout,
    DeletedAuthority,
    DeletedBiblio,
    DeletedItem,
    Hold,
    Item,
    ItemType,
    Library,
    OaiSet,
    OaiSetBiblio,
    OaiSetDescription,
    OaiSetMapping,
    OAuthAccessToken,
    Patron,
    PatronAttribute,
    PatronAttributeType,
    SavedReport,
    utcnow,
)
from .preferences import get_preference, set_preference
from .replicas import session_beside
from .search import INDEXES, Boolean, Clause, QueryError, ScanTerm, SearchResult, SortKey
from .search.backend import SearchBackend, SqlSearchBackend
from .settings import ConfigError, Setting, parse_settings
from .signing import BadSignature, Expired, sign, sign_url_params, site_secrets, unsign, verify_url_params
from .transactions import discard as discard_changes
from .views.errors import error_response
from .xmltext import is_xml_text, xml_escape, xml_escape_attribute, xml_text

API_VERSION = "1.1"  # 1.1: xml_escape, xml_escape_attribute, scope_allowed


def search_backend(request_or_site: Any) -> SearchBackend:
    """The site's search backend (``kohaweb.search.backend``): search, scan and sort through it
    rather than through ``search.search`` so that another backend answers when one is chosen."""
    site = getattr(getattr(request_or_site, "registry", None), "kohaweb", None) or request_or_site
    return site.hooks.search


__all__ = [
    "DeletedAuthority", "contrib_service", "discard_changes", "Boolean", "Clause", "QueryError", "ScanTerm", "SearchResult", "SortKey", "StoredRecord", "load_records", "BadSignature", "Expired", "MARC_NS", "is_xml_text", "sign", "sign_url_params", "site_secrets", "unsign",
    "verify_url_params", "scope_allowed", "xml_text", "xml_escape", "xml_escape_attribute",
    "API_VERSION", "AccountLine", "ApiKey", "AuthorisedValue", "Authority", "Checkout", "Hold", "INDEXES",
    "OAuthAccessToken", "PatronAttribute", "PatronAttributeType", "end_sessions_after_request", "hash_password",
    "ERROR_REF", "PERMISSIONS", "SUPERLIBRARIAN", "AccessRefused", "ApiError", "ApiService",
    "Base", "Biblio", "BiblioMetadata", "Catalog", "CatalogError", "CirculationError", "CommandError",
    "ConfigError", "DatabaseUnavailable", "DeletedBiblio", "DeletedItem", "Field", "Identity",
    "InvalidCredentials", "Item", "ItemChange", "ItemType", "Library", "MetadataFormat", "NotFound", "OaiSet",
    "OaiSetBiblio", "OaiSetDescription", "OaiSetMapping", "Patron", "RecordChange", "RecordSource", "RenderError",
    "Resource", "SavedReport", "SearchBackend", "Setting", "SqlSearchBackend", "__version__", "access_refusal",
    "auth_error", "circulation", "database_unavailable", "error_response", "find_patron", "get_preference",
    "header", "hookimpl", "item_dict", "make_engine", "marc", "models", "note_protocol_error", "parse_settings",
    "path", "preferences", "query", "search", "search_backend", "session_beside", "set_preference", "sets",
    "sign_in", "signing", "transaction", "utcnow", "verify_password", "visibility",
]
