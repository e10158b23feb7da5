"""Records in memory and as MARCXML: the slim namespace in and out, flavour detection, the
denormalised summary stored beside each record, and embedding items (952/995).

Records are pymarc ``Record`` objects; storage is MARCXML text in the slim namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pymarc
from lxml import etree

from ..xmltext import marc_indicator, marcxml_text, xml_text

MARC_NS = "http://www.loc.gov/MARC21/slim"
_SLIM = f"{{{MARC_NS}}}"
MARC21 = "MARC21"
UNIMARC = "UNIMARC"

# Koha's default item field mappings: items column -> subfield code.
ITEM_SUBFIELDS = {
    MARC21: ("952", {
        "homebranch": "a", "holdingbranch": "b", "location": "c", "dateaccessioned": "d", "price": "g",
        "enumchron": "h", "stocknumber": "i", "issues": "l", "renewals": "m", "reserves": "n",
        "itemcallnumber": "o", "barcode": "p", "onloan": "q", "datelastseen": "r", "datelastborrowed": "s",
        "copynumber": "t", "uri": "u", "replacementprice": "v", "itemnotes_nonpublic": "x", "itype": "y",
        "itemnotes": "z", "withdrawn": "0", "itemlost": "1", "damaged": "4", "restricted": "5",
        "notforloan": "7", "ccode": "8", "itemnumber": "9",
    }),
    UNIMARC: ("995", {
        "homebranch": "b", "holdingbranch": "c", "location": "e", "barcode": "f", "ccode": "h",
        "itemcallnumber": "k", "onloan": "n", "notforloan": "o", "itype": "r", "itemnotes": "u",
        "itemlost": "2", "dateaccessioned": "5", "itemnumber": "9",
    }),
}


class MarcError(ValueError):
    """A record that cannot be read or stored; the message says why."""

# --- MARCXML -----------------------------------------------------------------------------------

def record_to_xml(record: pymarc.Record) -> bytes:
    """Serialise one record as a namespaced MARCXML <record> (UTF-8, no XML declaration)."""
    text = marcxml_text(record)
    if text is not None:
        return text.encode("utf-8")
    return etree.tostring(record_to_element(record), encoding="utf-8")


def record_xml_text(record: pymarc.Record) -> str:
    """``record_to_xml`` as text (what is stored), without encoding it to decode it again."""
    text = marcxml_text(record)
    if text is not None:
        return text
    return etree.tostring(record_to_element(record), encoding="utf-8").decode("utf-8")


def record_to_element(record: pymarc.Record) -> etree._Element:
    root = etree.Element(_SLIM + "record", nsmap={None: MARC_NS})
    leader = etree.SubElement(root, _SLIM + "leader")
    leader.text = _blank_out(str(record.leader))
    for field in record.fields:
        if field.is_control_field():
            el = etree.SubElement(root, _SLIM + "controlfield", tag=field.tag)
            el.text = _blank_out(field.data or "")
        else:
            ind = list(field.indicators) + [" ", " "]
            el = etree.SubElement(root, _SLIM + "datafield", tag=field.tag,
                                  ind1=marc_indicator(ind[0]), ind2=marc_indicator(ind[1]))
            for sub in field.subfields:
                sf = etree.SubElement(el, _SLIM + "subfield", code=_clean(sub.code or " ")[:1] or " ")
                sf.text = _clean(sub.value or "")
    return root


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (found in real-world MARC)."""
    return xml_text(text)


def _blank_out(text: str) -> str:
    """Positional data (leader, 008...) keeps its length: bad characters become blanks."""
    return xml_text(text, " ")


def parse_xml(data: str | bytes) -> pymarc.Record:
    """Parse one stored MARCXML record (with or without the slim namespace)."""
    try:
        root = etree.fromstring(data.encode("utf-8") if isinstance(data, str) else data)
    except etree.XMLSyntaxError as exc:
        raise MarcError(f"invalid XML: {exc}") from None
    if etree.QName(root).localname == "collection":
        root = next((el for el in root if etree.QName(el).localname == "record"), None)
        if root is None:
            raise MarcError("empty MARCXML collection")
    return element_to_record(root)


