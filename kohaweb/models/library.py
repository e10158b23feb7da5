"""Libraries, item types, patron categories, authorised values and system preferences."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, code


class Library(Base):
    __tablename__ = "branches"
    branchcode: Mapped[str] = mapped_column(code(), primary_key=True)
    branchname: Mapped[str] = mapped_column(Text)
    branchaddress1: Mapped[str | None] = mapped_column(Text)
    branchaddress2: Mapped[str | None] = mapped_column(Text)
    branchaddress3: Mapped[str | None] = mapped_column(Text)
    branchzip: Mapped[str | None] = mapped_column(String(25))
    branchcity: Mapped[str | None] = mapped_column(Text)
    branchstate: Mapped[str | None] = mapped_column(Text)
    branchcountry: Mapped[str | None] = mapped_column(Text)
    branchphone: Mapped[str | None] = mapped_column(Text)
    branchemail: Mapped[str | None] = mapped_column(Text)
    branchurl: Mapped[str | None] = mapped_column(Text)
    branchnotes: Mapped[str | None] = mapped_column(Text)
    marcorgcode: Mapped[str | None] = mapped_column(String(16))
    pickup_location: Mapped[bool] = mapped_column(Boolean, default=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)


class ItemType(Base):
    __tablename__ = "itemtypes"
    itemtype: Mapped[str] = mapped_column(code(), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    notforloan: Mapped[bool] = mapped_column(Boolean, default=False)
    rentalcharge: Mapped[Decimal | None] = mapped_column(Numeric(28, 6))
    hideinopac: Mapped[bool] = mapped_column(Boolean, default=False)


class PatronCategory(Base):
    __tablename__ = "categories"
    categorycode: Mapped[str] = mapped_column(code(), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    category_type: Mapped[str] = mapped_column(String(1), default="A")
    enrolmentperiod: Mapped[int | None] = mapped_column(Integer)


class AuthorisedValue(Base):
    """Coded values (LOC, CCODE, NOT_LOAN, LOST...) and their staff/OPAC labels."""

    __tablename__ = "authorised_values"
    __table_args__ = (UniqueConstraint("category", "authorised_value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    authorised_value: Mapped[str] = mapped_column(String(80))
    lib: Mapped[str | None] = mapped_column(String(200))
    lib_opac: Mapped[str | None] = mapped_column(String(200))


class SystemPreference(Base):
    """Key/value preferences; keys are matched case-insensitively by kohaweb.preferences."""

    __tablename__ = "systempreferences"
    variable: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    options: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(20))


class IdCounter(Base):
    """Monotonic id counters: ids of records, items, loans and holds are never reused,
    even after a database restart (Koha's auto-increment reset bug)."""

    __tablename__ = "id_counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
