"""The fields of Koha's biblio object that Koha keeps in biblioitems (publication_year, pages,
edition...) and kohaweb reads from the stored MARC record, with the framework mappings of
Koha's default MARC21 and UNIMARC frameworks."""

from __future__ import annotations

import re
from typing import Any

from ... import marc

# API field -> (MARC21 tag, subfield), (UNIMARC tag, subfield); alternatives in order
MAPPINGS: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "medium": ((("245", "h"),), (("200", "b"),)),
    "part_number": ((("245", "n"),), (("200", "h"),)),
    "part_name": ((("245", "p"),), (("200", "i"),)),
    "title_remainder": ((("245", "b"),), (("200", "e"),)),
    "uniform_title": ((("240", "a"), ("130", "a")), (("500", "a"),)),
    "edition_statement": ((("250", "a"),), (("205", "a"),)),
    "publication_place": ((("264", "a"), ("260", "a")), (("210", "a"), ("214", "a"))),
    "pages": ((("300", "a"),), (("215", "a"),)),
    "illustrations": ((("300", "b"),), (("215", "c"),)),
    "size": ((("300", "c"),), (("215", "d"),)),
    "series_title": ((("490", "a"), ("830", "a")), (("225", "a"),)),
    "notes": ((("500", "a"),), (("300", "a"),)),
    "abstract": ((("520", "a"),), (("330", "a"),)),
    "lc_control_number": ((("010", "a"),), ()),
    "ean": ((("024", "a"),), (("073", "a"),)),
    "url": ((("856", "u"),), (("856", "u"),)),
    "cn_class": ((("082", "a"), ("050", "a")), (("676", "a"), ("686", "a"))),
}
STRING_OR_NULL = {"type": ["string", "null"]}
SCHEMA: dict[str, Any] = {name: STRING_OR_NULL for name in MAPPINGS}
SCHEMA["publication_year"] = {"type": ["integer", "null"]}


def _first(record, places: tuple[tuple[str, str], ...]) -> str | None:
    for tag, code in places:
        for field in record.get_fields(tag):
            if field.is_control_field():
                continue
            values = field.get_subfields(code)
            if values and values[0].strip():
                return marc.strip_punctuation(values[0].strip()) or values[0].strip()
    return None


def _publication_year(record, flavour: str) -> int | None:
    if flavour == marc.UNIMARC:
        coded = [f for f in record.get_fields("100") if not f.is_control_field()]
        text = (coded[0].get_subfields("a") or [""])[0][9:13] if coded else ""
    else:
        fixed = [f for f in record.get_fields("008") if f.is_control_field()]
        text = (fixed[0].data or "")[7:11] if fixed else ""
    if re.fullmatch(r"\d{4}", text or ""):
        return int(text)
    found = re.search(r"\d{4}", _first(record, (("264", "c"), ("260", "c"), ("210", "d"))) or "")
    return int(found.group()) if found else None


def marc_fields(row: Any) -> dict[str, Any]:
    """The biblioitems fields of ``row`` (a Biblio or DeletedBiblio with its metadata row)."""
    empty = {name: None for name in SCHEMA}
    if hasattr(row, "metadata_row"):
        metadata = row.metadata_row
    else:  # a deleted record: its MARC is in deletedbiblio_metadata
        from sqlalchemy.orm import object_session

        from ...models import DeletedBiblioMetadata

        session = object_session(row)
        metadata = session.get(DeletedBiblioMetadata, row.biblionumber) if session is not None else None
    if metadata is None or not metadata.metadata_xml:
        return empty
    try:
        record = marc.parse_xml(metadata.metadata_xml)
    except Exception:  # noqa: BLE001  (a broken stored record leaves these fields empty, not a 500)
        return empty
    unimarc = row.flavour == marc.UNIMARC
    values = {name: _first(record, places[1] if unimarc else places[0]) for name, places in MAPPINGS.items()}
    values["publication_year"] = _publication_year(record, row.flavour)
    return values
