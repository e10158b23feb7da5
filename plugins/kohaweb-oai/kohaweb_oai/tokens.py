"""Stateless resumption tokens: the original selection, the last key shown, the cursor and the
list size, signed with the site secret (kohaweb.signing) so that a tampered, expired or foreign
token is refused with badResumptionToken. Nothing is kept on the server."""

from __future__ import annotations

from dataclasses import dataclass

from kohaweb.plugin_api import signing

from .protocol import OaiError

PURPOSE = "oai-resumption"


@dataclass(frozen=True)
class ListState:
    verb: str
    prefix: str  # "" for ListSets
    from_: str | None  # YYYY-MM-DDThh:mm:ssZ
    until: str  # the effective until fixed at the first page
    set_spec: str | None
    after: tuple[str, int] | None  # last (datestamp, biblionumber) shown; ListSets: (setSpec, 0)
    cursor: int  # records already sent before this page
    size: int  # completeListSize at the first page

    def to_data(self) -> list:
        return [1, self.verb, self.prefix, self.from_, self.until, self.set_spec,
                list(self.after) if self.after else None, self.cursor, self.size]


def encode(state: ListState, secret: signing.Secrets, lifetime: int, now: float) -> str:
    return signing.sign(secret, PURPOSE, state.to_data(), max_age=lifetime, now=now)


def decode(token: str, verb: str, secret: signing.Secrets, now: float) -> ListState:
    try:
        data = signing.unsign(secret, PURPOSE, token, now=now)
    except signing.Expired:
        raise OaiError("badResumptionToken", "the resumptionToken has expired; start the list again") from None
    except signing.BadSignature:
        raise OaiError("badResumptionToken", "the resumptionToken is not one this repository issued") from None
    try:
        version, token_verb, prefix, from_, until, set_spec, after, cursor, size = data
        if version != 1 or not isinstance(cursor, int) or not isinstance(size, int):
            raise ValueError
        after = (str(after[0]), int(after[1])) if after else None
    except (ValueError, TypeError, IndexError):
        raise OaiError("badResumptionToken", "the resumptionToken is malformed") from None
    if token_verb != verb:
        raise OaiError("badResumptionToken", f"this resumptionToken belongs to {token_verb}, not {verb}")
    return ListState(verb, prefix, from_, until, set_spec, after, cursor, size)
