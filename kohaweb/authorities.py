"""Authority records (Koha's auth_header): the only writer of authorities.

Each write does what Koha's ``AddAuthority`` does to the record before it is stored: the
authority type is guessed from the heading tag when not given (``GuessAuthTypeCode``: MARC21 1XX,
UNIMARC 2XX), written to its default location (MARC21 942$a, UNIMARC 152$b), 005 gets the time of
the change and 001 the authid. The displayed heading is kept in ``auth_header.heading``.

Ids come from the ``authority`` counter of ``kohaweb.ids`` (never handed out again, even after a
deletion); a deleted authority moves to ``deletedauth_header`` with leader/05 set to d, as recent
Koha's ``Koha::Authority->move_to_deleted`` does (older Koha only deleted the row), and as a
deleted record moves to ``deletedbiblio``.

Every write keeps the authorities search index (kohaweb.search.authority_index) in step, and an
update or deletion rewrites or removes the bibliographic headings linked to the authority
(kohaweb.authority_links.merge, Koha's merge), all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pymarc
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import authority_links, ids, marc
from .models import Authority, DeletedAuthority, utcnow
from .search import authority_index

# Koha's GuessAuthTypeCode (C4::AuthoritiesMarc): heading tag -> authority type code
AUTH_TYPES: dict[str, dict[str, str]] = {
    marc.MARC21: {
        "100": "PERSO_NAME", "110": "CORPO_NAME", "111": "MEETI_NAME", "130": "UNIF_TITLE",
        "147": "NAME_EVENT", "148": "CHRON_TERM", "150": "TOPIC_TERM", "151": "GEOGR_NAME",
        "155": "GENRE/FORM", "162": "MED_PERFRM", "180": "GEN_SUBDIV", "181": "GEO_SUBDIV",
        "182": "CHRON_SUBD", "185": "FORM_SUBD",
    },
    marc.UNIMARC: {
        "200": "NP", "210": "CO", "215": "SNG", "216": "TM", "220": "FAM", "230": "TU",
        "235": "CO_UNI_TI", "240": "SAUTTIT", "245": "NAME_COL", "250": "SNC", "260": "PA",
        "280": "GENRE/FORM",
    },
}

# Koha's default_auth_type_location (C4::AuthoritiesMarc::MARC21 / ::UNIMARC)
TYPE_LOCATION = {marc.MARC21: ("942", "a"), marc.UNIMARC: ("152", "b")}

# subdivisions of a heading, shown after "--" as Koha's C4::Heading display form does
_SUBDIVISIONS = {marc.MARC21: set("vxyz"), marc.UNIMARC: set("jxyz")}
# subfields that are not part of the heading's text (links, sources, control)
_NOT_TEXT = set("0123456789")

# leader/06 of MARC21 holdings records; x and y are UNIMARC authorities too
HOLDINGS = set("uvxy")

# UNIMARC 100$a general processing data starts with the date entered on file (YYYYMMDD)
_UNIMARC_100A = re.compile(r"^\d{8}")


class AuthorityError(ValueError):
    """An authority that cannot be written; ``code`` names the problem for API errors."""

    def __init__(self, message: str, code: str = "invalid_record"):
        super().__init__(message)
        self.code = code


def record_type(record: pymarc.Record) -> str:
    """leader/06 of a record ('' when the leader is too short)."""
    return str(record.leader)[6:7]


def looks_unimarc(record: pymarc.Record) -> bool:
    """Whether an authority record is UNIMARC: a 2XX heading and a coded 100$a (a MARC21
    authority's 100 is a personal name)."""
    tags = {f.tag for f in record.fields}
    if not tags & set(AUTH_TYPES[marc.UNIMARC]):
        return False
    return any(_UNIMARC_100A.match(v) for v in marc.all_values(record, "100", "a"))


def is_authority(record: pymarc.Record, flavour: str | None = None) -> bool:
    """Whether a record is an authority by its leader/06: z in MARC21 and UNIMARC, and x or y in
    UNIMARC (where MARC21 uses them for holdings)."""
    kind = record_type(record)
    if kind == "z":
        return True
    if kind in ("x", "y"):
        return flavour == marc.UNIMARC or (flavour is None and looks_unimarc(record))
    return False


def detect_flavour(record: pymarc.Record, default: str = marc.MARC21) -> str:
    """MARC21 or UNIMARC for an authority record."""
    if looks_unimarc(record):
        return marc.UNIMARC
    tags = {f.tag for f in record.fields}
    if tags & set(AUTH_TYPES[marc.MARC21]):
        return marc.MARC21
    return default


def guess_type(record: pymarc.Record, flavour: str) -> str:
    """The authority type of a record from its heading tag, as Koha's GuessAuthTypeCode ('' when
    the record has none). Koha takes the first tag of a Perl hash, in no set order; the lowest
    tag is taken here, so the answer does not change between runs."""
    tags = {f.tag for f in record.fields}
    for tag, code in sorted(AUTH_TYPES.get(flavour, {}).items()):
        if tag in tags:
            return code
    return ""


def heading_field(record: pymarc.Record, flavour: str) -> pymarc.Field | None:
    """The authorised heading field (the first 1XX / UNIMARC 2XX of the known heading tags)."""
    for field in record.fields:
        if field.tag in AUTH_TYPES.get(flavour, {}) and not field.is_control_field():
            return field
    return None


def heading(record: pymarc.Record, flavour: str) -> str | None:
    """The heading as displayed: its subfields joined by spaces, subdivisions after "--"."""
    field = heading_field(record, flavour)
    if field is None:
        return None
    text = ""
    for sub in field.subfields:
        value = (sub.value or "").strip()
        if not value or sub.code in _NOT_TEXT:
            continue
        if sub.code in _SUBDIVISIONS.get(flavour, set()) and text:
            text += "--" + value
        else:
            text += (" " if text else "") + value
    return text or None


def _prepare(record: pymarc.Record, authid: int, flavour: str, authtypecode: str) -> str:
    """The record as Koha's AddAuthority stores it: 005 now, the type at its location, 001 the
    authid; returned as MARCXML."""
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S") + ".0"  # Koha writes local time here
    fields_005 = record.get_fields("005")
    if fields_005:
        fields_005[0].data = stamp
    else:
        _insert_ordered(record, pymarc.Field(tag="005", data=stamp))
    if authtypecode:  # Koha would write an empty $a too; an untyped record is left as it came
        tag, code = TYPE_LOCATION[flavour]
        located = [f for f in record.get_fields(tag) if not f.is_control_field()]
        if located:
            field = located[0]  # MARC::Field->update: the first such subfield, else a new one
            index = next((i for i, sub in enumerate(field.subfields) if sub.code == code), None)
            if index is None:
                field.add_subfield(code, authtypecode)
            else:
                field.subfields[index] = pymarc.Subfield(code, authtypecode)
        else:
            record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "),
                                          subfields=[pymarc.Subfield(code, authtypecode)]))
    record.remove_fields("001")
    _insert_ordered(record, pymarc.Field(tag="001", data=str(authid)))
    return marc.record_to_xml(record).decode("utf-8")


