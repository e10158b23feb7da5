"""The repository's fixed description (from settings) and its record identifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from kohaweb.plugin_api import ConfigError, site_secrets

# oai-identifier.xsd: repositoryIdentifier is a domain name
DOMAIN = re.compile(r"^[a-zA-Z][a-zA-Z0-9\-]*(\.[a-zA-Z][a-zA-Z0-9\-]*)+$")
# OAI-PMH.xsd emailType
EMAIL = re.compile(r"^\S+@(\S+\.)+\S+$")
DEFAULT_REPOSITORY_IDENTIFIER = "kohaweb.localhost"


@dataclass(frozen=True)
class Repository:
    name: str
    admin_emails: tuple[str, ...]
    scheme: str  # "oai" or "koha"
    repository_identifier: str
    archive_id: str
    max_count: int
    deleted_record: str
    token_lifetime: int
    compression: bool
    stylesheet: str
    secret: tuple[str, ...]  # signs resumption tokens: the site's secrets, newest first
    base_url: str  # kohaweb.base_url, may be empty

    @classmethod
    def from_site(cls, site) -> Repository:
        oai, core = site.settings["oai"], site.core
        problems = []
        emails = tuple(oai["admin_email"] or core["admin_email"])
        for email in emails:
            if not EMAIL.match(email):
                problems.append(f"oai.admin_email: {email!r} is not an address OAI-PMH accepts "
                                "(user@host.domain); set oai.admin_email")
        if not emails:
            problems.append("oai.admin_email: at least one address is required")
        repo_id = oai["repository_identifier"] or _host(core["base_url"]) or DEFAULT_REPOSITORY_IDENTIFIER
        if oai["identifier_scheme"] == "oai" and not DOMAIN.match(repo_id):
            problems.append(f"oai.repository_identifier: {repo_id!r} is not a domain name "
                            "(the oai-identifier scheme needs one, e.g. library.example.org)")
        if oai["identifier_scheme"] == "koha" and not oai["archive_id"]:
            problems.append("oai.archive_id: required when oai.identifier_scheme = koha")
        if problems:
            raise ConfigError(problems)
        return cls(name=oai["repository_name"] or core["library_name"], admin_emails=emails,
                   scheme=oai["identifier_scheme"], repository_identifier=repo_id,
                   archive_id=oai["archive_id"], max_count=oai["max_count"],
                   deleted_record=oai["deleted_record"], token_lifetime=oai["token_lifetime"],
                   compression=oai["compression"], stylesheet=oai["stylesheet"], secret=tuple(site_secrets(core)),
                   base_url=core["base_url"].rstrip("/"))

    @property
    def lists_deleted(self) -> bool:
        return self.deleted_record != "no"

    @property
    def identifier_prefix(self) -> str:
        if self.scheme == "oai":
            return f"oai:{self.repository_identifier}:"
        return f"{self.archive_id}:"

    def identifier(self, biblionumber: int) -> str:
        return f"{self.identifier_prefix}{biblionumber}"

    def biblionumber(self, identifier: str) -> int | None:
        """The record number an identifier names, or None when it is not one of ours."""
        prefix = self.identifier_prefix
        if not identifier.startswith(prefix):
            return None
        rest = identifier[len(prefix):]
        if not rest.isascii() or not rest.isdigit() or len(rest) > 18 or rest != str(int(rest)):
            return None
        return int(rest)


def _host(url: str) -> str:
    return urlsplit(url).hostname or "" if url else ""
