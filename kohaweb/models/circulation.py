"""Loans, holds and circulation rules; finished rows move to the old_* tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, code, utcnow


class _CheckoutColumns:
    issue_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    date_due: Mapped[dt.datetime] = mapped_column(DateTime)
    branchcode: Mapped[str | None] = mapped_column(code())
    issuedate: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    lastreneweddate: Mapped[dt.datetime | None] = mapped_column(DateTime)
    returndate: Mapped[dt.datetime | None] = mapped_column(DateTime)
    renewals_count: Mapped[int] = mapped_column(Integer, default=0)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    onsite_checkout: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # Koha's columns the REST checkout object shows (migration 0017)
    unseen_renewals: Mapped[int] = mapped_column(Integer, default=0)
    auto_renew_error: Mapped[str | None] = mapped_column(String(32))
    issuer_id: Mapped[int | None] = mapped_column(Integer)
    note_date: Mapped[dt.date | None] = mapped_column(Date)
    note_seen: Mapped[bool | None] = mapped_column(Boolean)


class Checkout(_CheckoutColumns, Base):
    __tablename__ = "issues"
    borrowernumber: Mapped[int] = mapped_column(ForeignKey("borrowers.borrowernumber"), index=True)
    itemnumber: Mapped[int] = mapped_column(ForeignKey("items.itemnumber"), unique=True)


class OldCheckout(_CheckoutColumns, Base):
    __tablename__ = "old_issues"
    borrowernumber: Mapped[int | None] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="SET NULL"), index=True
    )
    itemnumber: Mapped[int | None] = mapped_column(Integer, index=True)


class _HoldColumns:
    reserve_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reservedate: Mapped[dt.date] = mapped_column(Date)
    expirationdate: Mapped[dt.date | None] = mapped_column(Date)
    waitingdate: Mapped[dt.date | None] = mapped_column(Date)
    cancellationdate: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cancellation_reason: Mapped[str | None] = mapped_column(String(80))
    reservenotes: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=1)
    found: Mapped[str | None] = mapped_column(String(1))  # None pending, W waiting, T transit, F finished
    item_level_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    suspend: Mapped[bool] = mapped_column(Boolean, default=False)
    suspend_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    itemtype: Mapped[str | None] = mapped_column(code())
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # Koha's columns the REST hold object shows (migration 0017)
    lowestPriority: Mapped[bool] = mapped_column(Boolean, default=False)  # noqa: N815 (Koha's column)
    non_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    patron_expiration_date: Mapped[dt.date | None] = mapped_column(Date)


class Hold(_HoldColumns, Base):
    __tablename__ = "reserves"
    __table_args__ = (Index("ix_reserves_priority_found", "priority", "found"),)
    borrowernumber: Mapped[int] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="CASCADE"), index=True
    )
    biblionumber: Mapped[int] = mapped_column(ForeignKey("biblio.biblionumber", ondelete="CASCADE"), index=True)
    itemnumber: Mapped[int | None] = mapped_column(ForeignKey("items.itemnumber", ondelete="CASCADE"))
    branchcode: Mapped[str] = mapped_column(ForeignKey("branches.branchcode", ondelete="CASCADE"))


class OldHold(_HoldColumns, Base):
    __tablename__ = "old_reserves"
    borrowernumber: Mapped[int | None] = mapped_column(Integer, index=True)
    biblionumber: Mapped[int | None] = mapped_column(Integer)
    itemnumber: Mapped[int | None] = mapped_column(Integer)
    branchcode: Mapped[str | None] = mapped_column(code())


class HoldCancellationRequest(Base):
    """A patron's request to cancel a hold that is already waiting for them (Koha's
    hold_cancellation_requests): staff see it and cancel the hold, which removes the request."""

    __tablename__ = "hold_cancellation_requests"
    hold_cancellation_request_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("reserves.reserve_id", ondelete="CASCADE"), index=True)
    creation_date: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CheckoutRenewal(Base):
    """One renewal of a checkout (Koha's checkout_renewals): who, how, whether seen."""

    __tablename__ = "checkout_renewals"
    renewal_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkout_id: Mapped[int] = mapped_column("checkout_id", Integer, index=True)
    renewer_id: Mapped[int | None] = mapped_column(Integer)
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    interface: Mapped[str] = mapped_column(String(16), default="api")
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    renewal_type: Mapped[str] = mapped_column(String(9), default="Manual")  # Automatic or Manual


class CirculationRule(Base):
    """Koha's rule table: a NULL branch/category/item type means 'any'; the most specific wins."""

    __tablename__ = "circulation_rules"
    __table_args__ = (Index("ix_circulation_rules_scope", "rule_name", "categorycode", "itemtype", "branchcode"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branchcode: Mapped[str | None] = mapped_column(code())
    categorycode: Mapped[str | None] = mapped_column(code())
    itemtype: Mapped[str | None] = mapped_column(code())
    rule_name: Mapped[str] = mapped_column(String(32))
    rule_value: Mapped[str] = mapped_column(String(32))
