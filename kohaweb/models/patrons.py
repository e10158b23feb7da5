"""Patrons, their permissions, attributes, restrictions, fines and API keys."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow


class Patron(Base):
    __tablename__ = "borrowers"
    borrowernumber: Mapped[int] = mapped_column(Integer, primary_key=True)
    cardnumber: Mapped[str | None] = mapped_column(String(32), unique=True)
    userid: Mapped[str | None] = mapped_column(String(75), unique=True)
    password: Mapped[str | None] = mapped_column(String(255))  # bcrypt hash, never serialised
    password_expiration_date: Mapped[dt.date | None] = mapped_column(Date)  # ILS-DI PasswordExpired
    surname: Mapped[str | None] = mapped_column(Text)
    firstname: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    othernames: Mapped[str | None] = mapped_column(Text)
    initials: Mapped[str | None] = mapped_column(Text)
    streetnumber: Mapped[str | None] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(Text)
    address2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    zipcode: Mapped[str | None] = mapped_column(String(25))
    country: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    mobile: Mapped[str | None] = mapped_column(String(50))
    dateofbirth: Mapped[dt.date | None] = mapped_column(Date)
    dateenrolled: Mapped[dt.date | None] = mapped_column(Date)
    dateexpiry: Mapped[dt.date | None] = mapped_column(Date)
    branchcode: Mapped[str] = mapped_column(ForeignKey("branches.branchcode"))
    categorycode: Mapped[str] = mapped_column(ForeignKey("categories.categorycode"))
    debarred: Mapped[dt.date | None] = mapped_column(Date)
    debarredcomment: Mapped[str | None] = mapped_column(Text)
    lost: Mapped[bool] = mapped_column(Boolean, default=False)
    gonenoaddress: Mapped[bool] = mapped_column(Boolean, default=False)
    borrowernotes: Mapped[str | None] = mapped_column(Text)
    opacnote: Mapped[str | None] = mapped_column(Text)
    sex: Mapped[str | None] = mapped_column(String(1))
    lang: Mapped[str] = mapped_column(String(25), default="default")
    privacy: Mapped[int] = mapped_column(Integer, default=1)
    login_attempts: Mapped[int] = mapped_column(Integer, default=0)
    lastseen: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # Koha's columns the REST patron object shows (migration 0017)
    streettype: Mapped[str | None] = mapped_column(Text)
    emailpro: Mapped[str | None] = mapped_column(Text)
    phonepro: Mapped[str | None] = mapped_column(Text)
    fax: Mapped[str | None] = mapped_column(Text)
    smsalertnumber: Mapped[str | None] = mapped_column(String(50))
    preferred_name: Mapped[str | None] = mapped_column(Text)
    middle_name: Mapped[str | None] = mapped_column(Text)
    pronouns: Mapped[str | None] = mapped_column(Text)
    B_streetnumber: Mapped[str | None] = mapped_column(String(10))
    B_address: Mapped[str | None] = mapped_column(Text)
    B_address2: Mapped[str | None] = mapped_column(Text)
    B_city: Mapped[str | None] = mapped_column(Text)
    B_state: Mapped[str | None] = mapped_column(Text)
    B_zipcode: Mapped[str | None] = mapped_column(String(25))
    B_country: Mapped[str | None] = mapped_column(Text)
    B_email: Mapped[str | None] = mapped_column(Text)
    B_phone: Mapped[str | None] = mapped_column(Text)
    contactnote: Mapped[str | None] = mapped_column(String(255))
    altcontactfirstname: Mapped[str | None] = mapped_column(Text)
    altcontactsurname: Mapped[str | None] = mapped_column(Text)
    altcontactaddress1: Mapped[str | None] = mapped_column(Text)
    altcontactaddress2: Mapped[str | None] = mapped_column(Text)
    altcontactaddress3: Mapped[str | None] = mapped_column(Text)
    altcontactstate: Mapped[str | None] = mapped_column(Text)
    altcontactzipcode: Mapped[str | None] = mapped_column(String(50))
    altcontactcountry: Mapped[str | None] = mapped_column(Text)
    altcontactphone: Mapped[str | None] = mapped_column(String(50))
    sort1: Mapped[str | None] = mapped_column(String(80))
    sort2: Mapped[str | None] = mapped_column(String(80))
    autorenew_checkouts: Mapped[bool] = mapped_column(Boolean, default=True)
    checkprevcheckout: Mapped[str] = mapped_column(String(7), default="inherit")
    primary_contact_method: Mapped[str | None] = mapped_column(String(45))
    date_renewed: Mapped[dt.date | None] = mapped_column(Date)
    anonymized: Mapped[bool] = mapped_column(Boolean, default=False)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    privacy_guarantor_fines: Mapped[bool] = mapped_column(Boolean, default=False)
    privacy_guarantor_checkouts: Mapped[bool] = mapped_column(Boolean, default=False)
    B_streettype: Mapped[str | None] = mapped_column(String(50))
    sms_provider_id: Mapped[int | None] = mapped_column(Integer)
    overdrive_auth_token: Mapped[str | None] = mapped_column(Text)
    permissions: Mapped[list[PatronPermission]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    # Koha's column name; defined after ``permissions``, whose relationship() it shadows here
    relationship: Mapped[str | None] = mapped_column(String(100))

    @property
    def permission_codes(self) -> frozenset[str]:
        """Whole-module permissions by name (``circulate``) and sub-permissions as
        ``module:code`` (``reserveforothers:place_holds``)."""
        return frozenset(p.name for p in self.permissions)


# Koha's module bits (userflags.bit) of the modules kohaweb knows, for sub-permission rows
MODULE_BITS = {
    "superlibrarian": 0, "circulate": 1, "catalogue": 2, "parameters": 3, "borrowers": 4, "permissions": 5,
    "reserveforothers": 6, "editcatalogue": 9, "updatecharges": 10, "acquisition": 11, "tools": 13,
    "editauthorities": 14, "serials": 15, "reports": 16, "staffaccess": 17, "lists": 20, "ill": 22,
    "self_check": 23,
}
MODULE_NAMES = {bit: name for name, bit in MODULE_BITS.items()}


class PatronPermission(Base):
    """A staff permission. A whole module (catalogue, reports, superlibrarian...) is a row whose
    ``code`` is the module's name and ``module_bit`` NULL; one of Koha's sub-permissions is a row
    as in Koha's user_permissions: the module's bit and the sub-permission's code (migration 0020)."""

    __tablename__ = "user_permissions"
    borrowernumber: Mapped[int] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    module_bit: Mapped[int | None] = mapped_column(Integer)

    @property
    def name(self) -> str:
        """``module`` for a whole module, ``module:code`` for a sub-permission."""
        if self.module_bit is None:
            return self.code
        return f"{MODULE_NAMES.get(self.module_bit, self.module_bit)}:{self.code}"


