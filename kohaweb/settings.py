"""Declared, typed settings.

Every setting is declared once (name, type, default, help) by the core or by a plugin.
`parse_settings` turns the raw ini strings into typed values and reports every bad or unknown
key at start-up; `kohaweb settings` prints the same declarations as the README table.
Values of the form ``env:NAME`` are read from the environment, so production.ini holds no secrets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .hookspecs import hookimpl

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """Raised with one line per problem found in the configuration."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Setting:
    name: str  # full ini key, e.g. "oai.max_count"
    type: str  # str, bool, int, path, list, choice, url
    default: Any
    help: str
    choices: tuple[str, ...] = field(default=())
    minimum: int | None = None

    def parse(self, raw: str) -> Any:
        text = raw.strip()
        if text.startswith("env:"):
            env_name = text[4:]
            if env_name not in os.environ:
                raise ValueError(f"environment variable {env_name} is not set")
            text = os.environ[env_name].strip()
        if self.type == "bool":
            if text.lower() in TRUE:
                return True
            if text.lower() in FALSE:
                return False
            raise ValueError(f"expected true or false, got {raw!r}")
        if self.type == "int":
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"expected an integer, got {raw!r}") from None
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum}, got {value}")
            return value
        if self.type == "list":
            return [part for part in text.replace(",", " ").split() if part]
        if self.type == "choice":
            if text not in self.choices:
                raise ValueError(f"expected one of {', '.join(self.choices)}, got {raw!r}")
            return text
        if self.type == "path":
            if text and not os.path.exists(text):
                raise ValueError(f"no such file or directory: {text}")
            return text
        return text


def parse_settings(raw: Mapping[str, Any], prefix: str, declared: Iterable[Setting]) -> dict[str, Any]:
    """Typed values of every setting under ``prefix.``, keyed by the name without the prefix.

    Raises ConfigError naming every unknown key and every value that does not parse.
    """
    declared = {s.name: s for s in declared}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, setting in declared.items():
        short = name[len(prefix) + 1 :]
        if name in raw and not isinstance(raw[name], str):
            values[short] = raw[name]  # already typed (tests pass Python values)
        elif name in raw:
            try:
                values[short] = setting.parse(raw[name])
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        else:
            values[short] = setting.default
    for key in raw:
        if key.startswith(prefix + ".") and key not in declared:
            problems.append(f"{key}: unknown setting (known: {', '.join(sorted(declared)) or 'none'})")
    if problems:
        raise ConfigError(problems)
    return values


def settings_table(groups: Mapping[str, Sequence[Setting]]) -> str:
    """A Markdown table of every declared setting (for the README and `kohaweb settings`)."""
    lines = ["| setting | type | default | what it does |", "|---|---|---|---|"]
    for _, declared in sorted(groups.items()):
        for s in declared:
            default = " ".join(s.default) if isinstance(s.default, list) else s.default
            kind = f"choice: {'/'.join(s.choices)}" if s.choices else s.type
            lines.append(f"| `{s.name}` | {kind} | `{default}` | {s.help} |")
    return "\n".join(lines)


