"""Koha's report placeholders (``<<Label>>``, ``<<Label|date>>``, ``<<Label|list>>``,
``<<Label:in>>``, ``<<Label|authval_category>>``) and how request values fill them.

Koha quotes each value and pastes it into the SQL text. Here every placeholder becomes a bind
parameter of the driver, so no value is ever part of the SQL that is parsed and checked.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"<<([^<>]+?)>>")
# each value is a bind parameter and part of the parsed SQL: bound the work one request can cause
MAX_LIST_VALUES = 1000


class ParameterError(ValueError):
    """The request's values do not fit the report's placeholders (-> HTTP 400)."""


@dataclass(frozen=True)
class Placeholder:
    text: str  # everything between << and >>, e.g. "Branch|branches"
    label: str  # "Branch"
    kind: str  # "text", "date" or "list"
    start: int
    end: int
    parenthesised: bool  # a list written as IN (<<x|list>>) gets no second pair of parentheses


def find_placeholders(sql: str) -> list[Placeholder]:
    found = []
    for match in PLACEHOLDER.finditer(sql):
        text = match.group(1).strip()
        label, kind = text, "text"
        if text.endswith(":in"):
            label, kind = text[:-3], "list"
        elif "|" in text:
            label, option = text.split("|", 1)
            kind = {"date": "date", "list": "list"}.get(option.strip().lower(), "text")
        before = sql[:match.start()].rstrip()
        after = sql[match.end():].lstrip()
        found.append(Placeholder(text, label.strip(), kind, match.start(), match.end(),
                                 before.endswith("(") and after.startswith(")")))
    return found


@dataclass(frozen=True)
class Bound:
    """SQL with ``:kwp_<nonce>_<n>`` markers instead of placeholders, and the marker values."""

    sql: str
    nonce: str
    values: dict[str, object]


def assign_values(placeholders: Sequence[Placeholder], sql_params: Sequence[str],
                  param_names: Sequence[str] = ()) -> list[str]:
    """Koha's rules: values are positional in order of appearance; with ``param_names``,
    ``sql_params[i]`` fills every placeholder named ``param_names[i]`` (label or full text)."""
    if param_names:
        if len(param_names) != len(sql_params):
            raise ParameterError(f"{len(param_names)} param_names but {len(sql_params)} sql_params")
        by_name = {}
        for name, value in zip(param_names, sql_params, strict=True):
            by_name[name.strip()] = value
        values = []
        for ph in placeholders:
            if ph.text in by_name:
                values.append(by_name[ph.text])
            elif ph.label in by_name:
                values.append(by_name[ph.label])
            else:
                raise ParameterError(f"no value for parameter <<{ph.text}>> (param_names lacks {ph.label!r})")
        unused = set(by_name) - {ph.text for ph in placeholders} - {ph.label for ph in placeholders}
        if unused:
            raise ParameterError(f"unknown param_names: {', '.join(sorted(unused))}")
        return values
    if len(sql_params) < len(placeholders):
        missing = placeholders[len(sql_params)]
        raise ParameterError(f"this report needs {len(placeholders)} sql_params; no value for <<{missing.text}>>")
    if len(sql_params) > len(placeholders):
        raise ParameterError(f"this report takes {len(placeholders)} sql_params, got {len(sql_params)}")
    return list(sql_params)


def convert(placeholder: Placeholder, value: str, dates_as_text: bool) -> object | list[object]:
    if placeholder.kind == "date":
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ParameterError(f"<<{placeholder.text}>> needs a date as YYYY-MM-DD, got {value!r}") from None
        return day.isoformat() if dates_as_text else day
    if placeholder.kind == "list":
        # Koha splits a list value on new lines
        items = [line.strip() for line in value.splitlines() if line.strip()]
        if not items:
            raise ParameterError(f"<<{placeholder.text}>> needs at least one value (one per line)")
        if len(items) > MAX_LIST_VALUES:
            raise ParameterError(f"<<{placeholder.text}>> takes at most {MAX_LIST_VALUES} values")
        return items
    return value


def bind(sql: str, sql_params: Sequence[str] = (), param_names: Sequence[str] = (), *,
         dates_as_text: bool = False, sample: bool = False, nonce: str | None = None) -> Bound:
    """Replace every placeholder by bind markers and convert the values.

    ``sample=True`` fills each placeholder with a dummy value of its kind, so a report can be
    checked when it is saved, before anyone supplies values.
    """
    placeholders = find_placeholders(sql)
    if sample:
        values = ["2000-01-01" if ph.kind == "date" else "x" for ph in placeholders]
    else:
        values = assign_values(placeholders, sql_params, param_names)
    nonce = nonce or secrets.token_hex(6)  # unguessable, so a marker cannot be forged in the report text
    pieces: list[str] = []
    bound: dict[str, object] = {}
    position = 0
    for index, (ph, raw) in enumerate(zip(placeholders, values, strict=True)):
        pieces.append(sql[position:ph.start])
        value = convert(ph, raw, dates_as_text)
        if isinstance(value, list):
            names = [f"kwp_{nonce}_{index}_{n}" for n in range(len(value))]
            bound.update(zip(names, value, strict=True))
            markers = ", ".join(f":{name}" for name in names)
            pieces.append(markers if ph.parenthesised else f"({markers})")
        else:
            name = f"kwp_{nonce}_{index}"
            bound[name] = value
            pieces.append(f":{name}")
        position = ph.end
    pieces.append(sql[position:])
    return Bound("".join(pieces), nonce, bound)
