"""Links between bibliographic headings and authority records: the authid in the heading's $9.

- ``link_record``: Koha's linker (C4::Linker::Default, FirstMatch, LastMatch): a heading field
  without $9 is looked up by the exact normalised form of its heading subfields (C4::Heading's
  search form) among the authorities of its type, in the authorities index's ``heading``
  phrases; ``default`` links only a single match, ``first``/``last`` the first or last by authid.
- ``merge``: Koha's C4::AuthoritiesMarc::merge for one authority, run by kohaweb.authorities in
  the transaction that changes it. After an update, every linked heading is rewritten from the
  authority's heading field (AuthorityMergeMode ``loose``, Koha's default: the bibliographic
  subfields the authority does not control stay, before or after the controlled block as they
  were; ``strict``: only the authority's subfields); after a deletion, linked fields are removed,
  as Koha's merge does when there is no record to merge to. The records are changed through
  kohaweb.catalog (new datestamps, index re-derived); a record whose fields come out the same is
  not touched (Koha rewrites it anyway).

Linked records are found by their stored MARCXML (a ``$9`` subfield holding the authid), so the
link needs no table of its own and cannot drift from the records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pymarc
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import marc
from .models import Authority, Biblio, BiblioMetadata
from .preferences import get_preference
from .search import authority_index

# Koha's C4::Heading::MARC21 bib_heading_fields: bibliographic heading tag -> (authority type,
# heading subfields)
MARC21_HEADINGS: dict[str, tuple[str, str]] = {
    "100": ("PERSO_NAME", "abcdfghjklmnopqrst"), "110": ("CORPO_NAME", "abcdfghklmnoprst"),
    "111": ("MEETI_NAME", "acdfghjklnpqst"), "130": ("UNIF_TITLE", "adfghklmnoprst"),
    "600": ("PERSO_NAME", "abcdfghjklmnopqrstvxyz"), "610": ("CORPO_NAME", "abcdfghklmnoprstvxyz"),
    "611": ("MEETI_NAME", "acdfghjklnpqstvxyz"), "630": ("UNIF_TITLE", "adfghklmnoprstvxyz"),
    "648": ("CHRON_TERM", "avxyz"), "650": ("TOPIC_TERM", "abvxyz"), "651": ("GEOGR_NAME", "avxyz"),
    "655": ("GENRE/FORM", "avxyz"),
    "700": ("PERSO_NAME", "abcdfghjklmnopqrst"), "710": ("CORPO_NAME", "abcdfghklmnoprst"),
    "711": ("MEETI_NAME", "acdfghjklnpqst"), "730": ("UNIF_TITLE", "adfghklmnoprst"),
}
# UNIMARC: the bibliographic fields Koha's default UNIMARC framework controls by authority type
_UNIMARC_LETTERS = "abcdefghijklmnopqrstuvwxyz"
UNIMARC_HEADINGS: dict[str, tuple[str, str]] = {
    tag: (code, _UNIMARC_LETTERS) for tag, code in {
        "500": "TU", "600": "NP", "601": "CO", "602": "FAM", "604": "SAUTTIT", "605": "TU", "606": "SNC",
        "607": "SNG", "608": "GENRE/FORM", "700": "NP", "701": "NP", "702": "NP", "710": "CO", "711": "CO",
        "712": "CO", "716": "TM", "720": "FAM", "721": "FAM", "722": "FAM",
    }.items()}
HEADINGS = {marc.MARC21: MARC21_HEADINGS, marc.UNIMARC: UNIMARC_HEADINGS}
LINKERS = ("default", "first", "last")  # Koha's LinkerModule Default, FirstMatch, LastMatch


@dataclass
class Heading:
    tag: str
    authtype: str
    display: str  # the heading subfields as written
    form: str  # the normalised form compared with the authorities' headings


@dataclass
class LinkOutcome:
    """What linking did to one record's headings."""

    linked: list[tuple[Heading, int]] = field(default_factory=list)
    unmatched: list[Heading] = field(default_factory=list)
    multiple: list[tuple[Heading, list[int]]] = field(default_factory=list)
    already: int = 0  # headings that had a $9


def bib_heading(fld: pymarc.Field, flavour: str) -> Heading | None:
    """The controlled heading of a bibliographic field (None: the field is not one)."""
    spec = HEADINGS.get(flavour, MARC21_HEADINGS).get(fld.tag)
    if spec is None or fld.is_control_field():
        return None
    authtype, subfields = spec
    display = authority_index.field_text(fld, subfields)
    form = authority_index.match_form(display)
    return Heading(fld.tag, authtype, display, form) if form else None


def find_authorities(session: Session, heading: Heading) -> list[int]:
    """Authids whose heading has this exact normalised form and the heading's type, in order."""
    found = authority_index.STORE.docs(session, "heading=", [heading.form]).tolist()
    if not found:
        return []
    types = dict(session.execute(select(Authority.authid, Authority.authtypecode)
                                 .where(Authority.authid.in_(found))).all())
    return [a for a in found if types.get(a) == heading.authtype]


