"""``x-koha-library``: the library a Basic or bearer request acts for, checked as Koha does
(an unknown library, or one the caller may not act for under IndependentBranches, is 403), and
the default of a checkout's library, a credit's library and a hold's pickup library."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_api import session_headers

from kohaweb.models import AccountLine, Checkout, Hold, Item
from kohaweb.preferences import set_preference


@pytest.fixture
def people(staff_people):
    # every one of them belongs to CPL
    return staff_people(desk=("circulate", "reserveforothers", "borrowers", "updatecharges"),
                        root=("superlibrarian",), reader=())


@pytest.fixture
def items(dbsession, sample_records):
    biblio_id = sample_records(1)[0]
    return biblio_id, dbsession.scalars(select(Item).where(Item.biblionumber == biblio_id)
                                        .order_by(Item.itemnumber)).all()


def test_header_checked_before_anything_else(api, people, dbsession):
    unknown = api.get("/api/v1/holds", headers={**people["desk"], "x-koha-library": "NOPE"}, status=403).json
    assert unknown["error"] == "Unauthorized attempt to set library to NOPE"
    # refused before the parameters are even read (Koha's order)
    api.get("/api/v1/holds?nonsense=1", headers={**people["desk"], "x-koha-library": "NOPE"}, status=403)
    api.get("/api/v1/holds?nonsense=1", headers={**people["desk"], "x-koha-library": "FFL"}, status=400)
    api.get("/api/v1/holds", headers={**people["desk"], "x-koha-library": "x" * 300}, status=403)
    # any library while IndependentBranches is off; with it, only one's own, except a superlibrarian
    api.get("/api/v1/holds", headers={**people["desk"], "x-koha-library": "FFL"})
    set_preference(dbsession, "IndependentBranches", "1")
    dbsession.commit()
    api.get("/api/v1/holds", headers={**people["desk"], "x-koha-library": "FFL"}, status=403)
    api.get("/api/v1/holds", headers={**people["desk"], "x-koha-library": "CPL"})
    api.get("/api/v1/holds", headers={**people["root"], "x-koha-library": "FFL"})
    # a patron's public routes too (Koha sets the library for every authenticated request)
    own = f"/api/v1/public/patrons/{people['reader_id']}/holds"
    api.get(own, headers={**people["reader"], "x-koha-library": "FFL"}, status=403)
    api.get(own, headers={**people["reader"], "x-koha-library": "CPL"})
    # a staff session keeps its own library: the header is not read (as Koha's cookie sessions)
    session = session_headers(api, *people["desk_login"])
    api.get("/api/v1/holds", headers={**session, "x-koha-library": "NOPE"})


def test_header_is_the_library_of_staff_actions(api, people, items, dbsession):
    biblio_id, rows = items
    reader_id = people["reader_id"]
    made = api.post_json("/api/v1/checkouts", {"patron_id": reader_id, "item_id": rows[0].itemnumber},
                         headers={**people["desk"], "x-koha-library": "FFL"}, status=201).json
    assert made["library_id"] == "FFL"
    # without the header: the caller's home library (Koha's user environment)
    made = api.post_json("/api/v1/checkouts", {"patron_id": reader_id, "item_id": rows[1].itemnumber},
                         headers=people["desk"], status=201).json
    assert made["library_id"] == "CPL"
    # the body's library_id still wins over the header
    made = api.post_json("/api/v1/checkouts", {"patron_id": reader_id, "item_id": rows[2].itemnumber,
                                               "library_id": "CPL"},
                         headers={**people["desk"], "x-koha-library": "FFL"}, status=201).json
    assert made["library_id"] == "CPL"
    dbsession.rollback()
    assert sorted(c.branchcode for c in dbsession.scalars(select(Checkout))) == ["CPL", "CPL", "FFL"]

    hold = api.post_json("/api/v1/holds", {"patron_id": reader_id, "biblio_id": biblio_id},
                         headers={**people["desk"], "x-koha-library": "FFL", "x-koha-override": "any"},
                         status=201).json
    assert hold["pickup_library_id"] == "FFL"
    dbsession.rollback()
    assert dbsession.get(Hold, hold["hold_id"]).branchcode == "FFL"

    credit = api.post_json(f"/api/v1/patrons/{reader_id}/account/credits", {"amount": 2, "credit_type": "PAYMENT"},
                           headers={**people["desk"], "x-koha-library": "FFL"}, status=201).json
    dbsession.rollback()
    assert dbsession.get(AccountLine, credit["account_line_id"]).branchcode == "FFL"
