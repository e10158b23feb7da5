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

from .. import marc
from ..marc import UNIMARC
from . import normalize

ALPHA = None  # every alphabetic subfield


@dataclass(frozen=True)
class Index:
    name: str
    kind: str  # word | number | identifier | recid | allrecords
    title: str
    use: int | None = None  # Koha's bib-1 use attribute for this index (pqf.properties / bib1.att)


INDEXES: dict[str, Index] = {i.name: i for i in [
    Index("any", "word", "Any (every field, local 9XX ones included)", 1016),
    Index("title", "word", "Title", 4),
    Index("author", "word", "Author", 1003),
    Index("subject", "word", "Subject", 21),
    Index("identifier", "identifier", "Standard identifier (LCCN, ISBN, ISSN, other numbers)", 1007),
    Index("lccn", "identifier", "LC card number", 9),
    Index("controlnumber", "identifier", "Control number (001)", 9001),
    Index("isbn", "identifier", "ISBN", 7),
    Index("issn", "identifier", "ISSN", 8),
    Index("date", "number", "Copyright/publication date as transcribed (Koha's copydate)", 30),
    Index("pubdate", "number", "Date of publication, coded (Koha's pubdate)", 31),
    Index("publisher", "word", "Publisher", 1018),
    Index("place", "word", "Place of publication", 59),
    Index("description", "word", "Abstract", 62),
    Index("note", "word", "Note", 63),
    Index("itemtype", "word", "Item type", 1031),
    Index("barcode", "identifier", "Item barcode", 1028),
    Index("branch", "word", "Library (home or holding branch code)", 1033),
    Index("language", "word", "Language code", 54),
    Index("format", "word", "Content type", 1034),
    Index("editor", "word", "Editor", 1020),
    Index("name", "word", "Name (any personal, corporate or conference name)", 1002),
    Index("pname", "word", "Personal name", 1),
    Index("cname", "word", "Corporate name", 2),
    Index("confname", "word", "Conference name", 3),
    Index("uniformtitle", "word", "Uniform title", 6),
    Index("keytitle", "word", "Key title", 33),
    Index("seriestitle", "word", "Series title", 5),
    Index("topical", "word", "Topical subject", 1079),
    Index("geographic", "word", "Geographic name", 58),
    Index("genre", "word", "Genre/form", 1075),
    Index("recid", "recid", "Record number (biblionumber)", 12),
    Index("allrecords", "allrecords", "All records"),
]}

# (tag, subfield codes or ALPHA, indexes fed). Tags may be listed several times. Written from the
# fields Koha's MARC21 Zebra index definitions send to each index (a whole field: every
# alphabetic subfield). "any" is not listed: every data field feeds it.
_WHOLE_TITLE = ("130", "210", "211", "212", "214", "222", "240", "243", "245", "246", "247", "440", "730",
                "740", "780", "785", "830", "840")
_MARC21: list[tuple[str, str | None, tuple[str, ...]]] = [
    *((tag, ALPHA, ("identifier",)) for tag in ("015", "017", "018", "023", "025", "027", "028", "030", "037")),
    ("010", ALPHA, ("lccn", "identifier")),
    ("011", ALPHA, ("lccn", "identifier")),
    ("020", "a", ("isbn",)),
    ("020", ALPHA, ("identifier",)),
    ("022", "a", ("issn",)),
    ("022", ALPHA, ("identifier",)),
    ("024", ALPHA, ("identifier",)),
    ("041", "adej", ("language",)),
    ("100", ALPHA, ("author", "name", "pname")),
    ("100", "a", ("editor",)),
    ("110", ALPHA, ("author", "name", "cname")),
    ("111", ALPHA, ("author", "name", "confname")),
    *((tag, ALPHA, ("title",)) for tag in _WHOLE_TITLE),
    ("130", ALPHA, ("uniformtitle",)),
    ("240", ALPHA, ("uniformtitle",)),
    ("730", ALPHA, ("uniformtitle",)),
    ("222", ALPHA, ("keytitle",)),
    ("245", "c", ("author",)),
    ("260", "a", ("place",)),
    ("260", "b", ("publisher",)),
    ("264", "a", ("place",)),
    ("264", "b", ("publisher",)),
    ("336", "a", ("format",)),
    ("400", ALPHA, ("author", "name", "pname")),
    ("410", ALPHA, ("author", "name", "cname")),
    ("411", ALPHA, ("author", "name", "confname")),
    ("400", "t", ("title", "seriestitle")),
    ("410", "t", ("title", "seriestitle")),
    ("411", "t", ("seriestitle",)),
    ("440", ALPHA, ("seriestitle",)),
    ("490", ALPHA, ("title", "seriestitle")),
    ("500", ALPHA, ("note",)),
    ("505", ALPHA, ("note",)),
    ("505", "t", ("title",)),
    ("505", "r", ("author",)),
    ("520", ALPHA, ("description",)),
    ("590", ALPHA, ("note",)),
    ("600", ALPHA, ("subject", "name", "pname")),
    ("600", "t", ("title",)),
    ("610", ALPHA, ("subject", "name", "cname")),
    ("610", "t", ("title",)),
    ("611", ALPHA, ("subject", "name", "confname")),
    ("611", "t", ("title",)),
    *((tag, ALPHA, ("subject",)) for tag in ("630", "653", "654", "656", "657", "658", "690")),
    ("650", ALPHA, ("subject", "topical")),
    ("651", ALPHA, ("subject", "geographic")),
    ("655", ALPHA, ("subject", "genre")),
    ("700", ALPHA, ("author", "name", "pname", "editor")),
    ("710", ALPHA, ("author", "name", "cname")),
    ("711", ALPHA, ("author", "name", "confname")),
    *((tag, "t", ("title",)) for tag in ("700", "710", "711", "800", "810", "811")),
    ("800", ALPHA, ("author", "name", "pname")),
    ("810", ALPHA, ("author", "name", "cname")),
    ("811", ALPHA, ("author", "name", "confname")),
    *((tag, "at", ("seriestitle",)) for tag in ("800", "810", "811")),
    ("830", ALPHA, ("seriestitle",)),
    ("840", ALPHA, ("seriestitle",)),
    ("942", "c", ("itemtype",)),
    ("952", "z", ("note",)),
]
# UNIMARC, from Koha's UNIMARC definitions in the same way.
_UNIMARC_4XX_TITLES = ("413", "421", "422", "423", "424", "425", *(str(n) for n in range(430, 438)),
                       *(str(n) for n in range(440, 449)), *(str(n) for n in range(451, 457)),
                       "461", "462", "463", "464", "470", "481", "482", "488")
