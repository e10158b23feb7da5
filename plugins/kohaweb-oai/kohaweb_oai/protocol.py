"""The request grammar of OAI-PMH 2.0 (section 3 and 4 of the specification): which verbs exist,
which arguments each takes, and how dates are read. Knows nothing about the catalogue.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

# verb -> (required, optional, exclusive)
VERBS: dict[str, tuple[frozenset[str], frozenset[str], str | None]] = {
    "Identify": (frozenset(), frozenset(), None),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"}), None),
    "ListSets": (frozenset(), frozenset(), "resumptionToken"),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset(), None),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), "resumptionToken"),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), "resumptionToken"),
}

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# setSpec: colon-separated URI unreserved characters (spec 2.7)
SET_SPEC = re.compile(r"^[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*$")
PREFIX = re.compile(r"^[A-Za-z0-9\-_.!~*'()]+$")


class OaiError(Exception):
    """One OAI-PMH error condition (spec 3.6): ``code`` is the error code, the text is for humans."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OaiRequest:
    verb: str
    args: dict[str, str]  # every argument except verb, each given once


def parse_arguments(pairs: Iterable[tuple[str, str]]) -> OaiRequest:
    """Check the verb and the argument grammar; raises a list of OaiErrors as ``BadRequest``."""
    seen: dict[str, list[str]] = {}
    for key, value in pairs:
        seen.setdefault(key, []).append(value)
    verbs = seen.pop("verb", [])
    if len(verbs) != 1:
        raise BadRequest([OaiError("badVerb", "the verb argument is missing" if not verbs
                                   else "the verb argument is repeated")])
    verb = verbs[0]
    if verb not in VERBS:
        raise BadRequest([OaiError("badVerb", f"{verb!r} is not an OAI-PMH verb")])
    required, optional, exclusive = VERBS[verb]
    errors = []
    for key, values in seen.items():
        if len(values) > 1:
            errors.append(OaiError("badArgument", f"argument {key!r} is repeated"))
        elif key not in required | optional and key != exclusive:
            errors.append(OaiError("badArgument", f"argument {key!r} is not allowed with verb {verb}"))
    args = {k: v[0] for k, v in seen.items()}
    if exclusive and exclusive in args:
        others = sorted(set(args) - {exclusive})
        if others:
            errors.append(OaiError("badArgument", f"{exclusive} is an exclusive argument; "
                                   f"it cannot be combined with {', '.join(others)}"))
    else:
        for key in sorted(required - set(args)):
            errors.append(OaiError("badArgument", f"required argument {key!r} is missing"))
    for key in ("from", "until"):
        if key in args and not (DAY.match(args[key]) or SECONDS.match(args[key])):
            errors.append(OaiError("badArgument", f"{key}={args[key]!r} is not a UTC date "
                                   "(YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)"))
    if "metadataPrefix" in args and not PREFIX.match(args["metadataPrefix"]):
        errors.append(OaiError("badArgument", f"metadataPrefix={args['metadataPrefix']!r} has an illegal syntax"))
    if "set" in args and not SET_SPEC.match(args["set"]):
        errors.append(OaiError("badArgument", f"set={args['set']!r} is not a setSpec"))
    if not errors and "from" in args and "until" in args:
        if len(args["from"]) != len(args["until"]):
            errors.append(OaiError("badArgument", "from and until have different granularities"))
    if errors:
        raise BadRequest(errors)
    return OaiRequest(verb, args)


class BadRequest(Exception):
    """Grammar errors: the response carries these errors and a bare <request> element."""

    def __init__(self, errors: list[OaiError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def parse_date(text: str, *, end: bool) -> dt.datetime:
    """A from/until value as a naive UTC datetime; a day means its first (from) or last (until)
    second. Raises OaiError(badArgument) for impossible dates such as 2024-02-30."""
    try:
        if DAY.match(text):
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59) if end else dt.time(0, 0, 0))
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise OaiError("badArgument", f"{text!r} is not a valid date") from None


def format_datestamp(value: dt.datetime) -> str:
    """A naive UTC datetime as YYYY-MM-DDThh:mm:ssZ (isoformat pads years before 1000)."""
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_datestamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