class PatronAttributeType(Base):
    __tablename__ = "borrower_attribute_types"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(255))
    opac_display: Mapped[bool] = mapped_column(Boolean, default=False)


class PatronAttribute(Base):
    __tablename__ = "borrower_attributes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrowernumber: Mapped[int] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(ForeignKey("borrower_attribute_types.code", ondelete="CASCADE"))
    attribute: Mapped[str | None] = mapped_column(String(255))


class PatronRestriction(Base):
    __tablename__ = "borrower_debarments"
    borrower_debarment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrowernumber: Mapped[int] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="CASCADE"), index=True
    )
    expiration: Mapped[dt.date | None] = mapped_column(Date)
    type: Mapped[str] = mapped_column(String(50), default="MANUAL")
    comment: Mapped[str | None] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AccountLine(Base):
    """Fines and payments (ILS-DI show_fines)."""

    __tablename__ = "accountlines"
    accountlines_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    borrowernumber: Mapped[int | None] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="SET NULL"), index=True
    )
    itemnumber: Mapped[int | None] = mapped_column(Integer)
    date: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    amount: Mapped[Decimal] = mapped_column(Numeric(28, 6), default=0)
    amountoutstanding: Mapped[Decimal] = mapped_column(Numeric(28, 6), default=0)
    description: Mapped[str | None] = mapped_column(Text)
    debit_type_code: Mapped[str | None] = mapped_column(String(64))
    credit_type_code: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # Koha's columns the REST account line object shows (migration 0017)
    issue_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    manager_id: Mapped[int | None] = mapped_column(Integer)
    interface: Mapped[str | None] = mapped_column(String(16))
    branchcode: Mapped[str | None] = mapped_column(String(10))
    payment_type: Mapped[str | None] = mapped_column(String(80))


class City(Base):
    """Koha's cities (a list offered when patrons' addresses are entered)."""

    __tablename__ = "cities"
    cityid: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_name: Mapped[str] = mapped_column(String(100), default="")
    city_state: Mapped[str | None] = mapped_column(String(100))
    city_country: Mapped[str | None] = mapped_column(String(100))
    city_zipcode: Mapped[str | None] = mapped_column(String(20))


class ApiKey(Base):
    """OAuth2 client credentials owned by a patron; the secret is stored only as a slow hash."""

    __tablename__ = "api_keys"
    client_id: Mapped[str] = mapped_column(String(191), primary_key=True)
    secret: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(255))
    patron_id: Mapped[int] = mapped_column(
        ForeignKey("borrowers.borrowernumber", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_on: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_on: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OAuthAccessToken(Base):
    """Issued bearer tokens, stored as SHA-256 hashes so a leaked table grants nothing."""

    __tablename__ = "oauth_access_tokens"
    access_token: Mapped[str] = mapped_column(String(191), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(191), index=True)
    scope: Mapped[str | None] = mapped_column(String(255))
    expires: Mapped[int] = mapped_column(Integer)