CORE_SETTINGS: list[Setting] = [
    Setting("kohaweb.services", "list", [], "Web services to enable (entry points in `kohaweb.services`)."),
    Setting("kohaweb.database_url", "str", "sqlite:///var/kohaweb.sqlite",
            "SQLAlchemy URL of the catalogue. `env:NAME` reads it from the environment."),
    Setting("kohaweb.secret", "str", "", "Secret for signing sessions, CSRF tokens, signed URLs and "
            "resumption tokens. Required; `env:NAME` reads it from the environment."),
    Setting("kohaweb.previous_secrets", "list", [], "Secrets used before `kohaweb.secret`, newest first "
            "(separated by spaces): what they signed (sessions, resumption tokens, signed URLs) is still "
            "accepted until it expires, nothing new is signed with them. Rotate by moving the old secret "
            "here; remove it after `kohaweb.session.max_age`."),
    Setting("kohaweb.marcflavour", "choice", "MARC21", "Default MARC flavour of new records.",
            choices=("MARC21", "UNIMARC")),
    Setting("kohaweb.library_name", "str", "kohaweb library", "Library name shown by the services."),
    Setting("kohaweb.admin_email", "list", ["root@localhost.localdomain"], "Administrator e-mail address(es); set it (OAI-PMH Identify publishes it)."),
    Setting("kohaweb.base_url", "str", "", "Public base URL (scheme://host[:port]) when behind a proxy; "
            "empty means taken from each request."),
    Setting("kohaweb.auth.basic", "bool", False, "Accept HTTP Basic authentication (Koha's RESTBasicAuth)."),
    Setting("kohaweb.auth.credential_cache_seconds", "int", 60, "Seconds a password or API client secret "
            "verified once is remembered in memory (keyed by an HMAC, never the secret), so repeated HTTP Basic "
            "and token requests skip bcrypt; the account is still re-checked on every request, so password "
            "changes and revocations take effect at once. 0 disables.", minimum=0),
    Setting("kohaweb.session.max_age", "int", 8 * 3600, "Lifetime in seconds of a staff login.", minimum=60),
    Setting("kohaweb.session.secure", "bool", False, "Send the session cookie over HTTPS only."),
    Setting("kohaweb.formats.conf", "path", "", "YAML file of site-defined metadata formats (Koha's "
            "OAI-PMH:ConfFile layout)."),
    Setting("kohaweb.login.max_failures", "int", 5, "Failed sign-ins of one account (or API client) "
            "within kohaweb.login.window after which each further attempt waits (backoff).", minimum=1),
    Setting("kohaweb.login.address_max_failures", "int", 20, "Failed sign-ins from one address within "
            "kohaweb.login.window after which each further attempt from it waits.", minimum=1),
    Setting("kohaweb.login.backoff", "int", 30, "First wait in seconds once a threshold is reached; it "
            "doubles with each further failure, up to kohaweb.login.window.", minimum=1),
    Setting("kohaweb.login.window", "int", 900, "Seconds a failed sign-in is remembered (and the longest "
            "wait).", minimum=60),
    Setting("kohaweb.db.attempts", "int", 5, "Times a request's transaction is run when the database "
            "refuses it for a deadlock, a serialisation failure or a lock wait that timed out.", minimum=1),
    Setting("kohaweb.trusted_proxies", "list", [], "Addresses/networks of reverse proxies whose "
            "X-Forwarded-For is believed."),
    # read replicas (kohaweb.replicas)
    Setting("kohaweb.replica_urls", "list", [], "SQLAlchemy URLs of read-only replicas of the database; "
            "OAI-PMH, SRU and public REST reads use them in turn (writes, sign-ins and requests with "
            "credentials stay on the primary). `env:NAME` reads them from the environment."),
    Setting("kohaweb.replica_max_lag", "int", 30, "A replica further behind than this many seconds is "
            "not read; a client that wrote reads from the primary for as long.", minimum=0),
    Setting("kohaweb.replica_retry", "int", 30, "Seconds an unreachable replica is left alone before "
            "it is tried again.", minimum=1),
    # limits every service gets (kohaweb.limits, kohaweb.api)
    Setting("kohaweb.max_body_size", "int", 10 * 1024 * 1024, "Largest request body in bytes, refused "
            "with 413 before it is read; services may set smaller limits on their routes.", minimum=1024),
    Setting("kohaweb.max_form_size", "int", 1024 * 1024, "Largest form body (urlencoded or multipart) in "
            "bytes: forms are parsed in memory.", minimum=1024),
    Setting("kohaweb.retry_after", "int", 30, "Retry-After seconds of the 503 answered while the database "
            "cannot be reached.", minimum=1),
    Setting("kohaweb.frame_ancestors", "str", "'self'", "CSP frame-ancestors sent on every response "
            "('self', 'none' or origins; X-Frame-Options SAMEORIGIN/DENY follows); empty sends neither."),
    Setting("kohaweb.referrer_policy", "str", "strict-origin-when-cross-origin", "Referrer-Policy sent on "
            "every response; empty sends none."),
    Setting("kohaweb.api.max_per_page", "int", 1000, "Largest REST page: a larger _per_page, or -1 "
            "(Koha's \"all\"), gives pages of this size with Link headers to the next ones.", minimum=1),
    Setting("kohaweb.api.max_json_depth", "int", 32, "Deepest nesting of arrays and objects in a REST JSON "
            "body or q filter (400 beyond).", minimum=2),
    Setting("kohaweb.api.max_query_values", "int", 500, "Most conditions and values in the q filters of one "
            "REST request (400 beyond; keeps statements within every database's limits).", minimum=10),
    # Prometheus metrics (kohaweb.metrics)
    Setting("kohaweb.metrics.enabled", "bool", True, "Serve /metrics (Prometheus text format: requests, "
            "latency and errors per service and operation, database pool, search index)."),
    Setting("kohaweb.metrics.allow", "list", ["127.0.0.1", "::1"], "Addresses/networks that may read "
            "/metrics (staff with the parameters permission may too); others get 403."),
    # plugins (kohaweb.plugins, kohaweb.search.backend)
    Setting("kohaweb.search.backend", "str", "sql", "Search backend: `sql` (the index in the catalogue's "
            "database) or one a plugin offers through the `register_search_backends` hook."),
    Setting("kohaweb.search.outbox", "bool", False, "Also write each record change to "
            "`record_change_outbox` under a backend inside the database (backends outside it always "
            "use it); `kohaweb outbox drain` sends the changes on."),
]


@hookimpl
def register_settings() -> list[Setting]:
    """The core's settings, declared through the same hook as every plugin's."""
    return CORE_SETTINGS
