"""Home page and the staff login form (CSRF-protected, signed HttpOnly SameSite cookie)."""

from __future__ import annotations

from pyramid.csrf import new_csrf_token
from pyramid.httpexceptions import HTTPFound, HTTPSeeOther
from pyramid.request import Request
from pyramid.security import forget, remember
from pyramid.view import view_config

from ..auth import authenticate_password


@view_config(route_name="home", renderer="home.html")
def home(request: Request) -> dict:
    return {"services": request.registry.kohaweb.services,
            "library_name": request.registry.kohaweb.core["library_name"]}


def _safe_target(request: Request, target: str | None) -> str:
    # only local paths, so the login form cannot be used as an open redirect
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return request.route_path("home")


@view_config(route_name="login", request_method="GET", renderer="login.html")
def login_form(request: Request) -> dict:
    return {"came_from": _safe_target(request, request.params.get("came_from")), "error": None,
            "userid": "", "csrf_token": new_csrf_token(request) if "_csrft_" not in request.session
            else request.session["_csrft_"]}


@view_config(route_name="login", request_method="POST", renderer="login.html", require_csrf=True)
def login_submit(request: Request):
    userid = request.POST.get("userid", "")
    patron = authenticate_password(request.dbsession, userid, request.POST.get("password", ""))
    came_from = _safe_target(request, request.POST.get("came_from"))
    if patron is None:
        request.response.status = 401
        return {"came_from": came_from, "error": "Invalid username or password.", "userid": userid,
                "csrf_token": request.session.get("_csrft_") or new_csrf_token(request)}
    request.session.invalidate()  # a fresh session on login (no fixation)
    remember(request, patron.borrowernumber)
    new_csrf_token(request)
    return HTTPSeeOther(came_from)


@view_config(route_name="logout", request_method="POST", require_csrf=True)
def logout(request: Request):
    forget(request)
    return HTTPFound(request.route_path("login"))
