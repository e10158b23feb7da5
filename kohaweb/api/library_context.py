"""Koha's ``x-koha-library`` header: the library a request acts for.

Koha sets the library of its user environment from this header for requests authenticated by
HTTP Basic or a bearer token (a staff session keeps the library chosen when signing in; in
kohaweb, the patron's home library). The library must exist and the caller must be allowed to
work there: with the system preference ``IndependentBranches`` on, only a superlibrarian may act
for a library other than their own. Otherwise the request is refused before anything else with
Koha's 403 ``Unauthorized attempt to set library to <code>``.

Staff actions take their defaults from it as Koha's do from its user environment: the library
of a checkout (and of the circulation rules under CircControl = PickupLibrary), of a manual
credit, and the pickup library of a hold placed without one.
"""

from __future__ import annotations

from pyramid.request import Request

from ..models import Library, Patron
from ..preferences import get_preference
from .errors import ApiError

HEADER = "x-koha-library"
_CHECKED = "kohaweb_library_checked"


def check_library_header(request: Request) -> None:
    """Refuse (403) a request whose ``x-koha-library`` names a library that does not exist or
    that the caller may not act for. Runs once per request, before the parameters are checked."""
    if getattr(request, _CHECKED, False):
        return
    setattr(request, _CHECKED, True)
    value = request.headers.get(HEADER, "").strip()
    identity = request.kohaweb_identity
    if not value or identity is None or identity.method == "session":
        return
    session = request.dbsession
    library = session.get(Library, value) if len(value) <= 10 and value.isprintable() else None
    if library is None or not may_act_for(request, library):
        raise ApiError(403, f"Unauthorized attempt to set library to {value}", "forbidden")


def may_act_for(request: Request, library: Library) -> bool:
    """Koha's can_log_into: any library, unless IndependentBranches limits the caller (not a
    superlibrarian) to their own."""
    if get_preference(request.dbsession, "IndependentBranches", "0") != "1":
        return True
    identity = request.kohaweb_identity
    if identity.has("superlibrarian"):
        return True
    patron = request.dbsession.get(Patron, identity.patron_id)
    return patron is not None and patron.branchcode == library.branchcode


def acting_library(request: Request) -> str | None:
    """The library the request acts for: ``x-koha-library`` (checked) for Basic and bearer
    credentials, else the caller's home library; None without credentials."""
    identity = request.kohaweb_identity
    if identity is None:
        return None
    check_library_header(request)
    value = request.headers.get(HEADER, "").strip()
    if value and identity.method != "session":
        return value
    patron = request.dbsession.get(Patron, identity.patron_id)
    return patron.branchcode if patron is not None else None
