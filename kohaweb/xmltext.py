"""Text that XML 1.0 can carry: the one place that says which characters it cannot.

XML 1.0 allows tab, line feed, carriage return, U+0020-U+D7FF, U+E000-U+FFFD and U+10000-U+10FFFF
(``Char`` in the specification, section 2.2). Stored data (MARC imported from old systems, patron
notes, harvested records) sometimes has the rest: C0 control characters, U+FFFE/U+FFFF, and, from
text decoded with ``surrogateescape`` or ``surrogatepass``, lone surrogates. lxml refuses them
(ValueError) and a serialiser writing text directly would produce a document no parser reads.

Every service writing XML cleans its text with :func:`xml_text` (or checks it with
:func:`is_xml_text` where refusing is the right answer); regular expressions that must exclude the
same characters build on :data:`NOT_XML_CHARS`.

A MARC record's MARCXML is written here as text directly (:func:`marcxml_text`), as lxml would
write it: the import writes every record it stores this way.
"""

from __future__ import annotations

import re
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

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


# --- MARCXML written directly ----------------------------------------------------------------

_PLAIN_INDICATORS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz ")


def marc_indicator(value: Any) -> str:
    """A MARC indicator as written in MARCXML: a digit, a lower-case letter or a blank."""
    if value in _PLAIN_INDICATORS:  # the usual case, without a regular expression
        return value
    text = str(value) if value is not None else " "
    return text[:1] if text and re.match(r"[\da-z ]", text[:1]) else " "


def marcxml_text(record: Any) -> str | None:
    """A pymarc record as a namespaced MARCXML <record>: ``kohaweb.marc.record_to_element``
    serialised by hand, byte for byte what lxml writes for it, at a quarter of the cost (the
    import writes every record this way). None when some text needs cleaning (characters XML
    cannot carry): the element path then does it."""
    fields = record.fields
    # most records have no "&<>" or carriage return in any value: then no value is escaped one
    # by one (a None or non-text value, which the join refuses, takes the escaping path)
    try:
        content = "".join(chain(map(itemgetter(1), chain.from_iterable(map(_SUBFIELDS, fields))),
                                filter(None, map(_DATA, fields))))
    except TypeError:
        content = "&"
    escape = xml_escape if _ESCAPED.search(content) else _as_is
    parts = ['<record xmlns="http://www.loc.gov/MARC21/slim"><leader>', xml_escape(str(record.leader)),
             "</leader>"]
    add = parts.append
    heads = _HEADS
    opens = _SUBFIELD_OPENS
    for field in fields:
        tag = field.tag
        if field.is_control_field():
            add(f'<controlfield tag="{xml_escape_attribute(str(tag))}">{escape(field.data or "")}'
                "</controlfield>")
            continue
        key = (tag, field.indicators)
        head = heads.get(key)
        if head is None:
            head = _datafield_head(field)
            if len(heads) < 10_000 and type(tag) is str and all(type(i) is str for i in key[1]):
                heads[key] = head  # only text keys: 1 == True, but they are written differently
        if not field.subfields:
            add(head + "/>")
            continue
        add(head + ">")
        for code, value in field.subfields:
            add(f"{opens.get(code) or _subfield_open(code)}{escape(value or '')}</subfield>")
        add("</datafield>")
    add("</record>")
    text = "".join(parts)
    # one search of the whole text: the rare record with characters to clean takes the slow path
    return None if NOT_XML.search(text) else text


_SUBFIELDS = attrgetter("subfields")
_DATA = attrgetter("data")
_ESCAPED = re.compile("[&<>\r]")  # what xml_escape changes
_HEADS: dict[tuple, str] = {}  # (tag, indicators) -> '<datafield tag=... ind2="."', filled as met


def _as_is(text: str) -> str:
    return text


def _datafield_head(field: Any) -> str:
    ind = list(field.indicators) + [" ", " "]
    return (f'<datafield tag="{xml_escape_attribute(str(field.tag))}" ind1="{xml_escape_attribute(marc_indicator(ind[0]))}"'
            f' ind2="{xml_escape_attribute(marc_indicator(ind[1]))}"')


def _subfield_open(code: Any) -> str:
    return f'<subfield code="{xml_escape_attribute((code or " ")[:1])}">'


# the usual subfield codes, written as they are
_SUBFIELD_OPENS = {code: _subfield_open(code) for code in "abcdefghijklmnopqrstuvwxyz0123456789"}
