"""Simple Dublin Core (oai_dc) to MARC21 or UNIMARC, so harvested non-MARC records become
ordinary catalogue records (searchable, re-publishable).

| DC element  | MARC21                               | UNIMARC                    |
|-------------|--------------------------------------|----------------------------|
| title       | 245 00 $a (first), 246 3_ $a (others)| 200 1_ $a, 517 $a (others) |
| creator     | 100 1_ $a (first), 700 1_ $a (others)| 700 _1 $a (first), 701 $a  |
| contributor | 720 __ $a                            | 702 _1 $a                  |
| subject     | 653 __ $a                            | 610 0_ $a                  |
| description | 520 __ $a                            | 330 __ $a                  |
| publisher   | 264 _1 $b                            | 210 __ $c                  |
| date        | 264 _1 $c, 008/07-10 (year)          | 210 __ $d, 100 $a/9-12     |
| type        | 655 _7 $a $2 local                   | 608 __ $a                  |
| format      | 340 __ $a                            | 215 __ $a                  |
| identifier  | 020 $a (ISBN), 022 $a (ISSN), 856 40 $u (URL), 024 8_ $a (others) | 010, 011, 856, 014 |
| source      | 786 0_ $n                            | 324 __ $a                  |
| language    | 041 __ $a, 008/35-37 (3 letters)     | 101 0_ $a                  |
| relation    | 787 0_ $n                            | 488 $t                     |
| coverage    | 500 __ $a "Coverage: …"              | 300 __ $a "Coverage: …"    |
| rights      | 540 __ $a                            | 371 0_ $a                  |

The leader marks the record as a language material (m) harvested at minimal level.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pymarc
from lxml import etree

DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
ELEMENTS = ("title", "creator", "subject", "description", "publisher", "contributor", "date", "type",
            "format", "identifier", "source", "language", "relation", "coverage", "rights")


def read_dc(element: etree._Element) -> dict[str, list[str]]:
    """Values of each DC element (document order, whitespace normalised, empties dropped)."""
    values: dict[str, list[str]] = defaultdict(list)
    for child in element.iter():
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if name.namespace == DC_NS and name.localname in ELEMENTS:
            text = " ".join((child.text or "").split())
            if text:
                values[name.localname].append(text)
    return values


def _field(tag: str, ind: str, *pairs: str) -> pymarc.Field:
    subfields = [pymarc.Subfield(code=pairs[i], value=pairs[i + 1]) for i in range(0, len(pairs), 2)]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(ind[0], ind[1]), subfields=subfields)


def _year(values: list[str]) -> str | None:
    for value in values:
        match = re.search(r"\b(1[0-9]{3}|20[0-9]{2})\b", value)
        if match:
            return match.group(1)
    return None


def _classify_identifier(value: str) -> str:
    if re.match(r"https?://", value, re.I):
        return "url"
    digits = re.sub(r"[^0-9Xx]", "", value.removeprefix("ISBN").removeprefix("isbn"))
    if re.fullmatch(r"(?:ISBN:?\s*)?[0-9][0-9\- ]{8,16}[0-9Xx]", value.strip(), re.I) and len(digits) in (10, 13):
        return "isbn"
    if re.fullmatch(r"(?:ISSN:?\s*)?[0-9]{4}-?[0-9]{3}[0-9Xx]", value.strip(), re.I):
        return "issn"
    return "other"


def dc_to_marc(element: etree._Element, flavour: str = "MARC21") -> pymarc.Record:
    """A MARC record (MARC21 or UNIMARC) from an oai_dc element; raises ValueError without a title."""
    dc = read_dc(element)
    if not dc.get("title"):
        raise ValueError("Dublin Core record has no title")
    return _unimarc(dc) if flavour == "UNIMARC" else _marc21(dc)


def _marc21(dc: dict[str, list[str]]) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a22000003u 4500")
    year = _year(dc.get("date", [])) or "    "
    language = next((v.lower() for v in dc.get("language", []) if re.fullmatch(r"[A-Za-z]{3}", v)), "   ")
    record.add_field(pymarc.Field(tag="008", data=f"000000s{year}    xx            000 0 {language} d"))
    for value in dc.get("identifier", []):
        kind = _classify_identifier(value)
        if kind == "isbn":
            record.add_field(_field("020", "  ", "a", re.sub(r"^ISBN:?\s*", "", value, flags=re.I)))
        elif kind == "issn":
            record.add_field(_field("022", "  ", "a", re.sub(r"^ISSN:?\s*", "", value, flags=re.I)))
        elif kind == "other":
            record.add_field(_field("024", "8 ", "a", value))
    for value in dc.get("language", []):
        record.add_field(_field("041", "  ", "a", value))
    creators = dc.get("creator", [])
    if creators:
        record.add_field(_field("100", "1 ", "a", creators[0]))
    titles = dc["title"]
    record.add_field(_field("245", "10" if creators else "00", "a", titles[0]))
    for value in titles[1:]:
        record.add_field(_field("246", "3 ", "a", value))
    if dc.get("publisher") or dc.get("date"):
        pairs: list[str] = []
        for value in dc.get("publisher", [])[:1]:
            pairs += ["b", value]
        for value in dc.get("date", [])[:1]:
            pairs += ["c", value]
        record.add_field(_field("264", " 1", *pairs))
    for value in dc.get("format", []):
        record.add_field(_field("340", "  ", "a", value))
    for value in dc.get("coverage", []):
        record.add_field(_field("500", "  ", "a", f"Coverage: {value}"))
    for value in dc.get("description", []):
        record.add_field(_field("520", "  ", "a", value))
    for value in dc.get("rights", []):
        record.add_field(_field("540", "  ", "a", value))
    for value in dc.get("subject", []):
        record.add_field(_field("653", "  ", "a", value))
    for value in dc.get("type", []):
        record.add_field(_field("655", " 7", "a", value, "2", "local"))
    for value in creators[1:]:
        record.add_field(_field("700", "1 ", "a", value))
    for value in dc.get("contributor", []):
        record.add_field(_field("720", "  ", "a", value))
    for value in dc.get("source", []):
        record.add_field(_field("786", "0 ", "n", value))
    for value in dc.get("relation", []):
        record.add_field(_field("787", "0 ", "n", value))
    for value in dc.get("identifier", []):
        if _classify_identifier(value) == "url":
            record.add_field(_field("856", "40", "u", value))
    return record


def _unimarc(dc: dict[str, list[str]]) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam  2200000 u 4500")
    year = _year(dc.get("date", [])) or "    "
    for value in dc.get("identifier", []):
        kind = _classify_identifier(value)
        if kind == "isbn":
            record.add_field(_field("010", "  ", "a", re.sub(r"^ISBN:?\s*", "", value, flags=re.I)))
        elif kind == "issn":
            record.add_field(_field("011", "  ", "a", re.sub(r"^ISSN:?\s*", "", value, flags=re.I)))
        elif kind == "other":
            record.add_field(_field("014", "  ", "a", value))
    record.add_field(_field("100", "  ", "a", f"00000000d{year}    u  y0engy50      ba"))
    for value in dc.get("language", []):
        record.add_field(_field("101", "0 ", "a", value))
    titles = dc["title"]
    record.add_field(_field("200", "1 ", "a", titles[0]))
    if dc.get("publisher") or dc.get("date"):
        pairs: list[str] = []
        for value in dc.get("publisher", [])[:1]:
            pairs += ["c", value]
        for value in dc.get("date", [])[:1]:
            pairs += ["d", value]
        record.add_field(_field("210", "  ", *pairs))
    for value in dc.get("format", []):
        record.add_field(_field("215", "  ", "a", value))
    for value in dc.get("coverage", []):
        record.add_field(_field("300", "  ", "a", f"Coverage: {value}"))
    for value in dc.get("source", []):
        record.add_field(_field("324", "  ", "a", value))
    for value in dc.get("description", []):
        record.add_field(_field("330", "  ", "a", value))
    for value in dc.get("rights", []):
        record.add_field(_field("371", "0 ", "a", value))
    for value in dc.get("relation", []):
        record.add_field(_field("488", "  ", "t", value))
    for value in titles[1:]:
        record.add_field(_field("517", "1 ", "a", value))
    for value in dc.get("type", []):
        record.add_field(_field("608", "  ", "a", value))
    for value in dc.get("subject", []):
        record.add_field(_field("610", "0 ", "a", value))
    creators = dc.get("creator", [])
    for index, value in enumerate(creators):
        record.add_field(_field("700" if index == 0 else "701", " 1", "a", value))
    for value in dc.get("contributor", []):
        record.add_field(_field("702", " 1", "a", value))
    for value in dc.get("identifier", []):
        if _classify_identifier(value) == "url":
            record.add_field(_field("856", "4 ", "u", value))
    return record
