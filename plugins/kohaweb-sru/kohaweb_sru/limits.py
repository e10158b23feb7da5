"""What an SRU request may hold before it is parsed: characters XML can carry (everything is
echoed), a stylesheet that fits in a processing instruction, and queries bounded in length,
parenthesis depth and number of boolean operators (``sru.max_query_length``,
``sru.max_query_depth``, ``sru.max_query_booleans``), so that no query costs unbounded parsing,
recursion or log space. Each refusal is the SRU diagnostic for it, never a traceback.
"""

from __future__ import annotations

import re
from typing import Any

from kohaweb.plugin_api import is_xml_text

from .diagnostics import Diagnostic

QUERY_PARAMETERS = ("query", "scanClause")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"?', re.S)  # a CQL quoted string (an unclosed one runs to the end)
_PARENTHESIS = re.compile(r"[()]")
# the grammar's BOOLEAN token: a whole word (see cql.lark)
_BOOLEAN = re.compile(r'(?<![^\s()=<>"/])(?:and|or|not|prox)(?![^\s()=<>"/])', re.I)


def unusable_parameters(params: dict[str, str], extras: dict[str, str]) -> Diagnostic | None:
    """Remove what cannot be echoed or used at all from ``params``/``extras`` and return the
    diagnostic for the first such parameter (None when all are usable). The offending text is
    never put in the diagnostic: it could not be written in XML either."""
    problem: Diagnostic | None = None
    for values in (params, extras):
        for name in list(values):
            value = values[name]
            if not is_xml_text(name):
                del values[name]
                problem = problem or Diagnostic(8, None, "Unsupported parameter: a name with characters XML "
                                                "cannot carry")
            elif not is_xml_text(value):
                del values[name]
                if name in QUERY_PARAMETERS:
                    problem = problem or Diagnostic(10, f"{name} contains control characters")
                else:
                    problem = problem or Diagnostic(6, name)
            elif name == "stylesheet" and "?>" in value:
                del values[name]  # it would end the xml-stylesheet processing instruction
                problem = problem or Diagnostic(111, None, "Unsupported stylesheet: the URL cannot contain '?>'")
    return problem


def check_query(text: str, settings: dict[str, Any]) -> None:
    """Diagnostic 12 (too long), 13 (parentheses nested too deeply) or 38 (too many boolean
    operators) for a query beyond the service's limits; measured without parsing."""
    limit = settings["max_query_length"]
    if len(text) > limit:
        raise Diagnostic(12, str(limit), f"Too many characters in query (at most {limit})")
    unquoted = _QUOTED.sub('""', text)
    depth = deepest = 0
    for match in _PARENTHESIS.finditer(unquoted):
        depth += 1 if match.group() == "(" else -1
        if depth > deepest:
            deepest = depth
            if deepest > settings["max_query_depth"]:
                raise Diagnostic(13, str(match.start()), "Invalid or unsupported use of parentheses: nested "
                                 f"deeper than {settings['max_query_depth']}")
    booleans = len(_BOOLEAN.findall(unquoted))
    if booleans > settings["max_query_booleans"]:
        raise Diagnostic(38, str(settings["max_query_booleans"]),
                         f"Too many boolean operators in query (at most {settings['max_query_booleans']})")
