"""A patron's account (Koha's accountlines): ``/patrons/{patron_id}/account`` (balance and
outstanding lines), ``.../account/debits`` and ``.../account/credits`` (lists; POST a payment).

Debits are lines with a debit type (positive amounts), credits lines with a credit type
(negative amounts, as in Koha). A payment is applied to the given debits, or to the oldest
outstanding ones, and keeps what is left over as an outstanding credit.
"""

from __future__ import annotations

from decimal import Decimal

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ...models import AccountLine, Library, Patron, utcnow
from ..errors import ApiError
from ..library_context import acting_library
from ..listing import Field, Resource
from ..service import ApiService, path

ACCOUNT_LINE = Resource("account_line", AccountLine, [
    Field("account_line_id", AccountLine.accountlines_id, "integer", nullable=False),
    Field("checkout_id", AccountLine.issue_id, "integer"),
    Field("patron_id", AccountLine.borrowernumber, "integer"),
    Field("item_id", AccountLine.itemnumber, "integer"),
    Field("date", AccountLine.date, "date-time", nullable=False),
    Field("amount", AccountLine.amount, "number", nullable=False),
    Field("amount_outstanding", AccountLine.amountoutstanding, "number", nullable=False),
    Field("description", AccountLine.description, "string"),
    Field("note", AccountLine.note, "string"),
    Field("debit_type", AccountLine.debit_type_code, "string"),
    Field("credit_type", AccountLine.credit_type_code, "string"),
    Field("payment_type", AccountLine.payment_type, "string"),
    Field("status", AccountLine.status, "string"),
    Field("interface", AccountLine.interface, "string"),
    Field("library_id", AccountLine.branchcode, "string"),
    Field("manager_id", AccountLine.manager_id, "integer"),
    Field("timestamp", AccountLine.timestamp, "date-time", nullable=False),
], id_field="account_line_id", strings={"library_id": "library"})

PATRON_ID = path("patron_id")
LINES = {"type": "object", "required": ["total", "lines"], "additionalProperties": False,
         "properties": {"total": {"type": "number"}, "lines": {"type": "array", "items": ACCOUNT_LINE.schema()}}}
ACCOUNT = {"type": "object", "required": ["balance", "outstanding_debits", "outstanding_credits"],
           "additionalProperties": False,
           "properties": {"balance": {"type": "number"}, "outstanding_debits": LINES, "outstanding_credits": LINES}}

account = ApiService("patron_account", "/patrons/{patron_id}/account", tag="patrons")
debits = ApiService("patron_account_debits", "/patrons/{patron_id}/account/debits", tag="patrons")
credits = ApiService("patron_account_credits", "/patrons/{patron_id}/account/credits", tag="patrons")


def require_patron(request: Request) -> Patron:
    row = request.dbsession.get(Patron, request.validated["patron_id"])
    if row is None:
        raise ApiError(404, "Patron not found", "not_found")
    return row


def account_of(session, patron_id: int) -> dict:
    """Koha's patron account: balance, and the outstanding debits and credits with their totals."""
    lines = session.scalars(select(AccountLine).where(AccountLine.borrowernumber == patron_id)
                            .where(AccountLine.amountoutstanding != 0)
                            .order_by(AccountLine.date, AccountLine.accountlines_id)).all()
    owed = [line for line in lines if line.amountoutstanding > 0]
    credit = [line for line in lines if line.amountoutstanding < 0]
    owed_total = sum((line.amountoutstanding for line in owed), Decimal(0))
    credit_total = sum((line.amountoutstanding for line in credit), Decimal(0))
    return {
        "balance": float(owed_total + credit_total),
        "outstanding_debits": {"total": float(owed_total), "lines": [ACCOUNT_LINE.to_api(r) for r in owed]},
        "outstanding_credits": {"total": float(credit_total), "lines": [ACCOUNT_LINE.to_api(r) for r in credit]},
    }


# Koha's patrons_account.yaml asks for both
@account.operation("GET", permission=("borrowers:edit_borrowers", "updatecharges:remaining_permissions"),
                   summary="A patron's account balance and outstanding lines",
                   parameters=[PATRON_ID], responses={200: ACCOUNT})
def get_account(request: Request):
    return account_of(request.dbsession, require_patron(request).borrowernumber)


