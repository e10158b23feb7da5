"""REST routes of the service (interim: plain Pyramid until the core's ApiService is in)."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.security import NO_PERMISSION_REQUIRED

from .oauth import token_response


def includeme(config: Configurator) -> None:
    config.add_route("apikeys.oauth_token", "/api/v1/oauth/token")
    config.add_view(token_response, route_name="apikeys.oauth_token", request_method="POST",
                    permission=NO_PERMISSION_REQUIRED, require_csrf=False)
