"""The whole journey of a discovery layer, with the loan made at the command line:
look up the patron -> authenticate -> get info -> hold a title -> see it -> cancel it ->
check out with `kohaweb circ checkout` -> renew until the limit -> NotRenewable."""

from __future__ import annotations

from kohaweb.cli import main as kohaweb_cli
from kohaweb.testing import TEST_SECRET

from .conftest import PASSWORD

DLF = {"dlf": "http://diglib.org/ilsdi/1.1"}


def _ini(tmp_path, database_url: str) -> str:
    path = tmp_path / "kohaweb.ini"
    path.write_text("[app:main]\nuse = egg:kohaweb\n"
                    f"kohaweb.database_url = {database_url.replace('%', '%%')}\n"
                    f"kohaweb.secret = {TEST_SECRET}\n", encoding="utf-8")
    return str(path)


def test_discovery_layer_journey(call, library, dbsession, database_url, tmp_path, capsys):
    ini = _ini(tmp_path, database_url)

    patron_id = call("LookupPatron", id="A0001", id_type="cardnumber").findtext("id")
    assert patron_id == str(library["alice"])
    assert call("AuthenticatePatron", username="alice", password=PASSWORD).findtext("id") == patron_id
    info = call("GetPatronInfo", patron_id=patron_id)
    assert (info.findtext("surname"), info.findtext("is_expired")) == ("Smith", "0")

    held = call("HoldTitle", patron_id=patron_id, bib_id=library["book"], request_location="127.0.0.1",
                pickup_location="CPL")
    assert held.find("code") is None and held.findtext("title") == "Coral reefs"
    holds = call("GetPatronInfo", patron_id=patron_id, show_holds="1").findall("holds/hold")
    assert [(h.findtext("biblionumber"), h.findtext("branchcode"), h.findtext("title")) for h in holds] == \
        [(str(library["book"]), "CPL", "Coral reefs")]
    reserve_id = holds[0].findtext("reserve_id")
    assert call("CancelHold", patron_id=patron_id, item_id=reserve_id).findtext("code") == "Canceled"
    assert call("GetPatronInfo", patron_id=patron_id, show_holds="1").find("holds/hold") is None

    assert kohaweb_cli(["-c", ini, "circ", "checkout", "A0001", "B1"]) == 0
    assert "checked out item" in capsys.readouterr().out
    loans = call("GetPatronInfo", patron_id=patron_id, show_loans="1").findall("loans/loan")
    assert [(loan.findtext("barcode"), loan.findtext("renewals_count")) for loan in loans] == [("B1", "0")]
    availability = call("GetAvailability", id=library["b1"], id_type="item")
    assert availability.findtext(".//dlf:availabilitymsg", namespaces=DLF) == "Checked out"
    services = call("GetServices", patron_id=patron_id, item_id=library["b1"])
    assert "loan renewal" in [e.text for e in services.findall("AvailableFor")]

    dues = []
    for expected in ("1", "2"):  # books: two renewals allowed by the default rules
        renewed = call("RenewLoan", patron_id=patron_id, item_id=library["b1"])
        assert (renewed.findtext("success"), renewed.findtext("renewals")) == ("1", expected)
        dues.append(renewed.findtext("date_due"))
    assert dues[0] < dues[1]
    refused = call("RenewLoan", patron_id=patron_id, item_id=library["b1"])
    assert (refused.findtext("success"), refused.findtext("error"), refused.findtext("code")) == \
        ("0", "too_many", "NotRenewable")
    assert (refused.findtext("renewals"), refused.findtext("date_due")) == ("2", dues[1])
    services = call("GetServices", patron_id=patron_id, item_id=library["b1"])
    assert "loan renewal" not in [e.text for e in services.findall("AvailableFor")]

    # the CLI applies the same rule, then returns the item
    assert kohaweb_cli(["-c", ini, "circ", "renew", "B1"]) == 1
    assert "too_many" in capsys.readouterr().err
    assert kohaweb_cli(["-c", ini, "circ", "checkin", "B1"]) == 0
    availability = call("GetAvailability", id=library["b1"], id_type="item")
    assert availability.findtext(".//dlf:availabilitystatus", namespaces=DLF) == "available"
    assert call("GetPatronInfo", patron_id=patron_id, show_loans="1").find("loans/loan") is None


def test_cli_refusals(library, dbsession, database_url, tmp_path, capsys):
    ini = _ini(tmp_path, database_url)
    assert kohaweb_cli(["-c", ini, "circ", "checkout", "nobody", "B1"]) == 1
    assert "no patron" in capsys.readouterr().err
    assert kohaweb_cli(["-c", ini, "circ", "checkout", "alice", "ZZZ"]) == 1
    assert "no item" in capsys.readouterr().err
    assert kohaweb_cli(["-c", ini, "circ", "checkout", "alice", "B1", "--due", "soon"]) == 1
    assert "--due" in capsys.readouterr().err
    assert kohaweb_cli(["-c", ini, "circ", "checkout", "alice", "B1", "--library", "XX"]) == 1
    assert kohaweb_cli(["-c", ini, "circ", "checkin", "B1"]) == 1
    assert "not_checked_out" in capsys.readouterr().err
    assert kohaweb_cli(["-c", ini, "circ", "checkout", "alice", "B1", "--due", "2031-05-01"]) == 0
    assert "due 2031-05-01 23:59" in capsys.readouterr().out
    assert kohaweb_cli(["-c", ini, "circ", "checkout", "bob", "B1"]) == 1
    assert "ISSUED_TO_ANOTHER" in capsys.readouterr().err


def test_cli_checkin_sets_item_aside_for_a_hold(call, library, dbsession, database_url, tmp_path, capsys):
    ini = _ini(tmp_path, database_url)
    assert kohaweb_cli(["-c", ini, "circ", "checkout", "alice", "B1"]) == 0
    held = call("HoldTitle", patron_id=library["bob"], bib_id=library["book"], request_location="x",
                pickup_location="CPL")
    assert held.find("code") is None
    capsys.readouterr()
    assert kohaweb_cli(["-c", ini, "circ", "checkin", "B1", "--library", "CPL"]) == 0
    assert f"of patron {library['bob']}: waiting at CPL" in capsys.readouterr().out
    hold = call("GetPatronInfo", patron_id=library["bob"], show_holds="1").find("holds/hold")
    assert (hold.findtext("found"), hold.findtext("itemnumber"), hold.findtext("priority")) == \
        ("W", str(library["b1"]), "0")
    availability = call("GetAvailability", id=library["b1"], id_type="item")
    assert availability.findtext(".//dlf:availabilitymsg", namespaces=DLF) == "On hold"
    # waiting holds cannot be cancelled from the discovery layer
    reserve_id = hold.findtext("reserve_id")
    assert call("CancelHold", patron_id=library["bob"], item_id=reserve_id).findtext("code") == \
        "BorrowerCannotCancelHold"
