"""The ``apikeys`` service: patron API keys and OAuth2 client credentials (Koha's
RESTOAuth2ClientCredentials).

- ``POST /api/v1/oauth/token`` issues bearer tokens for a key's client id and secret;
- its ``authenticate`` hook lets the core accept those tokens on every service;
- ``/api/v1/patrons/{patron_id}/api_keys...`` manages keys over the REST API;
- ``/patrons/{patron_id}/api-keys`` is the staff page ("Manage API keys").
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.plugin_api import Setting, hookimpl

SETTINGS = [
    Setting("apikeys.client_credentials", "bool", True,
            "Allow the OAuth2 client-credentials grant (Koha's RESTOAuth2ClientCredentials). When off, "
            "the token endpoint answers unsupported_grant_type and bearer tokens are refused."),
    Setting("apikeys.token_lifetime", "int", 3600, "Lifetime in seconds of an access token.", minimum=1),
    Setting("apikeys.borrowers_manage_keys", "bool", False,
            "Staff with the `borrowers` permission may manage other patrons' API keys (otherwise only "
            "the patron themself or a superlibrarian, as in Koha)."),
    Setting("apikeys.last_used_interval", "int", 60,
            "Record a key's last use at most once per this many seconds (0: on every request).",
            minimum=0),
]


@hookimpl
def authenticate(request, scheme: str, credentials: str):
    """Bearer tokens issued by /api/v1/oauth/token (kohaweb.hookspecs.authenticate)."""
    if scheme != "bearer":
        return None
    from kohaweb.plugin_api import InvalidCredentials

    from .bearer import validate_bearer_token

    if not credentials:
        raise InvalidCredentials("bearer tokens are not accepted here")
    return validate_bearer_token(request, credentials)


def includeme(config: Configurator) -> None:
    config.add_jinja2_search_path("kohaweb_apikeys:templates", name=".html")
    config.include(".api")
    config.add_home_link("API keys", "Your API keys", "/api-keys",
                         "client id and secret for the REST API's OAuth2 client credentials", staff=True)
    config.include(".pages")
