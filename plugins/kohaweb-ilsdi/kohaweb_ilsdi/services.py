"""The ILS-DI services. Each takes the request's session and its (validated, single-valued)
parameters and returns the dict that becomes the XML document, with Koha's element names.
The circulation decisions are made by ``kohaweb.circulation``; this module only translates
between ILS-DI's parameters and codes and the core."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kohaweb.plugin_api import (
    AccountLine,
    AuthorisedValue,
    Authority,
    Biblio,
    Checkout,
    CirculationError,
    Hold,
    Item,
    ItemType,
    Library,
    Patron,
    PatronAttribute,
    PatronAttributeType,
    find_patron,
    item_dict,
    marc,
    utcnow,
    verify_password,
    visibility,
)
from kohaweb.plugin_api import circulation as circ

from .xmlout import row

Params = dict[str, str]

# GetPatronInfo show_contact=0 removes these (the ones our borrowers table has).
CONTACT_FIELDS = ("email", "emailpro", "fax", "mobile", "phone", "phonepro", "streetnumber", "zipcode", "city",
                  "streettype", "address", "address2", "B_address", "B_city", "B_email", "B_phone", "B_zipcode",
                  "altcontactaddress1", "altcontactaddress2", "altcontactaddress3", "altcontactfirstname",
                  "altcontactphone", "altcontactsurname", "altcontactzipcode")
# LookupPatron without id_type tries these in order.
LOOKUP_ORDER = ("cardnumber", "userid", "email", "borrowernumber", "surname", "firstname")
_MAX_ID = 2**31 - 1


class ParameterError(Exception):
    """A parameter value that cannot be used (reported as IllegalParameter)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _number(text: str | None) -> int | None:
    """A database id from a parameter, or None when it cannot be one (never a DB error, and no
    work for 5,000-digit "numbers": anything longer than the largest id is none)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(_MAX_ID)):
        return None
    value = int(text)
    return value if 0 < value <= _MAX_ID else None


def _patron(session: Session, text: str | None) -> Patron | None:
    number = _number(text)
    return session.get(Patron, number) if number is not None else None


def _ids(text: str) -> list[str]:
    """Space-separated ids (Perl's split / /: inner empty ids stay, trailing ones go), each once
    in the order first given (an id repeated 5,000 times is answered once, not 5,000 times)."""
    parts = text.split(" ")
    while parts and parts[-1] == "":
        parts.pop()
    return list(dict.fromkeys(parts))


def _date(params: Params, name: str) -> dt.date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ParameterError(name) from None


def _hold_dates(params: Params) -> tuple[dt.date | None, dt.date | None]:
    """start_date and expiry_date; older clients' needed_before_date stands for expiry_date and
    pickup_expiry_date (how long a waiting hold is kept, not modelled) is checked, then ignored."""
    _date(params, "pickup_expiry_date")
    return _date(params, "start_date"), _date(params, "expiry_date") or _date(params, "needed_before_date")


def _flag(params: Params, name: str) -> bool:
    return params.get(name) == "1"


def _branchnames(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Library.branchcode, Library.branchname)).tuples().all())


# --- catalogue -----------------------------------------------------------------------------------

def get_records(session: Session, params: Params) -> dict[str, Any]:
    schema = params.get("schema")
    if schema and schema != "MARCXML":
        return {"code": "UnsupportedSchema"}
    branches = _branchnames(session)
    itypes = dict(session.execute(select(ItemType.itemtype, ItemType.description)).tuples().all())
    locations = {value: lib_opac or lib for value, lib, lib_opac in session.execute(
        select(AuthorisedValue.authorised_value, AuthorisedValue.lib, AuthorisedValue.lib_opac)
        .where(AuthorisedValue.category == "LOC"))}
    public = visibility.public_viewer(session)  # ILS-DI answers as the OPAC does
    records = []
    for text in _ids(params["id"]):
        number = _number(text)
        biblio = session.get(Biblio, number) if number is not None else None
        if biblio is None or not public.sees_record(biblio):
            records.append({"code": "RecordNotFound"})
            continue
        records.append(_record(session, biblio, branches, itypes, locations, public))
    return {"record": records}


def _record(session: Session, biblio: Biblio, branches: dict, itypes: dict, locations: dict,
            viewer: visibility.Viewer) -> dict[str, Any]:
    items = viewer.visible_items(biblio.items)
    shown = {i.itemnumber for i in items}
    try:
        record = marc.parse_xml(biblio.metadata_row.metadata_xml)
        marcxml = marc.record_to_xml(marc.embed_items(record, biblio.flavour, (item_dict(i) for i in items)))
    except (etree.XMLSyntaxError, ValueError):
        marcxml = None  # a damaged stored record loses its marcxml element, not the whole answer
    out: dict[str, Any] = {
        # Koha returns the biblioitems row; ours is merged into biblio (biblioitemnumber = biblionumber)
        "biblioitemnumber": biblio.biblionumber, "biblionumber": biblio.biblionumber,
        "itemtype": biblio.itemtype, "isbn": biblio.isbn, "issn": biblio.issn,
        "publicationyear": biblio.copyrightdate, "publishercode": biblio.publishercode,
        "totalissues": sum(i.issues or 0 for i in items), "timestamp": biblio.timestamp,
        "marcxml": marcxml.decode("utf-8") if marcxml is not None else None,
    }
    item_rows = []
    for item in items:
        values = row(item)
        values["biblioitemnumber"] = item.biblionumber
        values["homebranchname"] = branches.get(item.homebranch)
        values["holdingbranchname"] = branches.get(item.holdingbranch)
        values["location_description"] = locations.get(item.location)
        values["itype_description"] = itypes.get(item.itype)
        transit = session.scalar(select(Hold).where(Hold.itemnumber == item.itemnumber).where(Hold.found == "T"))
        if transit is not None:
            values["transfer"] = {"datesent": transit.timestamp, "frombranch": item.holdingbranch,
                                  "tobranch": transit.branchcode}
        item_rows.append(values)
    out["items"] = {"item": item_rows}
    holds = session.scalars(select(Hold).where(Hold.biblionumber == biblio.biblionumber)
                            .order_by(Hold.priority, Hold.reserve_id)).all()
    out["reserves"] = {"reserve": [row(h, exclude=("borrowernumber",)) for h in holds
                                   if h.itemnumber is None or h.itemnumber in shown]}
    loans = session.execute(select(Checkout, Item.barcode).join(Item, Item.itemnumber == Checkout.itemnumber)
                            .where(Item.biblionumber == biblio.biblionumber).order_by(Checkout.issue_id)).all()
    out["issues"] = {"issue": [{**row(loan, exclude=("borrowernumber",)), "barcode": barcode}
                               for loan, barcode in loans if loan.itemnumber in shown]}
    return out


def get_authority_records(session: Session, params: Params) -> dict[str, Any]:
    """Koha's GetAuthorityRecords: each id gives the record's GetAuthorityXML string as the text
    of its ``<record>`` element itself (Koha pushes the string, not a ``marcxml`` key), or
    ``<code>RecordNotFound</code>``."""
    schema = params.get("schema")
    if schema and schema != "MARCXML":
        return {"code": "UnsupportedSchema"}
    records: list[Any] = []
    for text in _ids(params["id"]):
        number = _number(text)
        authority = session.get(Authority, number) if number is not None else None
        records.append(_authority_xml(authority) if authority is not None else {"code": "RecordNotFound"})
    return {"record": records}


def _authority_xml(authority: Authority) -> str:
    """GetAuthorityXML: a UNIMARC site answers the stored MARCXML as it is; MARC21 parses it and
    serialises it again, with an XML declaration (MARC::Record's as_xml_record)."""
    if authority.flavour == marc.UNIMARC:
        return authority.marcxml
    try:
        record = marc.parse_xml(authority.marcxml)
    except (ValueError, KeyError):
        return authority.marcxml  # a damaged stored record is answered as stored, not as a 500
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + marc.record_to_xml(record).decode("utf-8")


# --- patrons -------------------------------------------------------------------------------------

def _lookup(session: Session, column: str, value: str) -> Patron | None:
    attribute = Patron.__table__.columns.get(column)
    if attribute is None or column == "password":
        return None
    python_type = attribute.type.python_type
    try:
        if python_type is int:
            key: Any = _number(value)
            if key is None:
                return None
        elif python_type is dt.date:
            key = dt.date.fromisoformat(value)
        elif python_type is dt.datetime:
            key = dt.datetime.fromisoformat(value)
        elif python_type is bool:
            key = value == "1"
        else:
            key = value
    except ValueError:
        return None
    return session.scalar(select(Patron).where(attribute == key).order_by(Patron.borrowernumber).limit(1))


def lookup_patron(session: Session, params: Params) -> dict[str, Any]:
    value = params.get("id", "")
    # any borrowers column, as Koha; an unknown column finds nobody instead of a database error
    columns = [params["id_type"]] if params.get("id_type") else list(LOOKUP_ORDER)
    if value:
        for column in columns:
            patron = _lookup(session, column, value)
            if patron is not None:
                return {"id": patron.borrowernumber}
    return {"message": "PatronNotFound"}


def authenticate_patron(session: Session, params: Params) -> dict[str, Any]:
    patron = find_patron(session, params["username"])
    if patron is None or not verify_password(params["password"], patron.password):
        return {"code": "PatronNotFound"}
    # checked only once the password is right, so it does not tell strangers which accounts exist
    expires = patron.password_expiration_date
    if expires is not None and expires < circ.today():
        return {"code": "PasswordExpired"}
    patron.lastseen = utcnow()
    return {"id": patron.borrowernumber}


def get_patron_info(session: Session, params: Params) -> dict[str, Any]:
    patron = _patron(session, params["patron_id"])
    if patron is None:
        return {"code": "PatronNotFound"}
    out = row(patron, exclude=("userid", "password"))
    out["charges"] = f"{circ.non_issue_charges(session, patron):.2f}"
    library = session.get(Library, patron.branchcode)
    out["branchname"] = library.branchname if library else ""
    if params.get("show_contact") == "0":
        for name in CONTACT_FIELDS:
            out.pop(name, None)
    if _flag(params, "show_fines"):
        lines = session.scalars(select(AccountLine).where(AccountLine.borrowernumber == patron.borrowernumber)
                                .order_by(AccountLine.date, AccountLine.accountlines_id)).all()
        out["fines"] = {"fine": [row(line) for line in lines]}
    if _flag(params, "show_holds"):
        out["holds"] = {"hold": [_hold(session, hold) for hold in circ.patron_holds(session, patron)]}
    if _flag(params, "show_loans"):
        per_page, page = params.get("loans_per_page"), params.get("loans_page")
        limit = offset = None
        if per_page or page:
            limit = _positive(per_page, "loans_per_page") or 10
            offset = ((_positive(page, "loans_page") or 1) - 1) * limit
            out["total_loans"] = session.scalar(select(func.count()).select_from(Checkout)
                                                .where(Checkout.borrowernumber == patron.borrowernumber))
        loans = circ.patron_checkouts(session, patron, limit=limit, offset=offset or 0)
        out["loans"] = {"loan": [_loan(session, loan) for loan in loans]}
    if _flag(params, "show_attributes"):
        rows = session.execute(
            select(PatronAttribute, PatronAttributeType)
            .join(PatronAttributeType, PatronAttributeType.code == PatronAttribute.code)
            .where(PatronAttribute.borrowernumber == patron.borrowernumber)
            .where(PatronAttributeType.opac_display.is_(True)).order_by(PatronAttribute.id)).all()
        out["attributes"] = [{**row(attr), **row(kind), "value": attr.attribute,
                              "value_description": attr.attribute} for attr, kind in rows]
    out["is_expired"] = 1 if circ.is_expired(patron) else 0
    return out


def _positive(text: str | None, name: str) -> int | None:
    if not text:
        return None
    number = _number(text)
    if number is None:
        raise ParameterError(name)
    return number


def _biblio_columns(biblio: Biblio | None) -> dict[str, Any]:
    if biblio is None:
        return {}
    values = row(biblio)
    values["biblioitemnumber"] = biblio.biblionumber
    return values


def _hold(session: Session, hold: Hold) -> dict[str, Any]:
    out = row(hold)
    item: dict[str, Any] = {}
    if hold.itemnumber is not None:
        item_row = session.get(Item, hold.itemnumber)
        if item_row is not None:
            item = {**row(item_row), **_biblio_columns(item_row.biblio)}
    out["item"] = item
    library = session.get(Library, hold.branchcode)
    out["branchname"] = library.branchname if library else ""
    biblio = session.get(Biblio, hold.biblionumber)
    out["title"] = biblio.title if biblio and biblio.title else ""
    return out


def _loan(session: Session, loan: Checkout) -> dict[str, Any]:
    item = session.get(Item, loan.itemnumber)
    out = {**row(loan), **row(item), **_biblio_columns(item.biblio)}
    # the checkout's own timestamp and branch win over the item's
    out.update(timestamp=loan.timestamp, branchcode=loan.branchcode)
    out["holds_on_item"] = circ.holds_count(session, itemnumber=item.itemnumber)
    out["holds_on_record"] = circ.holds_count(session, biblionumber=item.biblionumber)
    return out


def get_patron_status(session: Session, params: Params) -> dict[str, Any]:
    patron = _patron(session, params["patron_id"])
    if patron is None:
        return {"code": "PatronNotFound"}
    # Koha's status is always 0 (a TODO there); kept for compatibility.
    return {"type": patron.categorycode, "status": 0, "expiry": patron.dateexpiry}


def get_services(session: Session, params: Params) -> dict[str, Any]:
    patron = _patron(session, params["patron_id"])
    if patron is None:
        return {"code": "PatronNotFound"}
    number = _number(params["item_id"])
    item = session.get(Item, number) if number is not None else None
    if item is None:
        return {"code": "RecordNotFound"}
    services = circ.services_for(session, patron, item)
    available = [label for label, ok in (("title level hold", services.title_hold),
                                         ("item level hold", services.item_hold),
                                         ("hold cancellation", services.hold_cancellation),
                                         ("loan renewal", services.renewal)) if ok]
    return {"AvailableFor": available}


# --- circulation ---------------------------------------------------------------------------------

def renew_loan(session: Session, params: Params) -> dict[str, Any]:
    patron = _patron(session, params["patron_id"])
    if patron is None:
        return {"code": "PatronNotFound"}
    number = _number(params["item_id"])
    item = session.get(Item, number) if number is not None else None
    if item is None:
        return {"code": "RecordNotFound"}
    loan = circ.current_checkout(session, item)
    if loan is None or loan.borrowernumber != patron.borrowernumber:
        # Koha answers an empty document here (a FIXME) and does not check whose loan it is;
        # we say why, in RenewLoan's own terms.
        return {"success": 0, "error": "no_checkout", "code": "NotRenewable"}
    try:
        circ.renew(session, loan, patron=patron)
    except CirculationError as exc:
        return {"renewals": loan.renewals_count, "date_due": f"{loan.date_due:%Y-%m-%d %H:%M}",
                "success": 0, "error": exc.code, "code": "NotRenewable"}
    return {"renewals": loan.renewals_count, "date_due": f"{loan.date_due:%Y-%m-%d %H:%M}", "success": 1}


def _hold_patron_checks(session: Session, patron: Patron | None) -> dict[str, Any] | None:
    if patron is None:
        return {"code": "PatronNotFound"}
    if circ.is_restricted(patron):
        return {"code": "PatronRestricted"}
    if circ.expired_blocks(session, patron, "hold"):
        return {"code": "PatronExpired"}
    return None


_LOCATION_CODES = {"libraryNotFound": "LocationNotFound", "libraryNotPickupLocation": "library_not_pickup_location"}


def _pickup(session: Session, params: Params, patron: Patron) -> tuple[Library | None, dict | None]:
    code = params.get("pickup_location") or patron.branchcode
    try:
        return circ.check_pickup(session, code), None
    except CirculationError as exc:
        return None, {"code": _LOCATION_CODES.get(exc.code, exc.code)}


def hold_title(session: Session, params: Params) -> dict[str, Any]:
    patron = _patron(session, params["patron_id"])
    refused = _hold_patron_checks(session, patron)
    if refused:
        return refused
    number = _number(params["bib_id"])
    biblio = session.get(Biblio, number) if number is not None else None
    if biblio is None:
        return {"code": "RecordNotFound"}
    if not biblio.items:
        return {"code": "NoItems"}
    start, expiry = _hold_dates(params)
    try:
        circ.can_hold_title(session, patron, biblio)
    except CirculationError as exc:
        return {"code": exc.code}
    library, refused = _pickup(session, params, patron)
    if refused:
        return refused
    try:
        circ.place_hold(session, patron, biblio, pickup_branch=library.branchcode, reservedate=start,
                        expirationdate=expiry)
    except CirculationError as exc:
        return {"code": _LOCATION_CODES.get(exc.code, exc.code)}
    return {"title": biblio.title, "pickup_location": library.branchname}


def hold_item(session: Session, params: Params) -> dict[str, Any]:
    patron = _patron(session, params["patron_id"])
    refused = _hold_patron_checks(session, patron)
    if refused:
        return refused
    bib_number, item_number = _number(params["bib_id"]), _number(params["item_id"])
    biblio = session.get(Biblio, bib_number) if bib_number is not None else None
    item = session.get(Item, item_number) if item_number is not None else None
    if biblio is None or item is None or item.biblionumber != biblio.biblionumber:
        return {"code": "RecordNotFound"}
    start, expiry = _hold_dates(params)
    library, refused = _pickup(session, params, patron)
    if refused:
        return refused
    try:
        circ.place_hold(session, patron, biblio, item=item, pickup_branch=library.branchcode,
                        reservedate=start, expirationdate=expiry)
    except CirculationError as exc:
        return {"code": _LOCATION_CODES.get(exc.code, exc.code)}
    return {"pickup_location": library.branchname}


def cancel_hold(session: Session, params: Params) -> dict[str, Any]:
    patron = _patron(session, params["patron_id"])
    if patron is None:
        return {"code": "PatronNotFound"}
    number = _number(params["item_id"])  # really the reserve_id
    hold = session.get(Hold, number) if number is not None else None
    if hold is None:
        return {"code": "RecordNotFound"}
    if not circ.can_cancel_hold(session, hold, patron):
        return {"code": "BorrowerCannotCancelHold"}
    circ.cancel_hold(session, hold, patron=patron)
    return {"code": "Canceled"}


SERVICES: dict[str, Callable[[Session, Params], dict[str, Any]]] = {
    "GetRecords": get_records,
    "GetAuthorityRecords": get_authority_records,
    "LookupPatron": lookup_patron,
    "AuthenticatePatron": authenticate_patron,
    "GetPatronInfo": get_patron_info,
    "GetPatronStatus": get_patron_status,
    "GetServices": get_services,
    "RenewLoan": renew_loan,
    "HoldTitle": hold_title,
    "HoldItem": hold_item,
    "CancelHold": cancel_hold,
}
