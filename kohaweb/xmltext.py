"""Text that XML 1.0 can carry: the one place that says which characters it cannot.

XML 1.0 allows tab, line feed, carriage return, U+0020-U+D7FF, U+E000-U+FFFD and U+10000-U+10FFFF
(``Char`` in the specification, section 2.2). Stored data (MARC imported from old systems, patron
notes, harvested records) sometimes has the rest: C0 control characters, U+FFFE/U+FFFF, and, from
text decoded with ``surrogateescape`` or ``surrogatepass``, lone surrogates. lxml refuses them
(ValueError) and a serialiser writing text directly would produce a document no parser reads.

Every service writing XML cleans its text with :func:`xml_text` (or checks it with
:func:`is_xml_text` where refusing is the right answer); regular expressions that must exclude the
same characters build on :data:`NOT_XML_CHARS`.
"""

from __future__ import annotations

import re

# the characters XML 1.0 cannot carry, as the body of a regular-expression character class
NOT_XML_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
NOT_XML = re.compile(f"[{NOT_XML_CHARS}]")


def xml_text(text: str, replacement: str = "") -> str:
    """``text`` without the characters XML 1.0 cannot carry, each replaced by ``replacement``
    (nothing by default; a blank keeps positional data such as a MARC leader at its length).
    Characters outside the Basic Multilingual Plane are kept."""
    if NOT_XML.search(text) is None:  # the usual case: no copy
        return text
    return NOT_XML.sub(replacement, text)


def is_xml_text(text: str) -> bool:
    """Whether every character of ``text`` can be written in an XML 1.0 document."""
    return NOT_XML.search(text) is None


def xml_escape(text: str) -> str:
    """``text`` as element content written directly as text, escaped as lxml escapes it (``&``,
    ``<``, ``>`` and carriage return, which a parser would otherwise read as a line feed). It does
    not clean: pass it :func:`xml_text`'s result, or check with :func:`is_xml_text` first."""
    if "&" in text:  # each replace only when needed: most text has none of these
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def xml_escape_attribute(text: str) -> str:
    """``text`` as a double-quoted attribute value: :func:`xml_escape` plus ``"`` and the white
    space a parser would normalise to blanks (tab, line feed)."""
    text = xml_escape(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\t" in text or "\n" in text:
        text = text.replace("\t", "&#9;").replace("\n", "&#10;")
    return text