def _insert_ordered(record: pymarc.Record, field: pymarc.Field) -> None:
    """MARC::Record's insert_fields_ordered: before the first field with a greater tag."""
    for index, existing in enumerate(record.fields):
        if existing.tag > field.tag:
            record.fields.insert(index, field)
            return
    record.fields.append(field)


def _as_record(record: pymarc.Record | str | bytes) -> pymarc.Record:
    if isinstance(record, pymarc.Record):
        return record
    try:
        return marc.read_one(record.encode("utf-8") if isinstance(record, str) else record)
    except marc.MarcError as exc:
        raise AuthorityError(f"Invalid MARC record: {exc}") from None


@dataclass
class PreparedAuthority:
    """An authority record read by ``kohaweb import`` (numbered when stored)."""

    position: int
    flavour: str
    authtypecode: str
    marcxml: str


class Authorities:
    """Add, update and delete authority records in ``session`` (the caller commits)."""

    def __init__(self, session: Session, flavour: str = marc.MARC21):
        self.session = session
        self.flavour = flavour

    def get(self, authid: int) -> Authority | None:
        return self.session.get(Authority, authid)

    def require(self, authid: int) -> Authority:
        row = self.get(authid)
        if row is None:
            raise AuthorityError(f"authority {authid} not found", "not_found")
        return row

    def _flavour(self, record: pymarc.Record, flavour: str | None) -> str:
        flavour = flavour or detect_flavour(record, self.flavour)
        if flavour not in TYPE_LOCATION:
            raise AuthorityError(f"unknown MARC flavour {flavour!r}")
        return flavour

    def add(self, record: pymarc.Record | str | bytes, *, authtypecode: str | None = None,
            flavour: str | None = None, origincode: str | None = None) -> Authority:
        """Store a new authority; the type is guessed from the heading when not given."""
        record = _as_record(record)
        flavour = self._flavour(record, flavour)
        code = authtypecode if authtypecode is not None else guess_type(record, flavour)
        _check_code(code)
        authid = ids.allocate(self.session, "authority")[0]
        now = utcnow()
        row = Authority(authid=authid, authtypecode=code, datecreated=now, modification_time=now,
                        origincode=origincode, heading=heading(record, flavour), flavour=flavour,
                        marcxml=_prepare(record, authid, flavour, code))
        self.session.add(row)
        self.session.flush()
        authority_index.index_authority(self.session, authid, record, flavour, code)
        return row

    def update(self, authid: int, record: pymarc.Record | str | bytes, *,
               authtypecode: str | None = None, flavour: str | None = None, merge: bool = True) -> Authority:
        """Replace an authority's record; the type stays unless given (as Koha's REST update).
        The bibliographic headings linked to it ($9) are rewritten from its new heading in the
        same transaction (Koha's merge; ``merge=False`` is Koha's skip_merge)."""
        row = self.require(authid)
        old = _stored_record(row) if merge else None
        record = _as_record(record)
        flavour = self._flavour(record, flavour or row.flavour)
        code = authtypecode if authtypecode is not None else row.authtypecode
        _check_code(code)
        row.authtypecode, row.flavour, row.heading = code, flavour, heading(record, flavour)
        row.marcxml = _prepare(record, authid, flavour, code)
        row.modification_time = utcnow()
        self.session.flush()
        authority_index.index_authority(self.session, authid, record, flavour, code)
        if merge:
            authority_links.merge(self.session, authid, old, record, flavour, authtypecode=code)
        return row

    def delete(self, authid: int, *, merge: bool = True) -> DeletedAuthority:
        """Move an authority to deletedauth_header, its leader/05 set to d (deleted). As Koha's
        merge without a target, the bibliographic fields linked to it are removed
        (``merge=False``: left as they are, $9 included)."""
        row = self.require(authid)
        old = _stored_record(row) if merge else None
        values = {c.key: getattr(row, c.key) for c in Authority.__table__.columns}
        now = utcnow()
        values["modification_time"] = now
        try:
            record = marc.parse_xml(row.marcxml)
            leader = str(record.leader)
            record.leader = pymarc.Leader(leader[:5] + "d" + leader[6:])
            values["marcxml"] = marc.record_to_xml(record).decode("utf-8")
        except (ValueError, KeyError):
            pass  # a damaged stored record is kept as it was rather than blocking the deletion
        self.session.delete(row)
        self.session.flush()
        deleted = DeletedAuthority(deleted_on=now, **values)
        self.session.add(deleted)
        self.session.flush()
        authority_index.remove_authority(self.session, authid)
        if merge:
            authority_links.merge(self.session, authid, old, None, deleted.flavour, authtypecode=deleted.authtypecode)
        return deleted

    def add_prepared(self, prepared: list[PreparedAuthority]) -> list[int]:
        """Store the authority records of an import batch in bulk; returns their authids."""
        if not prepared:
            return []
        numbers = ids.allocate(self.session, "authority", len(prepared))
        now = utcnow()
        rows = []
        entries = {}
        for item, authid in zip(prepared, numbers, strict=True):
            _check_code(item.authtypecode)
            record = marc.parse_xml(item.marcxml)
            rows.append({"authid": authid, "authtypecode": item.authtypecode, "datecreated": now,
                         "modification_time": now, "origincode": None, "authtrees": None, "linkid": None,
                         "heading": heading(record, item.flavour), "flavour": item.flavour,
                         "marcxml": _prepare(record, authid, item.flavour, item.authtypecode)})
            entries[authid] = authority_index.entry_for(record, item.flavour, item.authtypecode)
        self.session.flush()
        self.session.execute(insert(Authority), rows)
        authority_index.apply(self.session, entries)
        return list(numbers)

    def iter_authorities(self, batch: int = 500) -> Iterator[Authority]:
        """Every authority in authid order, read ``batch`` rows at a time (memory stays flat)."""
        last = 0
        while True:
            rows = self.session.scalars(select(Authority).where(Authority.authid > last)
                                        .order_by(Authority.authid).limit(batch)).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].authid
            self.session.expunge_all()


def prepare_authority(position: int, record: pymarc.Record, flavour: str | None,
                      default: str = marc.MARC21) -> PreparedAuthority:
    """An authority read from a file, typed as Koha's import types it (bulkmarcimport:
    GuessAuthTypeCode), ready for ``Authorities.add_prepared``."""
    flavour = flavour or detect_flavour(record, default)
    return PreparedAuthority(position, flavour, guess_type(record, flavour),
                             marc.record_to_xml(record).decode("utf-8"))


def _stored_record(row: Authority) -> pymarc.Record | None:
    try:
        return marc.parse_xml(row.marcxml)
    except (ValueError, KeyError):
        return None


def _check_code(code: str) -> None:
    if len(code) > 10:
        raise AuthorityError(f"authority type {code[:40]!r} is longer than 10 characters", "invalid_type")


# ids.allocate("authority") starts after every authid ever used, live or deleted
ids.COUNTERS.setdefault("authority", (Authority.authid, DeletedAuthority.authid))
