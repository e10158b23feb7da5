"""Make a stored MARCXML record valid against MARC21slim.xsd, or say why it cannot be.

Records arrive from many systems: UNIMARC leaders end in ``450 ``, leader/17 holds the fill
character ``|``, control fields come after data fields, data fields have no subfields. The
positions ISO 2709 computes (record length, indicator and subfield-code counts, base address,
entry map: leader/00-04, 10-16, 20-23) are rewritten as any serialiser would; other leader
characters the schema does not allow become blanks, except a missing type of record (leader/06),
which becomes ``a`` as in Koha's leader editors; control fields move before data fields; empty
data fields are dropped. What cannot be repaired without inventing data is a RenderError: no
leader, or one that is not 24 characters long (or 20-23, when only the entry map is cut short), a tag or a subfield code the schema cannot carry (e.g. a
blank code, which Koha writes out as ``code=" "``).
"""

from __future__ import annotations

import re

from lxml import etree

from ..marc import MARC_NS
from ..xmltext import NOT_XML_CHARS
from .base import RenderError

_LEADER = f"{{{MARC_NS}}}leader"
_CONTROL = f"{{{MARC_NS}}}controlfield"
_DATA = f"{{{MARC_NS}}}datafield"
_SUBFIELD = f"{{{MARC_NS}}}subfield"
# the patterns of MARC21slim.xsd
VALID_LEADER = re.compile(r"[\d ]{5}[\dA-Za-z ][\dA-Za-z][\dA-Za-z ]{3}22[\d ]{5}[\dA-Za-z ]{3}4500")
CONTROL_TAG = re.compile(r"00[1-9A-Za-z]")
DATA_TAG = re.compile(r"0[1-9A-Za-z][0-9A-Za-z]|[1-9A-Za-z][0-9A-Za-z]{2}")
INDICATOR = re.compile(r"[\da-z ]")
SUBFIELD_CODE = re.compile(r"[\dA-Za-z!\"#$%&'()*+,\-./:;<=>?{}_^`~\[\]\\]")
_NOT_ALNUM = re.compile(r"[^\dA-Za-z ]")

# The stored text exactly as kohaweb.marc.record_to_xml writes a record that needs no repair: one
# line, attributes in its order, the schema's patterns for leader, tags, indicators and codes,
# control fields first, no empty data field, text escaped as lxml escapes it, no character XML 1.0
# cannot carry. Such text is embedded as it is (the same bytes lxml would write after parsing and
# conform()); anything else takes the parse-and-conform path.
_TEXT = rf"[^<>&\r{NOT_XML_CHARS}]*+"
_TEXT = rf"{_TEXT}(?:&(?:amp|lt|gt|quot|apos|#13);{_TEXT})*+"
_CODE = r"(?:[\dA-Za-z!#$%'()*+,\-./:;=?{}_^`~\[\]\\>]|&quot;|&amp;|&lt;|&gt;)"
_DATA_TAG = r"(?:0[1-9A-Z][0-9A-Z]|0[1-9a-z][0-9a-z]|[1-9A-Z][0-9A-Z]{2}|[1-9a-z][0-9a-z]{2})"  # the schema's
_CLEAN_RECORD = re.compile(
    r'<record xmlns="http://www\.loc\.gov/MARC21/slim">'
    r"<leader>[\d ]{5}[\dA-Za-z ][\dA-Za-z][\dA-Za-z ]{3}22[\d ]{5}[\dA-Za-z ]{3}4500</leader>"
    rf'(?:<controlfield tag="00[1-9A-Za-z]"(?:/>|>{_TEXT}</controlfield>))*+'
    rf'(?:<datafield tag="{_DATA_TAG}" ind1="[\da-z ]" ind2="[\da-z ]">'
    rf'(?:<subfield code="{_CODE}"(?:/>|>{_TEXT}</subfield>))++</datafield>)*+'
    r"</record>")


def conforming_text(marcxml: str) -> bool:
    """Whether stored MARCXML text is already a schema-valid record that ``conform`` would leave
    as it is, so that it can be sent without parsing (checked by one linear regular expression)."""
    return _CLEAN_RECORD.fullmatch(marcxml) is not None


def conform(root: etree._Element, biblionumber: int) -> etree._Element:
    """``root`` (a marc:record, changed in place) made schema-valid; RenderError if impossible."""
    leaders = root.findall(_LEADER)
    if len(leaders) != 1:
        raise RenderError(f"record {biblionumber}: {len(leaders)} leaders instead of one")
    leaders[0].text = conform_leader(leaders[0].text or "", biblionumber)
    seen_data = False
    misplaced = []
    for child in root:
        if child.tag == _CONTROL:
            tag = child.get("tag") or ""
            if not CONTROL_TAG.fullmatch(tag):
                raise RenderError(f"record {biblionumber}: control field tag {tag!r} is not valid in MARCXML")
            if seen_data:
                misplaced.append(child)
        elif child.tag == _DATA:
            seen_data = True
            _conform_datafield(child, biblionumber)
    for child in misplaced:  # control fields before data fields, their own order kept
        root.remove(child)
    anchor = leaders[0]
    for child in root.iterchildren(_CONTROL):
        anchor = child
    for child in misplaced:
        anchor.addnext(child)
        anchor = child
    for child in root.findall(_DATA):
        if len(child) == 0:
            root.remove(child)
    return root


def conform_leader(text: str, biblionumber: int) -> str:
    if VALID_LEADER.fullmatch(text):
        return text
    if 20 <= len(text) < 24:  # a truncated entry map (leader/20-23) is rewritten below anyway
        text = text.ljust(24)
    if len(text) != 24:
        raise RenderError(f"record {biblionumber}: bad leader {text!r} ({len(text)} characters instead of 24)")
    # no type of record: Koha's leader editors start a new record as 'a' (language material), too
    kind = text[6] if re.fullmatch(r"[\dA-Za-z]", text[6]) else "a"
    length = text[0:5] if re.fullmatch(r"[\d ]{5}", text[0:5]) else "00000"
    base = text[12:17] if re.fullmatch(r"[\d ]{5}", text[12:17]) else "00000"
    return (length + _NOT_ALNUM.sub(" ", text[5]) + kind + _NOT_ALNUM.sub(" ", text[7:10]) + "22" + base
            + _NOT_ALNUM.sub(" ", text[17:20]) + "4500")


def _conform_datafield(field: etree._Element, biblionumber: int) -> None:
    tag = field.get("tag") or ""
    if not DATA_TAG.fullmatch(tag):
        raise RenderError(f"record {biblionumber}: data field tag {tag!r} is not valid in MARCXML")
    for name in ("ind1", "ind2"):
        if not INDICATOR.fullmatch(field.get(name) or ""):
            field.set(name, " ")
    for subfield in field:
        if subfield.tag != _SUBFIELD:
            continue
        code = subfield.get("code") or ""
        if not SUBFIELD_CODE.fullmatch(code):
            raise RenderError(f"record {biblionumber}: field {tag} has subfield code {code!r}, "
                              "which MARCXML cannot carry")
