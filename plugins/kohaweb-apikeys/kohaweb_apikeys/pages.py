"""The staff page "Manage API keys" (Koha's members/apikeys.pl), server-rendered, no JavaScript
needed: every change is a CSRF-protected POST followed by a redirect, except generation, whose
answer is the only page that ever shows the secret (it is not put in the session, which is a
signed but readable cookie)."""

from __future__ import annotations

import uuid
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPForbidden, HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response

from kohaweb.plugin_api import ApiKey, Patron, find_patron

from . import keys

SUBMITTED_FORMS = "apikeys.submitted_forms"  # session key: ids of generate forms already used
REMEMBERED_FORMS = 10
MAX_PATRON_ID = 2**31 - 1  # borrowers.borrowernumber is a 32-bit integer


def includeme(config: Configurator) -> None:
    config.add_route("apikeys_start", "/api-keys")
    config.add_route("apikeys_page", r"/patrons/{patron_id:\d+}/api-keys")
    config.add_route("apikeys_state", r"/patrons/{patron_id:\d+}/api-keys/{client_id}/{action:revoke|activate}")
    config.add_route("apikeys_delete", r"/patrons/{patron_id:\d+}/api-keys/{client_id}/delete")
    config.add_route("apikeys_koha", "/cgi-bin/koha/members/apikeys.pl")  # Koha's address of the page
    config.add_static_view("apikeys-static", "kohaweb_apikeys:static", cache_max_age=3600)
    config.add_view(start, route_name="apikeys_start", request_method="GET")
    config.add_view(koha_address, route_name="apikeys_koha", request_method="GET")
    config.add_view(manage, route_name="apikeys_page", request_method="GET")
    config.add_view(generate, route_name="apikeys_page", request_method="POST", require_csrf=True)
    config.add_view(change_state, route_name="apikeys_state", request_method="POST", require_csrf=True)
    config.add_view(confirm_delete, route_name="apikeys_delete", request_method="GET")
    config.add_view(delete, route_name="apikeys_delete", request_method="POST", require_csrf=True)


# --- helpers ---------------------------------------------------------------------------------------

