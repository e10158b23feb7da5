"""`kohaweb user`: whole modules and Koha's sub-permissions (module:code), granted and listed as
the REST layer checks them, on the three databases."""

from __future__ import annotations

import io

from sqlalchemy import select

from kohaweb.models import Patron, PatronPermission


def test_add_grant_and_list_sub_permissions(run_cli, reference_data, dbsession, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    status, out, err = run_cli("user", "add", "clerk", "-p", "catalogue", "-p", "reserveforothers:place_holds")
    assert status == 0, err
    assert "catalogue, reserveforothers:place_holds" in out
    status, out, err = run_cli("user", "grant", "clerk", "-p", "parameters:manage_patron_categories")
    assert status == 0, err
    assert out == ("clerk now has catalogue, parameters:manage_patron_categories, "
                   "reserveforothers:place_holds\n")
    # stored as Koha stores a sub-permission: the module's bit and the code
    patron = dbsession.scalar(select(Patron).where(Patron.userid == "clerk"))
    rows = dbsession.scalars(select(PatronPermission).where(PatronPermission.borrowernumber == patron.borrowernumber)
                             .order_by(PatronPermission.code)).all()
    assert [(r.module_bit, r.code) for r in rows if r.module_bit is not None] == \
        [(3, "manage_patron_categories"), (6, "place_holds")]
    assert run_cli("user", "permissions", "clerk")[1] == \
        "catalogue\nparameters:manage_patron_categories\nreserveforothers:place_holds\n"

    known = run_cli("user", "permissions")[1].splitlines()
    assert "reserveforothers" in known and "reserveforothers:modify_holds_priority" in known
    assert known.index("borrowers:api_validate_password") > known.index("borrowers")

    status, _, err = run_cli("user", "grant", "clerk", "-p", "reserveforothers:fly")
    assert status == 1 and "reserveforothers:fly" in err
    status, _, err = run_cli("user", "grant", "nobody", "-p", "catalogue")
    assert status == 1 and "no patron" in err
