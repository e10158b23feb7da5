"""Bibliographic records, their MARCXML, items, and the deleted-record history tables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from .base import Base, LongText, code, utcnow
from .library import ItemType


class _BiblioColumns:
    """Columns shared by live and deleted records (denormalised from MARC for listing)."""

    biblionumber: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    frameworkcode: Mapped[str] = mapped_column(String(4), default="")
    flavour: Mapped[str] = mapped_column(String(8), default="MARC21")
    title: Mapped[str | None] = mapped_column(Text)
    subtitle: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    isbn: Mapped[str | None] = mapped_column(Text)
    issn: Mapped[str | None] = mapped_column(Text)
    publishercode: Mapped[str | None] = mapped_column(Text)
    copyrightdate: Mapped[int | None] = mapped_column(Integer)
    itemtype: Mapped[str | None] = mapped_column(code())
    serial: Mapped[bool] = mapped_column(Boolean, default=False)
    opac_suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    # derived, not Koha's: the public may not see the record under the visibility policy applied
    # last (kohaweb.visibility: OpacSuppression, OpacHiddenItems...); kept by the data layer
    hidden_from_public: Mapped[bool] = mapped_column(Boolean, default=False)
    datecreated: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # last change of the record itself
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # OAI-PMH datestamp: last change of the record or any of its items (or its deletion)
    datestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Biblio(_BiblioColumns, Base):
    __tablename__ = "biblio"
    __table_args__ = (Index("ix_biblio_datestamp_id", "datestamp", "biblionumber"),)
    metadata_row: Mapped[BiblioMetadata] = relationship(
        back_populates="biblio", uselist=False, cascade="all, delete-orphan", passive_deletes=True
    )
    items: Mapped[list[Item]] = relationship(
        back_populates="biblio", cascade="all, delete-orphan", passive_deletes=True, order_by="Item.itemnumber"
    )


class BiblioMetadata(Base):
    """The MARC record itself, as MARCXML with embedded items stripped (Koha's biblio_metadata)."""

    __tablename__ = "biblio_metadata"
    biblionumber: Mapped[int] = mapped_column(
        ForeignKey("biblio.biblionumber", ondelete="CASCADE"), primary_key=True
    )
    format: Mapped[str] = mapped_column(String(16), default="marcxml")
    schema: Mapped[str] = mapped_column(String(16), default="MARC21")
    metadata_xml: Mapped[str] = mapped_column("metadata", LongText)
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    biblio: Mapped[Biblio] = relationship(back_populates="metadata_row")


class DeletedBiblio(_BiblioColumns, Base):
    __tablename__ = "deletedbiblio"
    __table_args__ = (Index("ix_deletedbiblio_datestamp_id", "datestamp", "biblionumber"),)
    deleted_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DeletedBiblioMetadata(Base):
    __tablename__ = "deletedbiblio_metadata"
    biblionumber: Mapped[int] = mapped_column(
        ForeignKey("deletedbiblio.biblionumber", ondelete="CASCADE"), primary_key=True
    )
    format: Mapped[str] = mapped_column(String(16), default="marcxml")
    schema: Mapped[str] = mapped_column(String(16), default="MARC21")
    metadata_xml: Mapped[str] = mapped_column("metadata", LongText)
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class _ItemColumns:
    itemnumber: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    barcode: Mapped[str | None] = mapped_column(String(64))
    itemcallnumber: Mapped[str | None] = mapped_column(String(255))
    location: Mapped[str | None] = mapped_column(String(80))
    permanent_location: Mapped[str | None] = mapped_column(String(80))
    ccode: Mapped[str | None] = mapped_column(String(80))
    notforloan: Mapped[int] = mapped_column(Integer, default=0)
    damaged: Mapped[int] = mapped_column(Integer, default=0)
    itemlost: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    restricted: Mapped[int] = mapped_column(Integer, default=0)
    onloan: Mapped[dt.date | None] = mapped_column(Date)
    dateaccessioned: Mapped[dt.date | None] = mapped_column(Date)
    price: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    replacementprice: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    issues: Mapped[int] = mapped_column(Integer, default=0)
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    reserves: Mapped[int] = mapped_column(Integer, default=0)
    itemnotes: Mapped[str | None] = mapped_column(Text)
    itemnotes_nonpublic: Mapped[str | None] = mapped_column(Text)
    enumchron: Mapped[str | None] = mapped_column(Text)
    copynumber: Mapped[str | None] = mapped_column(String(32))
    stocknumber: Mapped[str | None] = mapped_column(String(32))
    uri: Mapped[str | None] = mapped_column(Text)
    datelastborrowed: Mapped[dt.date | None] = mapped_column(Date)
    datelastseen: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Koha's items columns of its REST item object (migration 0021); the *_on dates are set
    # when the status changes (see stamp_status_dates below), as Koha's Item->store does
    booksellerid: Mapped[str | None] = mapped_column(Text)  # Koha: acquisition_source
    bookable: Mapped[bool | None] = mapped_column(Boolean)  # NULL: the item type decides
    damaged_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    itemlost_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    withdrawn_on: Mapped[dt.datetime | None] = mapped_column(DateTime)
    materials: Mapped[str | None] = mapped_column(Text)
    cn_source: Mapped[str | None] = mapped_column(String(10))
    cn_sort: Mapped[str | None] = mapped_column(String(255))
    replacementpricedate: Mapped[dt.date | None] = mapped_column(Date)
    coded_location_qualifier: Mapped[str | None] = mapped_column(String(10))
    new_status: Mapped[str | None] = mapped_column(String(32))


class Item(_ItemColumns, Base):
    __tablename__ = "items"
    biblionumber: Mapped[int] = mapped_column(
        ForeignKey("biblio.biblionumber", ondelete="CASCADE"), index=True
    )
    barcode: Mapped[str | None] = mapped_column(String(64), unique=True)
    homebranch: Mapped[str | None] = mapped_column(ForeignKey("branches.branchcode"))
    holdingbranch: Mapped[str | None] = mapped_column(ForeignKey("branches.branchcode"))
    itype: Mapped[str | None] = mapped_column(ForeignKey("itemtypes.itemtype"))
    biblio: Mapped[Biblio] = relationship(back_populates="items")
    # read with the item where a loan needs it (kohaweb.circulation.find_item); it is not kept in
    # step with ``itype`` until the item is expired, so readers check that it is the item's type
    item_type: Mapped[ItemType | None] = relationship(viewonly=True)


class DeletedItem(_ItemColumns, Base):
    __tablename__ = "deleteditems"
    biblionumber: Mapped[int] = mapped_column(Integer, index=True)
    homebranch: Mapped[str | None] = mapped_column(code())
    holdingbranch: Mapped[str | None] = mapped_column(code())
    itype: Mapped[str | None] = mapped_column(code())
    deleted_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)



