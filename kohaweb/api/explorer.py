"""The interactive API explorer at ``/api/v1/explorer``: Swagger UI (from the ``swagger-ui-py``
distribution, which ships Swagger UI 5's assets: nothing is loaded from a CDN) over the same
OpenAPI document as ``GET /api/v1/``.

Try-it-out authenticates as the API does: the staff session (the browser sends its cookie; the
page gives Swagger UI the session's CSRF token for writes), HTTP Basic where the site enables it,
or an OAuth2 bearer token, entered once in Swagger UI's Authorize dialog (kept across reloads,
``persistAuthorization``).
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from .service import API_PREFIX

SWAGGER_UI_ASSETS = "swagger_ui:static/"
# the browser may load only what this site serves (the point of shipping the assets); Swagger UI
# styles its widgets inline and draws icons from data: URLs
EXPLORER_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
                "base-uri 'self'; form-action 'self'")


def includeme(config: Configurator) -> None:
    config.add_static_view("swagger-ui", SWAGGER_UI_ASSETS, cache_max_age=86400)
    config.add_route("api.explorer", API_PREFIX + "/explorer")
    config.add_view(explorer_view, route_name="api.explorer", request_method=("GET", "HEAD"),
                    renderer="kohaweb.api:templates/explorer.html", permission=NO_PERMISSION_REQUIRED)


def explorer_view(request: Request) -> dict:
    """The explorer page; public, like the document it renders (operations say what they need)."""
    request.response.headers["Content-Security-Policy"] = EXPLORER_CSP
    # only the signed-in have a session to protect: do not start one for every visitor
    csrf_token = None
    if request.kohaweb_identity is not None and request.kohaweb_identity.method == "session":
        from pyramid.csrf import get_csrf_token

        csrf_token = get_csrf_token(request)
    return {"assets": SWAGGER_UI_ASSETS, "csrf_token": csrf_token,
            "basic_auth": request.registry.kohaweb.core["auth.basic"]}
