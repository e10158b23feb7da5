"""``kohaweb oai set add|list|map|remove`` and ``kohaweb oai build-sets``, run in-process
against an ini file, then checked through the OAI-PMH interface."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kohaweb.models import Item, OaiSet, OaiSetBiblio
from kohaweb.testing import TEST_SECRET, see_other_writers


@pytest.fixture
def run(tmp_path, database_url, clean_db, capsys):
    ini = tmp_path / "oai.ini"
    ini.write_text(f"""[app:main]
use = egg:kohaweb
kohaweb.services = oai
kohaweb.database_url = {database_url}
kohaweb.secret = {TEST_SECRET}
oai.admin_email = oai-admin@library.example.org
""")

    def cli(*args: str) -> tuple[int, str, str]:
        from kohaweb.cli import main

        status = main(["-c", str(ini), *args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return cli


def members(session, spec) -> list[int]:
    see_other_writers(session)  # see what the command committed
    return sorted(session.scalars(select(OaiSetBiblio.biblionumber).join(OaiSet, OaiSet.id == OaiSetBiblio.set_id)
                                  .where(OaiSet.spec == spec)))


def homes(session, branch) -> list[int]:
    return sorted(set(session.scalars(select(Item.biblionumber).where(Item.homebranch == branch))))


def test_set_lifecycle(run, add_records, dbsession):
    add_records(12)
    assert run("oai", "set", "add", "cpl", "At Centerville", "--description", "Items held at CPL")[0] == 0
    assert run("oai", "set", "add", "cpl", "Again")[0] == 1  # duplicates refused
    assert run("oai", "set", "add", "bad spec", "x")[0] == 1
    status, out, _ = run("oai", "set", "map", "cpl", "952$a", "CPL")
    assert status == 0
    expected = homes(dbsession, "CPL")
    assert expected and members(dbsession, "cpl") == expected
    assert f"{len(expected)} records in the set" in out
    # AND binds tighter than OR: CPL AND BK  OR  FFL
    run("oai", "set", "add", "mix", "Mixed")
    run("oai", "set", "map", "mix", "952$a", "CPL")
    run("oai", "set", "map", "mix", "952$y", "BK", "--and")
    run("oai", "set", "map", "mix", "952$a", "FFL", "--or")
    cpl_books = set(dbsession.scalars(select(Item.biblionumber).where(Item.homebranch == "CPL", Item.itype == "BK")))
    assert members(dbsession, "mix") == sorted(cpl_books | set(homes(dbsession, "FFL")))
    status, out, _ = run("oai", "set", "list")
    assert "cpl\tAt Centerville" in out and "AND 952$y equal 'BK'" in out and "OR 952$a equal 'FFL'" in out
    # notequal: records with no item at CPL
    run("oai", "set", "add", "elsewhere", "Not at Centerville")
    run("oai", "set", "map", "elsewhere", "952$a", "CPL", "--operator", "notequal")
    assert set(members(dbsession, "elsewhere")).isdisjoint(expected)
    assert run("oai", "set", "map", "nosuch", "952$a", "CPL")[0] == 1
    assert run("oai", "set", "map", "cpl", "95$a", "CPL")[0] == 1
    assert run("oai", "set", "remove", "cpl")[0] == 0
    assert members(dbsession, "cpl") == []
    assert dbsession.scalar(select(OaiSet.id).where(OaiSet.spec == "cpl")) is None


def test_build_sets_recomputes_membership(run, add_records, dbsession):
    ids = add_records(8)
    run("oai", "set", "add", "cpl", "At Centerville")
    run("oai", "set", "map", "cpl", "952$a", "CPL")
    before = members(dbsession, "cpl")
    # a stale row (as left by a changed rule) goes away with --clear and a rebuild
    stale = next(n for n in ids if n not in before)
    set_id = dbsession.scalar(select(OaiSet.id).where(OaiSet.spec == "cpl"))
    dbsession.add(OaiSetBiblio(biblionumber=stale, set_id=set_id))
    dbsession.commit()
    status, out, _ = run("oai", "build-sets", "--clear")
    assert status == 0 and "examined 8 records" in out
    assert members(dbsession, "cpl") == before


def test_cli_sets_are_served(run, add_records, oai_app, oai_get, oai, clock):
    ids = add_records(6)
    run("oai", "set", "add", "all:books", "Books")
    run("oai", "set", "map", "all:books", "942$c", "BK")
    run("oai", "set", "add", "all", "Everything", "--description", "Top of the hierarchy")
    clock.tick()
    app = oai_app()
    root = oai_get(app, verb="ListSets")
    assert [s.text for s in root.iterfind(".//oai:setSpec", oai.NS)] == ["all", "all:books"]
    books = members_via_oai(app, oai_get, oai, "all:books")
    assert books == members_via_oai(app, oai_get, oai, "all")
    assert set(books) <= set(ids)


def members_via_oai(app, oai_get, oai, spec):
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", set=spec)
    if oai.error_codes(root):
        return []
    return [int(i.rsplit(":", 1)[1]) for i in oai.identifiers(root)]