def element_to_record(el: etree._Element) -> pymarc.Record:
    record = pymarc.Record(leader=" " * 24)
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name == "leader":
            text = (child.text or "").ljust(24)[:24]
            record.leader = pymarc.Leader(text)
        elif name == "controlfield":
            tag = child.get("tag")
            if not tag:
                raise MarcError("controlfield without a tag")
            record.add_field(pymarc.Field(tag=tag, data=child.text or ""))
        elif name == "datafield":
            tag = child.get("tag")
            if not tag:
                raise MarcError("datafield without a tag")
            subfields = []
            for sf in child:
                if not isinstance(sf.tag, str) or etree.QName(sf).localname != "subfield":
                    continue
                code = sf.get("code")
                if code is None:
                    raise MarcError(f"subfield without a code in field {tag}")
                subfields.append(pymarc.Subfield(code=code, value=sf.text or ""))
            record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(
                child.get("ind1", " ") or " ", child.get("ind2", " ") or " "), subfields=subfields))
    return record


# --- flavour and summary -----------------------------------------------------------------------

def detect_flavour(record: pymarc.Record, default: str = MARC21) -> str:
    """MARC21 or UNIMARC, from the fields present (245 vs 200 with $a, 100 as coded data)."""
    tags = {f.tag for f in record.fields}
    if "245" in tags:
        return MARC21
    if "200" in tags:
        f200 = record.get_fields("200")[0]
        if not f200.is_control_field() and f200.get_subfields("a"):
            return UNIMARC
    return default


class TagIndex:
    """A record's fields by tag, for the dozen lookups ``summary`` and the indexer make of each
    record (pymarc's ``get_fields`` goes through every field at each of them)."""

    __slots__ = ("_by_tag",)

    def __init__(self, record: pymarc.Record) -> None:
        by_tag: dict[str, list[pymarc.Field]] = {}
        for field in record.fields:
            found = by_tag.get(field.tag)
            if found is None:
                by_tag[field.tag] = [field]
            else:
                found.append(field)
        self._by_tag = by_tag

    def get_fields(self, tag: str) -> list[pymarc.Field]:
        """The fields with this tag, in order (not to be changed: the index's own list)."""
        return self._by_tag.get(tag, [])


def first(record: pymarc.Record | TagIndex, tag: str, code: str) -> str | None:
    for field in record.get_fields(tag):
        if not field.is_control_field():
            for value in field.get_subfields(code):
                if value and value.strip():
                    return value.strip()
    return None


def all_values(record: pymarc.Record | TagIndex, tag: str, code: str) -> list[str]:
    return [v.strip() for f in record.get_fields(tag) if not f.is_control_field()
            for v in f.get_subfields(code) if v and v.strip()]


_TRAILING = re.compile(r"[\s/:;,=.]+$")
# non-sorting markers (C1 NSB/NSE and their Unicode forms) carried by many UNIMARC titles
_NON_SORTING = re.compile("[\x88\x89\x98\x9c]")


def strip_punctuation(text: str | None) -> str | None:
    """ISBD punctuation at the end of a subfield ("Title /" -> "Title")."""
    if text is None:
        return None
    text = _NON_SORTING.sub("", text)
    stripped = _TRAILING.sub("", text)
    if stripped.endswith(("..",)):
        return stripped
    return stripped or text.strip()


_YEAR = re.compile(r"(1[0-9]{3}|20[0-9]{2})")


def _year(text: str | None) -> int | None:
    match = _YEAR.search(text or "")
    return int(match.group(1)) if match else None