_UNIMARC_5XX_TITLES = ("500", "501", "503", "510", *(str(n) for n in range(512, 521)), "530", "531", "532",
                       "540", "541", "545", "560")
_UNIMARC_NOTES = (*(f"3{n:02d}" for n in range(0, 18) if n != 9), *(str(n) for n in range(320, 327)),
                  "330", "332", "333", "334", "336", "337", "345")
_UNIMARC: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("010", "az", ("isbn", "identifier")),
    ("011", "ayz", ("issn", "identifier")),
    ("011", "fg", ("identifier",)),
    ("012", "a", ("identifier",)),
    *((tag, "az", ("identifier",)) for tag in ("013", "014", "015", "016", "017", "040", "071", "072", "073")),
    ("071", "b", ("publisher",)),
    ("101", "a", ("language",)),
    ("200", "aeicd", ("title",)),
    ("200", "fg", ("author",)),
    ("200", "b", ("itemtype", "format")),
    ("205", ALPHA, ("title",)),
    ("210", "a", ("place",)),
    ("210", "c", ("publisher",)),
    ("214", "a", ("place",)),
    ("214", "c", ("publisher",)),
    ("225", "adehiv", ("seriestitle",)),
    ("225", "f", ("author",)),
    ("225", "x", ("issn",)),
    *((tag, "a", ("note",)) for tag in _UNIMARC_NOTES),
    ("304", "a", ("title",)),
    ("314", "a", ("author",)),
    ("327", "abcdefghi", ("note", "title")),
    ("328", "abcde", ("note",)),
    ("328", "t", ("note", "title")),
    ("330", "a", ("description",)),
    ("410", "t", ("seriestitle",)),
    *((tag, "t", ("title",)) for tag in _UNIMARC_4XX_TITLES),
    *((tag, ALPHA, ("title",)) for tag in _UNIMARC_5XX_TITLES),
    ("500", ALPHA, ("uniformtitle",)),
    ("530", ALPHA, ("keytitle",)),
    *((tag, ALPHA, ("subject",)) for tag in ("600", "601", "602", "604", "605", "606", "607", "608", "610",
                                             "615", "616", "617", "620", "621")),
    ("600", "a", ("name", "pname")),
    ("602", "a", ("name", "pname")),
    ("601", "a", ("name", "cname", "confname")),
    ("606", ALPHA, ("topical",)),
    ("607", ALPHA, ("geographic",)),
    ("608", ALPHA, ("genre",)),
    *((tag, ALPHA, ("author", "name", "pname")) for tag in ("700", "701", "702")),
    *((tag, ALPHA, ("author", "name", "cname", "confname")) for tag in ("710", "711", "712")),
    *((tag, ALPHA, ("author",)) for tag in ("716", "720", "721", "722", "730")),
    ("995", "r", ("itemtype",)),
    ("995", "u", ("note",)),
]


def _compile(spec):
    by_tag: dict[str, list[tuple[frozenset[str] | None, tuple[str, ...]]]] = {}
    for tag, codes, indexes in spec:
        by_tag.setdefault(tag, []).append((frozenset(codes) if codes else None, indexes))
    return by_tag