@debits.operation("GET", permission="borrowers:edit_borrowers", summary="List a patron's debits (fines and fees)",
                  parameters=[PATRON_ID, *ACCOUNT_LINE.list_params(exclude=["patron_id"])],
                  responses={200: {"type": "array", "items": ACCOUNT_LINE.schema()}},
                  response_headers=ACCOUNT_LINE.headers_schema())
def list_debits(request: Request):
    patron = require_patron(request)
    return ACCOUNT_LINE.list(request, select(AccountLine).where(AccountLine.borrowernumber == patron.borrowernumber)
                             .where(AccountLine.debit_type_code.is_not(None)))


@credits.operation("GET", permission="borrowers:edit_borrowers", summary="List a patron's credits (payments, write-offs)",
                   parameters=[PATRON_ID, *ACCOUNT_LINE.list_params(exclude=["patron_id"])],
                   responses={200: {"type": "array", "items": ACCOUNT_LINE.schema()}},
                   response_headers=ACCOUNT_LINE.headers_schema())
def list_credits(request: Request):
    patron = require_patron(request)
    return ACCOUNT_LINE.list(request, select(AccountLine).where(AccountLine.borrowernumber == patron.borrowernumber)
                             .where(AccountLine.credit_type_code.is_not(None)))


MONEY = {"type": "number", "exclusiveMinimum": 0, "maximum": 999999999}
CREDIT_BODY = {
    "type": "object",
    "required": ["amount"],
    "additionalProperties": False,
    "properties": {
        "amount": MONEY,
        "credit_type": {"type": "string", "enum": ["PAYMENT", "WRITEOFF", "CREDIT", "FORGIVEN"]},
        "payment_type": {"type": ["string", "null"], "maxLength": 80},
        "description": {"type": ["string", "null"], "maxLength": 1000},
        "note": {"type": ["string", "null"], "maxLength": 1000},
        "library_id": {"type": ["string", "null"], "maxLength": 10},
        "account_lines_ids": {"type": "array", "maxItems": 1000,
                              "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},
    },
}


@credits.operation("POST", permission="updatecharges:remaining_permissions", summary="Add a credit (pay, write off) to a patron's account",
                   description="Applied to `account_lines_ids` when given (debits of this patron), else to the "
                               "oldest outstanding debits; what is left stays as an outstanding credit.",
                   parameters=[PATRON_ID], body=CREDIT_BODY, responses={201: ACCOUNT_LINE.schema()})
def add_credit(request: Request):
    patron = require_patron(request)
    body = request.validated["body"]
    session = request.dbsession
    library_id = body.get("library_id") or acting_library(request)
    if library_id is not None and session.get(Library, library_id) is None:
        raise ApiError(400, f"Unknown library {library_id!r}", "invalid_value")
    query = select(AccountLine).where(AccountLine.borrowernumber == patron.borrowernumber) \
        .where(AccountLine.amountoutstanding > 0).order_by(AccountLine.date, AccountLine.accountlines_id)
    wanted = body.get("account_lines_ids")
    if wanted:
        query = query.where(AccountLine.accountlines_id.in_(wanted))
    left = Decimal(str(body["amount"])).quantize(Decimal("0.000001"))
    identity = request.kohaweb_identity
    now = utcnow()
    for debit in session.scalars(query).all():
        if left <= 0:
            break
        applied = min(left, debit.amountoutstanding)
        debit.amountoutstanding -= applied
        debit.timestamp = now
        left -= applied
    credit_type = body.get("credit_type", "PAYMENT")
    line = AccountLine(borrowernumber=patron.borrowernumber, date=now, amount=-Decimal(str(body["amount"])),
                       amountoutstanding=-left, description=body.get("description"), note=body.get("note"),
                       credit_type_code=credit_type, payment_type=body.get("payment_type"),
                       status=None, interface="api", branchcode=library_id,
                       manager_id=identity.patron_id if identity is not None else None, timestamp=now)
    session.add(line)
    session.flush()
    response = Response(status=201, json_body=ACCOUNT_LINE.to_api(line))
    response.location = request.route_url("api:patron_account_credits", patron_id=patron.borrowernumber)
    return response


SERVICES = [account, debits, credits]