def summary(record: pymarc.Record, flavour: str) -> dict[str, Any]:
    """The denormalised columns of ``biblio`` for listing and the REST API."""
    leader = str(record.leader)
    tagged = TagIndex(record)  # the dozen lookups below, without a pass over every field each
    if flavour == UNIMARC:
        author = strip_punctuation(first(tagged, "700", "a"))
        if author and first(tagged, "700", "b"):
            author = f"{author}, {first(tagged, '700', 'b')}"
        author = author or first(tagged, "710", "a") or first(tagged, "200", "f")
        coded = tagged.get_fields("100")
        year = _year(first(tagged, "210", "d") or first(tagged, "214", "d"))
        if year is None and coded and not coded[0].is_control_field():
            year = _year((coded[0].get_subfields("a") or [""])[0][9:13])
        return {
            "title": strip_punctuation(first(tagged, "200", "a")),
            "subtitle": strip_punctuation(first(tagged, "200", "e")),
            "author": strip_punctuation(author),
            "isbn": " | ".join(all_values(tagged, "010", "a")) or None,
            "issn": " | ".join(all_values(tagged, "011", "a")) or None,
            "publishercode": strip_punctuation(first(tagged, "210", "c") or first(tagged, "214", "c")),
            "copyrightdate": year,
            "itemtype": first(tagged, "099", "t"),
            "serial": leader[7:8] == "s",
        }
    author = first(tagged, "100", "a") or first(tagged, "110", "a") or first(tagged, "111", "a")
    year = _year(first(tagged, "264", "c") or first(tagged, "260", "c"))
    f008 = tagged.get_fields("008")
    if year is None and f008 and f008[0].is_control_field():
        year = _year((f008[0].data or "")[7:11])
    return {
        "title": strip_punctuation(first(tagged, "245", "a")),
        "subtitle": strip_punctuation(first(tagged, "245", "b")),
        "author": strip_punctuation(author),
        "isbn": " | ".join(all_values(tagged, "020", "a")) or None,
        "issn": " | ".join(all_values(tagged, "022", "a")) or None,
        "publishercode": strip_punctuation(first(tagged, "264", "b") or first(tagged, "260", "b")),
        "copyrightdate": year,
        "itemtype": first(tagged, "942", "c"),
        "serial": leader[7:8] == "s",
    }


# --- items -------------------------------------------------------------------------------------

def item_tag(flavour: str) -> str:
    return ITEM_SUBFIELDS[flavour][0]


def strip_items(record: pymarc.Record, flavour: str) -> list[dict[str, str]]:
    """Remove embedded item fields from ``record``; return them as items-column dicts."""
    tag, mapping = ITEM_SUBFIELDS[flavour]
    by_code = {code: column for column, code in mapping.items()}
    items = []
    for field in record.get_fields(tag):
        values = {}
        for sub in field.subfields:
            column = by_code.get(sub.code)
            if column and sub.value not in (None, ""):
                values[column] = sub.value
        items.append(values)
        record.remove_field(field)
    return items


def embed_items(record: pymarc.Record, flavour: str, items: Iterable[dict[str, Any]]) -> pymarc.Record:
    """Add one item field per item (952 MARC21, 995 UNIMARC) in subfield-code order, as Koha does."""
    tag, mapping = ITEM_SUBFIELDS[flavour]
    for item in items:
        subfields = []
        for column, code in sorted(mapping.items(), key=lambda kv: _code_order(kv[1])):
            value = item.get(column)
            if value is None or value == "":
                continue
            if hasattr(value, "isoformat"):
                value = value.isoformat()[:10] if column not in ("datelastseen",) else value.isoformat()
            subfields.append(pymarc.Subfield(code=code, value=str(value)))
        if subfields:
            record.add_ordered_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "),
                                                  subfields=subfields))
    return record


def _code_order(code: str) -> tuple[int, str]:
    """Letters before digits, as Koha's frameworks order item subfields."""
    return (1 if code.isdigit() else 0, code)
