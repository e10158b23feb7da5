"""Home page and the staff login form (CSRF-protected, signed HttpOnly SameSite cookie whose
session is recorded server-side, so logout ends it at once; failed sign-ins are throttled)."""

from __future__ import annotations

from importlib.resources import files

from pyramid.csrf import new_csrf_token
from pyramid.httpexceptions import HTTPFound, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import FileResponse
from pyramid.security import forget, remember
from pyramid.view import view_config

from ..auth import AccessRefused, InvalidCredentials, LoginThrottled, sign_in

FAVICON = str(files("kohaweb") / "static" / "favicon.ico")


@view_config(route_name="favicon", request_method=("GET", "HEAD"))
def favicon(request: Request) -> FileResponse:
    """The site icon at the address browsers and feed readers ask for without a link."""
    response = FileResponse(FAVICON, request=request, content_type="image/vnd.microsoft.icon")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@view_config(route_name="home", renderer="home.html")
def home(request: Request) -> dict:
    """The library, what each enabled service offers and where, and the visitor's sign-in state."""
    from .home import home_links

    site = request.registry.kohaweb
    return {"services": site.services, "links": home_links(request.registry),
            "library_name": site.core["library_name"], "basic_auth": site.core["auth.basic"]}


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
    came_from = _safe_target(request, request.POST.get("came_from"))
    try:
        patron = sign_in(request, userid, request.POST.get("password", ""))
    except InvalidCredentials as exc:
        request.response.status = 401
        if isinstance(exc, LoginThrottled):
            request.response.headers["Retry-After"] = str(exc.retry_after)
            minutes = -(-exc.retry_after // 60)
            error = (f"Too many failed log-in attempts. Try again in {minutes} minute"
                     f"{'s' if minutes > 1 else ''}.")
        elif isinstance(exc, AccessRefused):
            error = f"This account may not log in: {exc}."
        else:
            error = "Invalid username or password."
        return {"came_from": came_from, "error": error, "userid": userid,
                "csrf_token": request.session.get("_csrft_") or new_csrf_token(request)}
    forget(request)  # a fresh session on login (no fixation); a previous one ends
    remember(request, patron.borrowernumber)
    new_csrf_token(request)
    return HTTPSeeOther(came_from)


@view_config(route_name="logout", request_method="POST", require_csrf=True)
def logout(request: Request):
    forget(request)  # deletes the server-side session: a copy of the cookie no longer works
    return HTTPFound(request.route_path("login"))