# (status column, the date column Koha's Item->store sets when it changes)
STATUS_DATES = (("damaged", "damaged_on"), ("itemlost", "itemlost_on"), ("withdrawn", "withdrawn_on"))


def stamp_status_dates(item: Item, status: str, new: object, old: object) -> None:
    """As Koha's Item->store on a stored item: a status set (from none) dates its *_on column now,
    a status cleared empties it; a change between two non-zero statuses keeps the date."""
    if not inspect(item).has_identity or old in (NO_VALUE, NEVER_SET):
        return
    date_column = dict(STATUS_DATES)[status]
    if new and not old:
        setattr(item, date_column, utcnow())
    elif old and not new:
        setattr(item, date_column, None)


def _listen_for_status_changes() -> None:
    for status, _ in STATUS_DATES:
        event.listen(getattr(Item, status), "set", partial(_on_status_set, status), active_history=True)


def _on_status_set(status: str, item: Item, new: object, old: object, _initiator: object) -> None:
    stamp_status_dates(item, status, new, old)


_listen_for_status_changes()

class _AuthorityColumns:
    """Koha's auth_header layout, shared by live and deleted authorities."""

    authid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    authtypecode: Mapped[str] = mapped_column(String(10), default="")
    datecreated: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    modification_time: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    origincode: Mapped[str | None] = mapped_column(String(20))
    authtrees: Mapped[str | None] = mapped_column(LongText)  # legacy in Koha, kept for its reports
    linkid: Mapped[int | None] = mapped_column(BigInteger)  # legacy in Koha
    # the authorised heading as displayed (1XX / UNIMARC 2XX), kept by kohaweb.authorities
    heading: Mapped[str | None] = mapped_column(LongText)
    # not Koha's: MARC21 or UNIMARC, so that a site holding both can serve each right
    flavour: Mapped[str] = mapped_column(String(8), default="MARC21")
    marcxml: Mapped[str] = mapped_column(LongText)


class Authority(_AuthorityColumns, Base):
    """An authority record (Koha's auth_header); written only through kohaweb.authorities."""

    __tablename__ = "auth_header"
    __table_args__ = (Index("ix_auth_header_origincode", "origincode"),)


class DeletedAuthority(_AuthorityColumns, Base):
    """Deleted authorities, kept like deletedbiblio (recent Koha's deletedauth_header; older
    Koha had no such table)."""

    __tablename__ = "deletedauth_header"
    deleted_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
