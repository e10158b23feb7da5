"""First-run set-up (`kohaweb init`) and the reference-table commands, as an administrator of a
new production catalogue uses them: no sample data anywhere."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from kohaweb.auth import authenticate_password
from kohaweb.circulation import get_rule
from kohaweb.models import ItemType, Library, PatronCategory
from kohaweb.preferences import get_preference

DEFINITION = """\
libraries:
  - {code: MAIN, name: Main Library, city: Springfield, marc_org_code: US-SpL}
  - {code: EAST, name: East Branch, pickup_location: false}
item_types:
  - {code: BK, description: Books}
  - {code: REF, description: Reference, not_for_loan: true}
patron_categories:
  - {code: ST, description: Staff, type: S}
  - {code: PT, description: Patron, enrolment_period: 24}
circulation:
  issuelength: 28
  renewalsallowed: 3
preferences:
  OPACBaseURL: https://catalogue.example.org
superlibrarian:
  userid: admin
  surname: Administrator
  library: MAIN
"""


@pytest.fixture
def definition(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(DEFINITION)
    return str(path)


@pytest.fixture
def password(monkeypatch):
    def give(text: str) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))
    return give


def test_init_from_a_definition_builds_a_working_catalogue(run_cli, definition, password, dbsession):
    password("a long enough password")
    status, out, err = run_cli("init", "--from", definition)
    assert status == 0, err
    assert "created library MAIN" in out and "created superlibrarian admin" in out
    assert err == ""  # nothing missing

    assert sorted(dbsession.scalars(select(Library.branchcode))) == ["EAST", "MAIN"]
    assert dbsession.get(Library, "MAIN").marcorgcode == "US-SpL"
    assert dbsession.get(Library, "EAST").pickup_location is False
    assert dbsession.get(ItemType, "REF").notforloan is True
    assert dbsession.get(PatronCategory, "PT").enrolmentperiod == 24
    assert dbsession.get(PatronCategory, "ST").category_type == "S"
    assert get_rule(dbsession, "issuelength", branchcode="MAIN", categorycode="PT", itemtype="BK") == "28"
    assert get_preference(dbsession, "opacbaseurl") == "https://catalogue.example.org"
    admin = authenticate_password(dbsession, "admin", "a long enough password")
    assert admin is not None and admin.categorycode == "ST"  # the staff-type category was chosen
    assert {p.code for p in admin.permissions} == {"superlibrarian"}


def test_init_twice_changes_nothing_that_exists(run_cli, definition, password, dbsession):
    password("a long enough password")
    assert run_cli("init", "--from", definition)[0] == 0
    status, out, _ = run_cli("library", "add", "WEST", "West Branch")
    assert status == 0
    dbsession.get(Library, "MAIN").branchname = "Renamed by staff"
    dbsession.commit()

    status, out, err = run_cli("init", "--from", definition)  # no password asked: admin exists
    assert status == 0, err
    assert "created" not in out and "kept library MAIN" in out and "kept user admin" in out
    dbsession.expire_all()
    assert dbsession.get(Library, "MAIN").branchname == "Renamed by staff"
    assert dbsession.get(Library, "WEST") is not None


@pytest.mark.parametrize("content, message", [
    ("libraries: [{code: MAIN}]", "libraries[0]: 'name' is a required property"),
    ("libraries: [{code: 'has space', name: X}]", "libraries[0].code"),
    ("item_types: [{code: BK, description: B}, {code: BK, description: C}]", "code 'BK' is listed twice"),
    ("circulation: {issuelenght: 3}", "circulation"),
    ("patron_categories: [{code: X, description: Y, type: Q}]", "patron_categories[0].type"),
    ("superlibrarian: {userid: admin, password: secret}", "superlibrarian"),
    ("libraries: [unclosed", "not valid YAML (line 1)"),
])
def test_bad_definitions_are_refused_in_one_line_before_anything_is_written(run_cli, tmp_path, content, message,
                                                                           dbsession):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    status, out, err = run_cli("init", "--from", str(path))
    assert status == 1 and message in err and err.count("\n") == 1, err
    assert dbsession.scalar(select(Library).limit(1)) is None


def test_a_short_password_creates_nothing(run_cli, definition, password, dbsession):
    password("short")
    status, _, err = run_cli("init", "--from", definition)
    assert status == 1 and "at least 8 characters" in err
    assert dbsession.scalar(select(Library).limit(1)) is None  # one transaction: all or nothing


def test_init_without_a_superlibrarian_says_what_is_missing(run_cli, tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("libraries: [{code: MAIN, name: Main}]\n")
    status, out, err = run_cli("init", "--from", str(path))
    assert status == 0
    assert "no item type yet: kohaweb itemtype add" in err
    assert "no superlibrarian yet: kohaweb user add USERID -p superlibrarian" in err


def test_init_without_a_terminal_asks_for_a_file(run_cli, password):
    password("")
    status, _, err = run_cli("init")
    assert status == 1 and "--from FILE.yaml" in err


def test_reference_commands(run_cli, password, dbsession):
    assert run_cli("library", "add", "MAIN", "Main Library", "--city", "Springfield")[0] == 0
    assert run_cli("itemtype", "add", "BK", "Books")[0] == 0
    assert run_cli("category", "add", "PT", "Patron", "--type", "A", "--enrolment-period", "12")[0] == 0
    assert run_cli("library", "list")[1] == "MAIN\tMain Library\n"
    status, _, err = run_cli("library", "add", "MAIN", "Again")
    assert status == 1 and "exists" in err
    status, _, err = run_cli("itemtype", "add", "much-too-long-code", "X")
    assert status == 1 and "1 to 10" in err

    # a user can now be created on a catalogue that never saw sample data
    password("another long password")
    assert run_cli("user", "add", "clerk")[0] == 0
    # removing what is in use is refused
    status, _, err = run_cli("library", "remove", "MAIN")
    assert status == 1 and "used by 1 patrons" in err
    assert run_cli("itemtype", "remove", "BK")[0] == 0
    assert dbsession.get(ItemType, "BK") is None


def test_commands_on_an_unmigrated_database_say_so_in_one_line(tmp_path, capsys, monkeypatch):
    from kohaweb.cli import main
    from kohaweb.testing import TEST_SECRET

    ini = tmp_path / "new.ini"  # a database of its own, never migrated
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.services = status\n"
                   f"kohaweb.database_url = sqlite:///{tmp_path}/new.sqlite\nkohaweb.secret = {TEST_SECRET}\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["-c", str(ini), "user", "add", "admin"]) == 1
    err = capsys.readouterr().err
    assert err == "kohaweb: the database is not migrated: run kohaweb db upgrade (or kohaweb init)\n"
