"""Which MARC fields feed which index, for MARC21 and UNIMARC.

The index names are the search indexes of Koha's Zebra configuration (pqf.properties uses,
biblio-koha-indexdefs.xml fields), reduced to what a public catalogue searches. Each index has a
kind: ``word`` (words with positions, plus whole-field phrases for exact and anchored searches),
``number`` (years, for ranges, plus their words), ``identifier`` (normalised identifiers).
``recid`` (the record number) and ``allrecords`` are answered without index rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymarc

from ..marc import UNIMARC
from . import normalize

ALPHA = None  # every alphabetic subfield


@dataclass(frozen=True)
class Index:
    name: str
    kind: str  # word | number | identifier | recid | allrecords
    title: str


INDEXES: dict[str, Index] = {i.name: i for i in [
    Index("any", "word", "Any (all fields)"),
    Index("title", "word", "Title"),
    Index("author", "word", "Author"),
    Index("subject", "word", "Subject"),
    Index("identifier", "identifier", "Standard identifier (ISBN, ISSN, other)"),
    Index("isbn", "identifier", "ISBN"),
    Index("issn", "identifier", "ISSN"),
    Index("date", "number", "Date of publication"),
    Index("publisher", "word", "Publisher"),
    Index("place", "word", "Place of publication"),
    Index("description", "word", "Abstract"),
    Index("note", "word", "Note"),
    Index("itemtype", "word", "Item type"),
    Index("barcode", "identifier", "Item barcode"),
    Index("branch", "word", "Library (home or holding branch code)"),
    Index("language", "word", "Language code"),
    Index("format", "word", "Content type"),
    Index("editor", "word", "Editor"),
    Index("name", "word", "Name (any personal, corporate or conference name)"),
    Index("pname", "word", "Personal name"),
    Index("cname", "word", "Corporate name"),
    Index("confname", "word", "Conference name"),
    Index("uniformtitle", "word", "Uniform title"),
    Index("keytitle", "word", "Key title"),
    Index("topical", "word", "Topical subject"),
    Index("geographic", "word", "Geographic name"),
    Index("genre", "word", "Genre/form"),
    Index("recid", "recid", "Record number (biblionumber)"),
    Index("allrecords", "allrecords", "All records"),
]}

# (tag, subfield codes or ALPHA, indexes fed). Tags may be listed several times.
_MARC21: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("020", "a", ("isbn", "identifier")),
    ("022", "a", ("issn", "identifier")),
    ("024", "a", ("identifier",)),
    ("041", "a", ("language",)),
    ("100", "abcdq", ("author", "name", "pname")),
    ("110", "abcd", ("author", "name", "cname")),
    ("111", "acdn", ("author", "name", "confname")),
    ("130", "adfklmnoprst", ("title", "uniformtitle")),
    ("210", "ab", ("title",)),
    ("222", "ab", ("title", "keytitle")),
    ("240", "adfklmnoprs", ("title", "uniformtitle")),
    ("242", "abnp", ("title",)),
    ("245", "abfgknps", ("title",)),
    ("246", "abfgnp", ("title",)),
    ("247", "abfgnp", ("title",)),
    ("260", "a", ("place",)),
    ("260", "b", ("publisher",)),
    ("264", "a", ("place",)),
    ("264", "b", ("publisher",)),
    ("336", "a", ("format",)),
    ("440", "anp", ("title",)),
    ("490", "a", ("title",)),
    ("520", "a", ("description",)),
    ("600", ALPHA, ("subject",)),
    ("600", "abcdq", ("name", "pname")),
    ("610", ALPHA, ("subject",)),
    ("610", "ab", ("name", "cname")),
    ("611", ALPHA, ("subject",)),
    ("611", "acdn", ("name", "confname")),
    ("630", ALPHA, ("subject",)),
    ("648", ALPHA, ("subject",)),
    ("650", ALPHA, ("subject", "topical")),
    ("651", ALPHA, ("subject", "geographic")),
    ("653", ALPHA, ("subject",)),
    ("655", ALPHA, ("subject", "genre")),
    ("690", ALPHA, ("subject",)),
    ("700", "abcdq", ("author", "name", "pname")),
    ("710", "abcd", ("author", "name", "cname")),
    ("711", "acdn", ("author", "name", "confname")),
    ("730", "adfklmnoprst", ("title", "uniformtitle")),
    ("740", "anp", ("title",)),
    ("830", "anp", ("title",)),
    ("942", "c", ("itemtype",)),
]
_MARC21 += [(tag, "a", ("note",)) for tag in ("500", "501", "502", "504", "505", "506", "508", "511", "515",
                                              "518", "521", "525", "530", "533", "534", "538", "546",
                                              "550", "555", "586", "590")]

_UNIMARC: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("010", "a", ("isbn", "identifier")),
    ("011", "a", ("issn", "identifier")),
    ("073", "a", ("identifier",)),
    ("101", "a", ("language",)),
    ("200", "aehi", ("title",)),
    ("200", "fg", ("author",)),
    ("200", "b", ("format",)),
    ("210", "a", ("place",)),
    ("210", "c", ("publisher",)),
    ("214", "a", ("place",)),
    ("214", "c", ("publisher",)),
    ("225", "a", ("title",)),
    ("330", "a", ("description",)),
    ("500", "a", ("title", "uniformtitle")),
    ("517", "a", ("title",)),
    ("518", "a", ("title",)),
    ("530", "a", ("title", "keytitle")),
    ("531", "a", ("title",)),
    ("532", "a", ("title",)),
    ("540", "a", ("title",)),
    ("541", "a", ("title",)),
    ("600", ALPHA, ("subject",)),
    ("600", "ab", ("name", "pname")),
    ("601", ALPHA, ("subject",)),
    ("601", "ab", ("name", "cname")),
    ("602", ALPHA, ("subject",)),
    ("604", ALPHA, ("subject",)),
    ("605", ALPHA, ("subject",)),
    ("606", ALPHA, ("subject", "topical")),
    ("607", ALPHA, ("subject", "geographic")),
    ("608", ALPHA, ("subject", "genre")),
    ("610", ALPHA, ("subject",)),
    ("700", "ab", ("author", "name", "pname")),
    ("701", "ab", ("author", "name", "pname")),
    ("702", "ab", ("author", "name", "pname")),
    ("710", "ab", ("author", "name", "cname")),
    ("711", "ab", ("author", "name", "cname")),
    ("712", "ab", ("author", "name", "cname")),
    ("099", "t", ("itemtype",)),
]
_UNIMARC += [(f"3{n:02d}", "a", ("note",)) for n in range(0, 38) if n != 30]


def _compile(spec):
    by_tag: dict[str, list[tuple[frozenset[str] | None, tuple[str, ...]]]] = {}
    for tag, codes, indexes in spec:
        by_tag.setdefault(tag, []).append((frozenset(codes) if codes else None, indexes))
    return by_tag


FIELDS = {"MARC21": _compile(_MARC21), "UNIMARC": _compile(_UNIMARC)}
# editors: MARC21 700 with relator editor; UNIMARC 702 with relator code 340
_EDITOR_TERMS = ("edt", "editor", "ed.", "ed", "340")


@dataclass
class Extract:
    """What one record contributes to the index."""

    fields: dict[str, list[str]]  # index -> field texts (words indexes)
    identifiers: dict[str, set[str]]
    numbers: dict[str, set[int]]
    title: str | None = None
    author: str | None = None
    year: int | None = None


def extract(record: pymarc.Record, flavour: str, items: list[dict] | None = None) -> Extract:
    """The index content of one record (and its items)."""
    by_tag = FIELDS["UNIMARC" if flavour == UNIMARC else "MARC21"]
    out = Extract({}, {}, {})
    any_texts = out.fields.setdefault("any", [])
    for field in record.fields:
        tag = field.tag
        if field.is_control_field():
            continue
        specs = by_tag.get(tag)
        alpha = [s for s in field.subfields if s.code and s.code.isalpha() and s.value]
        if "010" <= tag <= "899" and alpha and tag not in ("942", "099"):
            any_texts.append(" ".join(s.value for s in alpha))
        if not specs:
            continue
        for codes, indexes in specs:
            values = [s.value for s in alpha if codes is None or s.code in codes]
            if not values:
                continue
            text = " ".join(values)
            for name in indexes:
                kind = INDEXES[name].kind
                if kind == "identifier":
                    for value in values:
                        forms = normalize.isbn_forms(value) if name in ("isbn", "identifier") else \
                            [normalize.identifier(value)]
                        out.identifiers.setdefault(name, set()).update(f for f in forms if f)
                else:
                    out.fields.setdefault(name, []).append(text)
        if _is_editor(field, flavour):
            out.fields.setdefault("editor", []).append(" ".join(s.value for s in alpha if s.code in "ab"))
    _control_fields(record, flavour, out)
    for item in items or ():
        if item.get("barcode"):
            out.identifiers.setdefault("barcode", set()).add(normalize.identifier(str(item["barcode"])) or "")
        for column in ("homebranch", "holdingbranch"):
            if item.get(column):
                out.fields.setdefault("branch", []).append(str(item[column]))
        if item.get("itype"):
            out.fields.setdefault("itemtype", []).append(str(item["itype"]))
    for name in ("barcode",):
        out.identifiers.get(name, set()).discard("")
    out.title, out.author = _headings(record, flavour)
    dates = out.numbers.get("date")
    out.year = min(dates) if dates else None
    return out


def _is_editor(field: pymarc.Field, flavour: str) -> bool:
    tag = "702" if flavour == UNIMARC else "700"
    if field.tag != tag:
        return False
    relators = [s.value.strip().lower().rstrip(".,") for s in field.subfields if s.code in "e4" and s.value]
    return any(r in _EDITOR_TERMS or r.startswith("edit") for r in relators)


def _control_fields(record: pymarc.Record, flavour: str, out: Extract) -> None:
    """Dates (and MARC21 language) from coded and transcribed fields."""
    years: set[int] = set()
    date_texts: list[str] = []
    if flavour == UNIMARC:
        for field in record.get_fields("100"):
            if not field.is_control_field():
                for coded in field.get_subfields("a"):
                    years.update(normalize.years(coded[9:13]))
        for tag in ("210", "214"):
            for field in record.get_fields(tag):
                if not field.is_control_field():
                    date_texts.extend(field.get_subfields("d"))
    else:
        for field in record.get_fields("008"):
            data = field.data or "" if field.is_control_field() else ""
            years.update(normalize.years(data[7:11]))
            lang = data[35:38].strip()
            if len(lang) == 3 and lang.isalpha():
                out.fields.setdefault("language", []).append(lang)
        for tag in ("260", "264"):
            for field in record.get_fields(tag):
                if not field.is_control_field():
                    date_texts.extend(field.get_subfields("c"))
    for text in date_texts:
        years.update(normalize.years(text))
    if years:
        out.numbers["date"] = years
        out.fields.setdefault("date", []).extend(str(y) for y in sorted(years))


def _headings(record: pymarc.Record, flavour: str) -> tuple[str | None, str | None]:
    """Title (without non-filing characters) and main author, for sorting."""
    title = author = None
    if flavour == UNIMARC:
        for field in record.get_fields("200"):
            if not field.is_control_field():
                title = " ".join(field.get_subfields("a", "e")) or None
                break
        for tag in ("700", "710", "701", "200"):
            for field in record.get_fields(tag):
                if not field.is_control_field():
                    author = " ".join(field.get_subfields("a", "b") if tag != "200" else field.get_subfields("f"))
                    if author:
                        break
            if author:
                break
        return title, author or None
    for field in record.get_fields("245"):
        if not field.is_control_field():
            title = " ".join(field.get_subfields("a", "b")) or None
            skip = field.indicator2 if field.indicator2 and field.indicator2.isdigit() else "0"
            if title:
                title = title[int(skip):]
            break
    for tag in ("100", "110", "111", "700", "710"):
        for field in record.get_fields(tag):
            if not field.is_control_field():
                author = " ".join(field.get_subfields("a", "b")) or None
                if author:
                    break
        if author:
            break
    return title, author