def _page(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    response = render_to_response(f"apikeys/{template}", values, request=request)
    response.status = status
    # pages may carry a secret or key details: keep them out of shared and back/forward caches
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(request: Request, status: int, title: str, text: str) -> Response:
    return _page(request, "message.html", status, title=title, text=text)


def _borrowers_may_manage(request: Request) -> bool:
    return request.registry.kohaweb.settings["apikeys"]["borrowers_manage_keys"]


def _patron_or_refusal(request: Request, creating: bool = False) -> Patron | Response:
    """The patron of the URL when the signed-in user may manage their keys, else the answer:
    the login page (no user), 403 (not allowed) or 404 (no such patron)."""
    identity = request.kohaweb_identity
    if identity is None:
        raise HTTPForbidden()  # the core sends browsers to /login and APIs a 401
    patron_id = int(request.matchdict["patron_id"])
    if not keys.can_manage(identity, patron_id, _borrowers_may_manage(request), creating=creating):
        return _message(request, 403, "Not allowed",
                        "Only the patron themself or a superlibrarian may manage these API keys.")
    # numbers beyond the column's range exist nowhere, and some databases refuse to compare them
    patron = request.dbsession.get(Patron, patron_id) if patron_id <= MAX_PATRON_ID else None
    if patron is None:
        return _message(request, 404, "No such patron", f"There is no patron number {patron_id}.")
    return patron


def _key_or_refusal(request: Request, patron: Patron) -> ApiKey | Response:
    key = keys.get_key(request.dbsession, patron.borrowernumber, request.matchdict["client_id"])
    if key is None:
        return _message(request, 404, "No such API key", "This patron has no API key with that client ID.")
    return key


def _back(request: Request, patron: Patron) -> HTTPSeeOther:
    return HTTPSeeOther(request.route_path("apikeys_page", patron_id=patron.borrowernumber))


def _render_manage(request: Request, patron: Patron, status: int = 200, **extra: Any) -> Response:
    values = {
        "patron": patron,
        "patron_name": " ".join(p for p in (patron.firstname, patron.surname) if p) or patron.userid or "",
        "keys": keys.list_keys(request.dbsession, patron.borrowernumber),
        "messages": request.session.pop_flash(),
        "grant_enabled": request.registry.kohaweb.settings["apikeys"]["client_credentials"],
        "fresh": None, "error": None, "description": "", "form_id": uuid.uuid4().hex,
    }
    values.update(extra)
    return _page(request, "manage.html", status, **values)


# --- views -----------------------------------------------------------------------------------------

def start(request: Request) -> Response:
    """Entry point: your own keys, or (for those who may manage others' keys) a patron lookup."""
    identity = request.kohaweb_identity
    if identity is None:
        raise HTTPForbidden()
    wanted = request.GET.get("patron", "").strip()
    may_manage_others = keys.may_manage_others(identity, _borrowers_may_manage(request))
    if wanted and may_manage_others:
        patron = find_patron(request.dbsession, wanted)
        if patron is None and wanted.isdigit():
            patron = request.dbsession.get(Patron, int(wanted))
        if patron is not None:
            return HTTPSeeOther(request.route_path("apikeys_page", patron_id=patron.borrowernumber))
        return _page(request, "start.html", 404, wanted=wanted, error=f"No patron matches “{wanted}”.")
    if not may_manage_others:
        return HTTPSeeOther(request.route_path("apikeys_page", patron_id=identity.patron_id))
    return _page(request, "start.html", wanted=wanted, error=None)


def koha_address(request: Request) -> HTTPSeeOther:
    """Bookmarks and links of Koha's members/apikeys.pl?patron_id=N keep working."""
    patron_id = request.GET.get("patron_id", "")
    if patron_id.isascii() and patron_id.isdigit():
        return HTTPSeeOther(request.route_path("apikeys_page", patron_id=int(patron_id)))
    return HTTPSeeOther(request.route_path("apikeys_start"))


def manage(request: Request) -> Response:
    patron = _patron_or_refusal(request)
    if isinstance(patron, Response):
        return patron
    return _render_manage(request, patron)


def generate(request: Request) -> Response:
    patron = _patron_or_refusal(request, creating=True)
    if isinstance(patron, Response):
        return patron
    description = request.POST.get("description", "")
    form_id = request.POST.get("form_id", "")
    submitted = request.session.get(SUBMITTED_FORMS, [])
    if form_id and form_id in submitted:
        # a reload of the answer page re-posts the form: never make a second key for it
        return _render_manage(request, patron, 409, messages=[
            "This form was already sent and its key generated; the secret was shown only once. "
            "If it was not copied, delete that key and generate a new pair."])
    try:
        fresh = keys.create_key(request.dbsession, patron.borrowernumber, description)
    except keys.ApiKeyError as exc:
        return _render_manage(request, patron, 400, error=str(exc), description=description)
    if form_id:
        request.session[SUBMITTED_FORMS] = [*submitted[-(REMEMBERED_FORMS - 1):], form_id]
    return _render_manage(request, patron, 201, fresh=fresh)


def change_state(request: Request) -> Response:
    patron = _patron_or_refusal(request, creating=request.matchdict["action"] == "activate")
    if isinstance(patron, Response):
        return patron
    key = _key_or_refusal(request, patron)
    if isinstance(key, Response):
        return key
    try:
        if request.matchdict["action"] == "revoke":
            keys.revoke(request.dbsession, key)
            request.session.flash(f"API key “{key.description}” revoked: its tokens no longer work.")
        else:
            keys.activate(request.dbsession, key)
            request.session.flash(f"API key “{key.description}” activated.")
    except keys.ApiKeyError as exc:
        request.session.flash(str(exc))  # e.g. a double submit: the state is already what was asked
    return _back(request, patron)


def confirm_delete(request: Request) -> Response:
    patron = _patron_or_refusal(request)
    if isinstance(patron, Response):
        return patron
    key = _key_or_refusal(request, patron)
    if isinstance(key, Response):
        return key
    return _page(request, "confirm_delete.html", patron=patron, key=key)


def delete(request: Request) -> Response:
    patron = _patron_or_refusal(request)
    if isinstance(patron, Response):
        return patron
    key = _key_or_refusal(request, patron)
    if isinstance(key, Response):
        return key
    description = key.description
    keys.delete_key(request.dbsession, key)
    request.session.flash(f"API key “{description}” deleted.")
    return _back(request, patron)
