"""Staff services on a patron: ``/patrons/{patron_id}/password``, ``/patrons/{patron_id}/holds``,
``/patrons/{patron_id}/checkouts``, and ``/auth/password/validation`` (check a patron's
credentials, as discovery layers do to sign their users in).

Passwords follow Koha's policy: no leading or trailing spaces, at least minPasswordLength
characters (8 unless the preference says otherwise) and, with RequireStrongPassword (on unless
0), upper and lower case letters and a digit.
"""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from ... import auth
from ...models import Checkout, Hold, Patron
from ...preferences import get_preference
from ..errors import ApiError
from ..service import ApiService, path
from .accounts import require_patron
from .checkouts import CHECKOUT
from .holds import HOLD

PATRON_ID = path("patron_id")
PASSWORD = {"type": "string", "minLength": 1, "maxLength": 255}

password = ApiService("patron_password", "/patrons/{patron_id}/password", tag="patrons")
patron_holds = ApiService("patron_holds", "/patrons/{patron_id}/holds", tag="holds")
patron_checkouts = ApiService("patron_checkouts", "/patrons/{patron_id}/checkouts", tag="checkouts")
validation = ApiService("password_validation", "/auth/password/validation", tag="auth")


def password_problem(session, patron: Patron, new: str) -> str | None:
    """Why Koha would refuse ``new`` as ``patron``'s password, or None."""
    if new != new.strip():
        return "Password contains leading and/or trailing spaces"
    try:
        minimum = int(get_preference(session, "minPasswordLength", "8") or 0)
    except ValueError:
        minimum = 8
    if len(new) < minimum:
        return f"Password length ({len(new)}) is shorter than required ({minimum})"
    if get_preference(session, "RequireStrongPassword", "1") != "0" and not (
            any(c.isupper() for c in new) and any(c.islower() for c in new) and any(c.isdigit() for c in new)):
        return "Password is too weak"
    return None


def change_password(request: Request, patron: Patron, new: str) -> None:
    problem = password_problem(request.dbsession, patron, new)
    if problem is not None:
        raise ApiError(400, problem, "invalid_password")
    auth.set_password(request.dbsession, patron, new)
    request.dbsession.flush()


PASSWORD_BODY = {"type": "object", "required": ["password", "password_2"], "additionalProperties": False,
                 "properties": {"password": PASSWORD, "password_2": PASSWORD}}


@password.operation("POST", permission="borrowers", summary="Set a patron's password",
                    description="`password_2` must repeat `password`; Koha's password policy applies "
                                "(400 with the reason). Every session and token of the patron ends.",
                    parameters=[PATRON_ID], body=PASSWORD_BODY, responses={200: {"type": "string"}})
def set_patron_password(request: Request):
    patron = require_patron(request)
    body = request.validated["body"]
    if body["password"] != body["password_2"]:
        raise ApiError(400, "Passwords don't match", "passwords_mismatch")
    change_password(request, patron, body["password"])
    return ""


@patron_holds.operation("GET", permission="borrowers:edit_borrowers", summary="List a patron's holds",
                        parameters=[PATRON_ID, *HOLD.list_params(exclude=["patron_id"])],
                        responses={200: {"type": "array", "items": HOLD.schema()}},
                        response_headers=HOLD.headers_schema())
def list_patron_holds(request: Request):
    patron = require_patron(request)
    return HOLD.list(request, select(Hold).where(Hold.borrowernumber == patron.borrowernumber))


@patron_checkouts.operation("GET", permission="circulate:circulate_remaining_permissions", summary="List a patron's current checkouts",
                            parameters=[PATRON_ID, *CHECKOUT.list_params(exclude=["patron_id"])],
                            responses={200: {"type": "array", "items": CHECKOUT.schema()}},
                            response_headers=CHECKOUT.headers_schema())
def list_patron_checkouts(request: Request):
    patron = require_patron(request)
    return CHECKOUT.list(request, select(Checkout).where(Checkout.borrowernumber == patron.borrowernumber))


VALIDATION_BODY = {
    "type": "object", "required": ["password"], "additionalProperties": False,
    "anyOf": [{"required": ["identifier"]}, {"required": ["userid"]}, {"required": ["cardnumber"]}],
    "properties": {"identifier": {"type": "string", "maxLength": 255}, "userid": {"type": "string", "maxLength": 255},
                   "cardnumber": {"type": "string", "maxLength": 255}, "password": {"type": "string", "maxLength": 255}},
}
VALIDATED = {"type": "object", "required": ["cardnumber", "patron_id", "userid"], "additionalProperties": False,
             "properties": {"cardnumber": {"type": ["string", "null"]}, "patron_id": {"type": "integer"},
                            "userid": {"type": ["string", "null"]}}}


@validation.operation("POST", permission="borrowers:api_validate_password", summary="Check a patron's login and password",
                      description="`identifier` is a userid or a cardnumber (or give `userid` / `cardnumber`). "
                                  "201 with the patron's ids when right; 400 `Validation failed` when wrong "
                                  "(throttled as every sign-in).",
                      body=VALIDATION_BODY, responses={201: VALIDATED})
def validate_password(request: Request):
    body = request.validated["body"]
    login = body.get("identifier") or body.get("userid") or body.get("cardnumber") or ""
    if "userid" in body and "identifier" not in body:
        found = request.dbsession.scalar(select(Patron).where(Patron.userid == body["userid"]))
        login = body["userid"] if found is not None else ""
    try:
        patron = auth.sign_in(request, login, body["password"])
    except auth.LoginThrottled as exc:
        response = Response(status=400, json_body={"error": "Validation failed", "error_code": "throttled"})
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except auth.AccessRefused as exc:
        raise ApiError(400, "Validation failed", "access_refused", details=str(exc)) from None
    except auth.InvalidCredentials:
        raise ApiError(400, "Validation failed", "validation_failed") from None
    return Response(status=201, json_body={"cardnumber": patron.cardnumber, "patron_id": patron.borrowernumber,
                                           "userid": patron.userid})


SERVICES = [password, patron_holds, patron_checkouts, validation]