def link_record(session: Session, record: pymarc.Record, flavour: str, *, linker: str = "default",
                cache: dict | None = None) -> LinkOutcome:
    """Add $9 to the record's unlinked headings that match an authority (the record is changed
    in place; the caller stores it)."""
    if linker not in LINKERS:
        raise ValueError(f"unknown linker {linker!r}; one of {', '.join(LINKERS)}")
    outcome = LinkOutcome()
    for fld in record.fields:
        heading = bib_heading(fld, flavour)
        if heading is None:
            continue
        if fld.get_subfields("9"):
            outcome.already += 1
            continue
        key = (heading.authtype, heading.form)
        matches = cache.get(key) if cache is not None else None
        if matches is None:
            matches = find_authorities(session, heading)
            if cache is not None:
                cache[key] = matches
        if not matches:
            outcome.unmatched.append(heading)
            continue
        if len(matches) > 1 and linker == "default":
            outcome.multiple.append((heading, matches))
            continue
        authid = matches[-1] if linker == "last" else matches[0]
        fld.add_subfield("9", str(authid))
        outcome.linked.append((heading, authid))
    return outcome


# --- merge: what an authority change does to the records that link to it --------------------------

def linked_biblionumbers(session: Session, authid: int) -> list[int]:
    """Records holding a $9 with this authid (found in their stored MARCXML, then checked)."""
    pattern = f'%code="9">{int(authid)}<%'
    rows = session.execute(select(BiblioMetadata.biblionumber, BiblioMetadata.metadata_xml)
                           .where(BiblioMetadata.metadata_xml.like(pattern))
                           .order_by(BiblioMetadata.biblionumber))
    out = []
    for number, xml in rows:
        try:
            record = marc.parse_xml(xml)
        except (ValueError, KeyError):
            continue
        if any(str(authid) in f.get_subfields("9") for f in record.fields if not f.is_control_field()):
            out.append(number)
    return out


def _heading_subfields(record: pymarc.Record | None, flavour: str) -> list[pymarc.Subfield]:
    from .authorities import heading_field

    if record is None:
        return []
    fld = heading_field(record, flavour)
    return [s for s in fld.subfields if s.code != "9"] if fld is not None else []


def merged_field(fld: pymarc.Field, authid: int, controlled: list[pymarc.Subfield], skip: set[str],
                 strict: bool) -> pymarc.Field:
    """A linked field rewritten from the authority's heading subfields (Koha's merge)."""
    prefix: list[pymarc.Subfield] = []
    postfix: list[pymarc.Subfield] = []
    if not strict:
        before = True
        for sub in fld.subfields:
            if sub.code == "9":
                continue
            if sub.code in skip:
                before = False
                continue
            (prefix if before else postfix).append(pymarc.Subfield(sub.code, sub.value))
    subfields = prefix + [pymarc.Subfield(s.code, s.value) for s in controlled] + postfix
    subfields.append(pymarc.Subfield("9", str(authid)))
    return pymarc.Field(tag=fld.tag, indicators=pymarc.Indicators(*fld.indicators), subfields=subfields)


def merge(session: Session, authid: int, old: pymarc.Record | None, new: pymarc.Record | None,
          flavour: str, *, authtypecode: str | None = None, biblionumbers: Iterable[int] | None = None) -> int:
    """Rewrite (``new`` given) or remove (``new`` None: the authority was deleted) the headings
    linked to ``authid`` in the fields its type controls (``authtypecode``; every heading field
    when None or empty); returns how many records changed. An update that leaves the heading
    field's subfields as they were changes nothing and reads no record."""
    from .catalog import Catalog

    if new is not None and old is not None and _heading_subfields(old, flavour) == _heading_subfields(new, flavour):
        return 0
    numbers = list(biblionumbers) if biblionumbers is not None else linked_biblionumbers(session, authid)
    if not numbers:
        return 0
    strict = (get_preference(session, "AuthorityMergeMode", "loose") or "loose").lower() == "strict"
    record_from = _heading_subfields(old, flavour)
    record_to = _heading_subfields(new, flavour)
    if new is not None and not record_to:
        record_to = [pymarc.Subfield("a", " ")]  # Koha: keep $a and $9 so the link can be recovered
    skip = {s.code for s in record_from + record_to}
    changed = 0
    for number in numbers:
        biblio = session.get(Biblio, number)
        if biblio is None:
            continue
        catalog = Catalog(session, biblio.flavour)
        record = catalog.marc(number)
        before = marc.record_to_xml(record)
        seen = 0
        kept = []
        for fld in record.fields:
            spec = HEADINGS.get(biblio.flavour, MARC21_HEADINGS).get(fld.tag)
            if (fld.is_control_field() or str(authid) not in fld.get_subfields("9")[:1] or spec is None
                    or (authtypecode and spec[0] != authtypecode)):
                kept.append(fld)
                continue
            seen += 1
            if new is not None and not (strict and seen > 1):
                kept.append(merged_field(fld, authid, record_to, skip, strict))
        record.fields = kept
        if marc.record_to_xml(record) != before:
            catalog.update_record(number, record)
            changed += 1
    return changed
