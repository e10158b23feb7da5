"""ILS-DI's service table (required and optional parameters, as Koha's ilsdi.pl) and the
dispatcher's parameter checks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    description: str
    example: str  # query string of an example call
    sample: str  # an example response

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self.required + self.optional + ("service",))


_XML = '<?xml version="1.0" encoding="UTF-8" ?>\n'
# Koha up to ~20.x named the hold dates so, and VuFind's KohaILSDI driver still sends them.
LEGACY_HOLD_DATES = ("needed_before_date", "pickup_expiry_date")

SERVICES: dict[str, Service] = {s.name: s for s in (
    Service("GetAvailability", ("id", "id_type"), ("return_type", "return_fmt", "language"),
            "Availability of items, by item numbers (id_type=item) or record numbers (id_type=bib); "
            "several ids are separated by spaces. Answers DLF simple-availability XML.",
            "service=GetAvailability&id=1+2&id_type=bib",
            _XML + '<dlf:collection xmlns:dlf="http://diglib.org/ilsdi/1.1">\n  <dlf:record>\n'
            '    <dlf:bibliographic id="1"/>\n    <dlf:items>\n      <dlf:item id="1">\n'
            '        <dlf:simpleavailability>\n          <dlf:identifier>1</dlf:identifier>\n'
            '          <dlf:availabilitystatus>not available</dlf:availabilitystatus>\n'
            '          <dlf:availabilitymsg>Checked out</dlf:availabilitymsg>\n'
            '          <dlf:location>Centerville</dlf:location>\n'
            '          <dlf:itemcallnumber>577.7 COR</dlf:itemcallnumber>\n'
            '        </dlf:simpleavailability>\n      </dlf:item>\n    </dlf:items>\n  </dlf:record>\n'
            '</dlf:collection>'),
    Service("GetRecords", ("id",), ("schema",),
            "Records with their MARCXML (items embedded), items, current holds and current loans. "
            "Several ids are separated by spaces; schema must be MARCXML.",
            "service=GetRecords&id=1+2",
            _XML + "<GetRecords>\n  <record>\n    <biblionumber>1</biblionumber>\n    <marcxml>&lt;record "
            "xmlns=\"http://www.loc.gov/MARC21/slim\"&gt;...</marcxml>\n    <items>\n      <item>\n"
            "        <itemnumber>1</itemnumber>\n        <homebranchname>Centerville</homebranchname>\n"
            "      </item>\n    </items>\n  </record>\n  <record>\n    <code>RecordNotFound</code>\n"
            "  </record>\n</GetRecords>"),
    Service("GetAuthorityRecords", ("id",), ("schema",),
            "Authority records as MARCXML; several ids are separated by spaces.",
            "service=GetAuthorityRecords&id=1",
            _XML + "<GetAuthorityRecords>\n  <record>&lt;?xml version=\"1.0\" encoding=\"UTF-8\"?&gt;\n&lt;record ...&gt;</record>\n"
            "</GetAuthorityRecords>"),
    Service("LookupPatron", ("id",), ("id_type",),
            "The patron number for an identifier. id_type is a patron field (cardnumber, userid, email, "
            "borrowernumber, surname, firstname...); without it those six are tried in turn.",
            "service=LookupPatron&id=23529000035676&id_type=cardnumber",
            _XML + "<LookupPatron>\n  <id>1</id>\n</LookupPatron>"),
    Service("AuthenticatePatron", ("username", "password"), (),
            "Checks a patron's password (username is the userid or the cardnumber); answers the patron number.",
            "service=AuthenticatePatron&username=alice&password=secret",
            _XML + "<AuthenticatePatron>\n  <id>1</id>\n</AuthenticatePatron>"),
    Service("GetPatronInfo", ("patron_id",),
            ("show_contact", "show_fines", "show_holds", "show_loans", "loans_per_page", "loans_page",
             "show_attributes"),
            "A patron's record; show_contact=0 hides contact fields, show_fines=1, show_holds=1, show_loans=1 "
            "(with loans_per_page and loans_page) and show_attributes=1 add those lists.",
            "service=GetPatronInfo&patron_id=1&show_holds=1&show_loans=1",
            _XML + "<GetPatronInfo>\n  <borrowernumber>1</borrowernumber>\n  <cardnumber>A1</cardnumber>\n"
            "  <charges>0.00</charges>\n  <branchname>Centerville</branchname>\n  <loans>\n    <loan>\n"
            "      <itemnumber>1</itemnumber>\n      <date_due>2026-12-19 23:59:00</date_due>\n    </loan>\n"
            "  </loans>\n  <is_expired>0</is_expired>\n</GetPatronInfo>"),
    Service("GetPatronStatus", ("patron_id",), (),
            "A patron's category (type), status (always 0, as Koha) and card expiry date.",
            "service=GetPatronStatus&patron_id=1",
            _XML + "<GetPatronStatus>\n  <type>PT</type>\n  <status>0</status>\n  <expiry>2027-09-24</expiry>\n"
            "</GetPatronStatus>"),
    Service("GetServices", ("patron_id", "item_id"), (),
            "What a patron can do with an item: title level hold, item level hold, hold cancellation, "
            "loan renewal.",
            "service=GetServices&patron_id=1&item_id=1",
            _XML + "<GetServices>\n  <AvailableFor>title level hold</AvailableFor>\n"
            "  <AvailableFor>item level hold</AvailableFor>\n</GetServices>"),
    Service("RenewLoan", ("patron_id", "item_id"), ("desired_due_date",),
            "Renews a patron's loan of an item if the circulation rules allow it; answers the renewal count, "
            "the due date, success 1/0 and, when refused, the reason in error (too_many, on_reserve, "
            "restriction, overdue, card_expired, too_soon...) with code NotRenewable. desired_due_date is "
            "accepted and ignored, as in Koha.",
            "service=RenewLoan&patron_id=1&item_id=1",
            _XML + "<RenewLoan>\n  <renewals>1</renewals>\n  <date_due>2027-01-02 23:59</date_due>\n"
            "  <success>1</success>\n</RenewLoan>"),
    Service("HoldTitle", ("patron_id", "bib_id", "request_location"),
            ("pickup_location", "start_date", "expiry_date") + LEGACY_HOLD_DATES,
            "Places a hold on a record (the next available item) for pickup at pickup_location (default: "
            "the patron's library). request_location is required but unused, as in Koha. Dates are YYYY-MM-DD; "
            "needed_before_date (= expiry_date) and pickup_expiry_date (ignored) of Koha before 20.11 are "
            "accepted for older clients.",
            "service=HoldTitle&patron_id=1&bib_id=1&request_location=127.0.0.1&pickup_location=CPL",
            _XML + "<HoldTitle>\n  <title>Coral reefs</title>\n  <pickup_location>Centerville</pickup_location>\n"
            "</HoldTitle>"),
    Service("HoldItem", ("patron_id", "bib_id", "item_id"),
            ("pickup_location", "start_date", "expiry_date") + LEGACY_HOLD_DATES,
            "Places a hold on one item of a record (parameters as HoldTitle).",
            "service=HoldItem&patron_id=1&bib_id=1&item_id=1&pickup_location=CPL",
            _XML + "<HoldItem>\n  <pickup_location>Centerville</pickup_location>\n</HoldItem>"),
    Service("CancelHold", ("patron_id", "item_id"), (),
            "Cancels a patron's hold; item_id is the hold's id (reserve_id), as in Koha.",
            "service=CancelHold&patron_id=1&item_id=1",
            _XML + "<CancelHold>\n  <code>Canceled</code>\n</CancelHold>"),
)}

# The DLF levels as Koha's self-documentation lists them, with what is not offered here and why.
LEVELS = (
    ("Level 1: Basic Discovery Interfaces", (
        ("HarvestBibliographicRecords", "Use OAI-PMH instead"), ("HarvestExpandedRecords", "Use OAI-PMH instead"),
        ("GetAvailability", None), ("GoToBibliographicRequestPage", "Use the OPAC instead"))),
    ("Level 2: Elementary OPAC supplement", (
        ("HarvestAuthorityRecords", "Use OAI-PMH instead"), ("HarvestHoldingsRecords", "Use OAI-PMH instead"),
        ("GetRecords", None), ("Search", "Use SRU instead"), ("Scan", "Use SRU instead"),
        ("GetAuthorityRecords", None), ("OutputRewritablePage", "Not supported yet"),
        ("OutputIntermediateFormat", "Not supported yet"))),
    ("Level 3: Elementary OPAC alternative", (
        ("LookupPatron", None), ("AuthenticatePatron", None), ("GetPatronInfo", None), ("GetPatronStatus", None),
        ("GetServices", None), ("RenewLoan", None), ("HoldTitle", None), ("HoldItem", None),
        ("CancelHold", None), ("RecallItem", "Not supported by Koha"), ("CancelRecall", "Not supported by Koha"))),
    ("Level 4: Robust/domain specific discovery platforms", (
        ("SearchCourseReserves", "Not supported yet"), ("Explain", "Not supported yet"))),
)


@dataclass(frozen=True)
class ProtocolError:
    code: str
    message: str


def check_parameters(service: Service, params: list[tuple[str, str]]) -> ProtocolError | None:
    """Koha's three checks in Koha's order; as there, the last problem found is the one reported."""
    names = [name for name, _ in params]
    present = set(names)
    error = None
    for name in service.required:
        if name not in present:
            error = ProtocolError("MissingParameter", f"The required parameter {name} is missing.")
    for name in dict.fromkeys(names):
        if name not in service.allowed:
            error = ProtocolError("IllegalParameter", f"The parameter {name} is illegal.")
    for name in dict.fromkeys(names):
        if names.count(name) > 1:
            error = ProtocolError("MultipleValuesNotAllowed", f"Multiple values not allowed for the parameter {name}.")
    return error


# services whose ``id`` is a space-separated list
ID_LISTS = frozenset({"GetAvailability", "GetRecords", "GetAuthorityRecords"})


def check_id_count(service: Service, values: dict[str, str], max_ids: int) -> ProtocolError | None:
    """IllegalParameter when an id list holds more distinct ids than ``ilsdi.max_ids`` (repeats
    count once: they are answered once)."""
    if service.name not in ID_LISTS:
        return None
    count = len(set(values.get("id", "").split()))
    if count > max_ids:
        return ProtocolError("IllegalParameter", f"The parameter id is illegal: {count} ids, at most {max_ids}.")
    return None
