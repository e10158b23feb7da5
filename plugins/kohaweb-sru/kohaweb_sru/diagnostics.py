"""SRU diagnostics (info:srw/diagnostic/1/N): an exception carrying the number and details."""

from __future__ import annotations

MESSAGES = {
    1: "General system error",
    2: "System temporarily unavailable",
    4: "Unsupported operation",
    5: "Unsupported version",
    6: "Unsupported parameter value",
    7: "Mandatory parameter not supplied",
    8: "Unsupported parameter",
    10: "Query syntax error",
    12: "Too many characters in query",
    13: "Invalid or unsupported use of parentheses",
    15: "Unsupported context set",
    16: "Unsupported index",
    19: "Unsupported relation",
    20: "Unsupported relation modifier",
    27: "Empty term unsupported",
    28: "Masked words too short",
    31: "Anchoring character in unsupported position",
    36: "Term in invalid format for index or relation",
    37: "Unsupported boolean operator",
    38: "Too many boolean operators in query",
    40: "Unsupported proximity relation",
    41: "Unsupported proximity distance",
    42: "Unsupported proximity unit",
    44: "Unsupported combination of proximity modifiers",
    46: "Unsupported boolean modifier",
    47: "Cannot process query; reason unknown",
    61: "First record position out of range",
    64: "Record temporarily unavailable",
    66: "Unknown schema for retrieval",
    67: "Record not available in this schema",
    71: "Unsupported record packing",
    72: "XPath retrieval unsupported",
    80: "Sort not supported",
    82: "Unsupported sort sequence",
    88: "Unsupported path for sort",
    90: "Unsupported direction",
    91: "Unsupported case",
    92: "Unsupported missing value action",
    110: "Stylesheets not supported",
    111: "Unsupported stylesheet",
    120: "Response position out of range",
}

PREFIX = "info:srw/diagnostic/1/"


class Diagnostic(Exception):
    def __init__(self, number: int, details: str | None = None, message: str | None = None):
        self.number = number
        self.details = details
        self.message = message or MESSAGES.get(number, "")
        super().__init__(f"{number} {self.message}: {details or ''}")

    @property
    def uri(self) -> str:
        return f"{PREFIX}{self.number}"


# kohaweb.search.QueryError codes -> diagnostic numbers
QUERY_ERRORS = {
    "unsupported_index": 16,
    "unsupported_relation": 19,
    "empty_term": 27,
    "masking_too_short": 28,
    "anchor_position": 31,
    "invalid_term": 36,
    "unsupported_prox": 44,
    "unsupported_boolean": 37,
    "unsupported_sort": 88,
    "scan_unsupported": 4,
}