FIELDS = {"MARC21": _compile(_MARC21), "UNIMARC": _compile(_UNIMARC)}
_IDENTIFIER_INDEXES = frozenset(name for name, index in INDEXES.items() if index.kind == "identifier")
# UNIMARC editors: 702 with relator code 340 (MARC21 follows Koha: 100 $a and every 700)
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
    unimarc = flavour == UNIMARC
    by_tag = FIELDS["UNIMARC" if unimarc else "MARC21"]
    out = Extract({}, {}, {})
    any_texts = out.fields.setdefault("any", [])
    for field in record.fields:
        tag = field.tag
        if field.is_control_field():
            continue
        # subfields are (code, value) tuples: indexed rather than by name, in list
        # comprehensions rather than generators (this runs for every field of every record)
        alpha = [s for s in field.subfields if s[0] and s[0].isalpha() and s[1]]
        whole = " ".join([s[1] for s in alpha])
        if alpha:  # as Koha's Any: every data field, local (9XX) ones included
            any_texts.append(whole)
        for codes, indexes in by_tag.get(_linked_tag(field) if tag == "880" else tag, ()):
            if codes is None:  # the whole field: the text just made
                if not alpha:
                    continue
                values = [s[1] for s in alpha]
                text = whole
            else:
                values = [s[1] for s in alpha if s[0] in codes]
                if not values:
                    continue
                text = " ".join(values)
            for name in indexes:
                if name in _IDENTIFIER_INDEXES:
                    for value in values:
                        forms = normalize.isbn_forms(value) if name in ("isbn", "identifier") else \
                            [normalize.identifier(value)]
                        out.identifiers.setdefault(name, set()).update(f for f in forms if f)
                else:
                    out.fields.setdefault(name, []).append(text)
        if unimarc and _is_editor(field):
            out.fields.setdefault("editor", []).append(" ".join(s.value for s in alpha if s.code in "ab"))
    tagged = marc.TagIndex(record)  # the lookups below, without a pass over every field each
    _control_fields(tagged, flavour, out)
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
    out.title, out.author = _headings(tagged, flavour)
    # sorting by date: the coded year (Koha sorts on pubdate), else the transcribed one
    dates = out.numbers.get("pubdate") or out.numbers.get("date")
    out.year = min(dates) if dates else None
    return out


def _linked_tag(field: pymarc.Field) -> str:
    """The tag an 880 (alternate graphic representation) field stands for, from its $6 ("245-01/$1"):
    the vernacular title, author... then feed the same indexes as their romanised field (Koha's
    definitions leave 880 to Any only, so a title in its own script is not a title there)."""
    for link in field.get_subfields("6"):
        tag = link.strip()[:3]
        if tag.isdigit() and tag != "880":
            return tag
    return "880"


def _is_editor(field: pymarc.Field) -> bool:
    """UNIMARC 702 with an editor's relator code."""
    if field.tag != "702":
        return False
    relators = [s.value.strip().lower().rstrip(".,") for s in field.subfields if s.code in "e4" and s.value]
    return any(r in _EDITOR_TERMS or r.startswith("edit") for r in relators)


def _control_fields(record: marc.TagIndex, flavour: str, out: Extract) -> None:
    """Dates and identifiers from control fields: the coded year (008/07-10, UNIMARC 100$a/9-12) is
    ``pubdate`` (Koha's bib-1 use 31); the transcribed date (260/264 $c, UNIMARC 210/214 $d) is
    ``date`` (Koha's copydate, use 30, which CQL's dc.date means); 001 is the control number."""
    coded: set[int] = set()
    transcribed: list[str] = []
    for field in record.get_fields("001"):
        if field.is_control_field() and field.data and field.data.strip():
            value = normalize.identifier(field.data)
            if value:
                out.identifiers.setdefault("controlnumber", set()).add(value)
    if flavour == UNIMARC:
        for field in record.get_fields("100"):
            if not field.is_control_field():
                for data in field.get_subfields("a"):
                    coded.update(normalize.years(data[9:13]) + normalize.years(data[13:17]))
        for tag in ("210", "214"):
            for field in record.get_fields(tag):
                if not field.is_control_field():
                    transcribed.extend(field.get_subfields("d"))
    else:
        for field in record.get_fields("008"):
            data = field.data or "" if field.is_control_field() else ""
            coded.update(normalize.years(data[7:11]))
            lang = data[35:38].strip()
            if len(lang) == 3 and lang.isalpha():
                out.fields.setdefault("language", []).append(lang)
        for tag in ("260", "264"):
            for field in record.get_fields(tag):
                if not field.is_control_field():
                    transcribed.extend(field.get_subfields("c"))
    years = {y for text in transcribed for y in normalize.years(text)}
    for name, found in (("date", years), ("pubdate", coded)):
        if found:
            out.numbers[name] = found
            out.fields.setdefault(name, []).extend(str(y) for y in sorted(found))


def _headings(record: marc.TagIndex, flavour: str) -> tuple[str | None, str | None]:
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
