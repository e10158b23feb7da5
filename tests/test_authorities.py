"""Authority records: the data layer (kohaweb.authorities), `kohaweb import` of the real MARC21
collection, `kohaweb export --authorities`, UNIMARC authorities, ids that never go back."""

from __future__ import annotations

import pymarc
import pytest
from sqlalchemy import func, select

from kohaweb import marc
from kohaweb.authorities import Authorities, AuthorityError, guess_type, heading
from kohaweb.models import Authority, Biblio, DeletedAuthority


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def marc21_authority(tag: str, *subfields: tuple[str, str], control: str = "n 00001") -> pymarc.Record:
    record = pymarc.Record(leader="00000nz  a2200000n  4500")
    record.add_field(pymarc.Field(tag="001", data=control))
    record.add_field(pymarc.Field(tag="008", data="850522n| acannaabn          |a aaa      "))
    record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators("1", " "),
                                  subfields=[pymarc.Subfield(c, v) for c, v in subfields]))
    return record


def unimarc_authority(tag: str, *subfields: tuple[str, str]) -> pymarc.Record:
    record = pymarc.Record(leader="00000nx  j2200000   450 ")
    record.add_field(pymarc.Field(tag="100", indicators=pymarc.Indicators(" ", " "),
                                  subfields=[pymarc.Subfield("a", "20240101afrey50      ba0")]))
    record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", "1"),
                                  subfields=[pymarc.Subfield(c, v) for c, v in subfields]))
    return record


def authority_records(path) -> list[pymarc.Record]:
    """The authority records of a MARCXML file as pymarc reads them (leader/06 z)."""
    return [r for r in pymarc.parse_xml_to_array(str(path)) if r is not None and str(r.leader)[6] == "z"]


# --- the data layer ------------------------------------------------------------------------------

@pytest.mark.parametrize("tag, code", [("100", "PERSO_NAME"), ("110", "CORPO_NAME"), ("111", "MEETI_NAME"),
                                       ("130", "UNIF_TITLE"), ("148", "CHRON_TERM"), ("150", "TOPIC_TERM"),
                                       ("151", "GEOGR_NAME"), ("155", "GENRE/FORM")])
def test_marc21_type_from_heading_tag(tag, code):
    assert guess_type(marc21_authority(tag, ("a", "Heading")), marc.MARC21) == code


@pytest.mark.parametrize("tag, code", [("200", "NP"), ("210", "CO"), ("215", "SNG"), ("216", "TM"),
                                       ("220", "FAM"), ("230", "TU"), ("240", "SAUTTIT"), ("250", "SNC"),
                                       ("260", "PA"), ("280", "GENRE/FORM")])
def test_unimarc_type_from_heading_tag(tag, code):
    assert guess_type(unimarc_authority(tag, ("a", "Vedette")), marc.UNIMARC) == code


def test_add_sets_001_type_location_and_heading(dbsession):
    store = Authorities(dbsession)
    record = marc21_authority("150", ("a", "Coral reefs and islands"), ("z", "Pacific Ocean"),
                              ("0", "http://id.loc.gov/x"), control="sh 85032893")
    row = store.add(record)
    dbsession.commit()
    assert row.authtypecode == "TOPIC_TERM" and row.flavour == "MARC21"
    assert row.heading == "Coral reefs and islands--Pacific Ocean"
    stored = marc.parse_xml(row.marcxml)
    assert stored["001"].data == str(row.authid)  # Koha replaces 001 by the authid
    assert stored["942"]["a"] == "TOPIC_TERM"  # MARC21's default authority type location
    assert len(stored["005"].data) == 16 and stored["005"].data.endswith(".0")
    assert [f.tag for f in stored.fields][:3] == ["001", "005", "008"]


def test_unimarc_add_detects_flavour_and_writes_152b(dbsession):
    store = Authorities(dbsession)
    row = store.add(unimarc_authority("200", ("a", "Hugo"), ("b", "Victor"), ("f", "1802-1885")))
    assert (row.flavour, row.authtypecode, row.heading) == ("UNIMARC", "NP", "Hugo Victor 1802-1885")
    stored = marc.parse_xml(row.marcxml)
    assert stored["152"]["b"] == "NP" and stored["001"].data == str(row.authid)


def test_update_keeps_type_unless_given_and_delete_moves_to_history(dbsession):
    store = Authorities(dbsession)
    row = store.add(marc21_authority("100", ("a", "Darwin, Charles,"), ("d", "1809-1882")))
    authid, created = row.authid, row.datecreated
    store.update(authid, marc21_authority("100", ("a", "Darwin, Charles Robert,"), ("d", "1809-1882")))
    row = store.get(authid)
    assert row.heading == "Darwin, Charles Robert, 1809-1882" and row.authtypecode == "PERSO_NAME"
    assert row.datecreated == created
    store.update(authid, marc21_authority("100", ("a", "Darwin")), authtypecode="CORPO_NAME")
    assert marc.parse_xml(store.get(authid).marcxml)["942"]["a"] == "CORPO_NAME"
    deleted = store.delete(authid)
    dbsession.commit()
    assert store.get(authid) is None and dbsession.get(DeletedAuthority, authid).heading == "Darwin"
    assert str(marc.parse_xml(deleted.marcxml).leader)[5] == "d"  # as Koha's move_to_deleted
    with pytest.raises(AuthorityError):
        store.update(authid, marc21_authority("100", ("a", "Again")))


def test_ids_never_go_back(dbsession):
    store = Authorities(dbsession)
    first = store.add(marc21_authority("150", ("a", "One"))).authid
    second = store.add(marc21_authority("150", ("a", "Two"))).authid
    store.delete(second)
    dbsession.commit()
    third = store.add(marc21_authority("150", ("a", "Three"))).authid
    assert first < second < third


def test_counter_starts_after_existing_rows(dbsession):
    # rows written before the counter existed (an older kohaweb, a Koha copy): no id is reused
    dbsession.add(Authority(authid=40, authtypecode="", marcxml="<record/>"))
    dbsession.add(DeletedAuthority(authid=77, authtypecode="", marcxml="<record/>"))
    dbsession.commit()
    assert Authorities(dbsession).add(marc21_authority("150", ("a", "New"))).authid == 78


# --- import and export ---------------------------------------------------------------------------

def test_import_real_collection_stores_authorities_as_authorities(shared_data, run_cli, dbsession):
    path = shared_data / "marc21-collection.xml"
    expected = authority_records(path)
    assert expected
    headings_expected = {}
    for record in expected:
        code = guess_type(record, marc.MARC21)
        headings_expected[code] = headings_expected.get(code, 0) + 1
    status, out, err = run_cli("import", "--batch-size", "500", str(path))
    assert status == 0, err[-2000:]
    stored = count(dbsession, Authority)
    assert stored == len(expected), err[-2000:]
    assert f"and {stored} authority records" in out
    assert "an authority record" not in err and "holdings record" in err
    # none of them became a bibliographic record
    assert dbsession.scalar(select(func.count()).select_from(Biblio)
                            .where(Biblio.title.in_({heading(r, marc.MARC21) for r in expected}))) == 0
    types = dict(dbsession.execute(select(Authority.authtypecode, func.count())
                                   .group_by(Authority.authtypecode)).all())
    assert types == headings_expected
    # the IISG records' heading is a local 103: Koha's guess gives no type, so neither does this
    assert types.get("PERSO_NAME") and types.get("GEOGR_NAME") and types.get("")
    # each stored record is the one read, numbered: same heading field, 001 = authid
    by_control = {}
    for record in expected:
        field = record["001"]
        by_control.setdefault(field.data if field else None, record)
    sample = dbsession.scalars(select(Authority).order_by(Authority.authid).limit(50)).all()
    for row in sample:
        stored_record = marc.parse_xml(row.marcxml)
        assert stored_record["001"].data == str(row.authid)
        assert row.heading == heading(stored_record, marc.MARC21)


def test_import_authorities_flag_resume_and_export(tmp_path, run_cli, dbsession, shared_data):
    source = shared_data / "authority" / "evergreen-library-system__Evergreen" / "auth-subset100.mrc"
    with open(source, "rb") as fh:
        expected = [r for r in pymarc.MARCReader(fh, to_unicode=True, permissive=True) if r is not None]
    # the same records with a bibliographic leader: --authorities takes them as authorities anyway
    path = tmp_path / "forced.mrc"
    with open(path, "wb") as fh:
        for record in expected:
            record.leader = str(record.leader)[:6] + "am" + str(record.leader)[8:]
            fh.write(record.as_marc())
    status, out, err = run_cli("import", "--authorities", "--batch-size", "5", "--workers", "2", str(path))
    assert status == 0, err
    assert count(dbsession, Authority) == len(expected) and count(dbsession, Biblio) == 0
    dbsession.rollback()
    status, out, err = run_cli("import", "--authorities", str(path))
    assert "already imported completely" in err and count(dbsession, Authority) == len(expected)
    dbsession.rollback()
    export = tmp_path / "out.xml"
    status, out, err = run_cli("export", "--authorities", "-o", str(export))
    assert status == 0, err
    exported = pymarc.parse_xml_to_array(str(export))
    ids = [int(r["001"].data) for r in exported]
    assert ids == sorted(dbsession.scalars(select(Authority.authid)))
    assert [heading(r, marc.MARC21) for r in exported] == [heading(r, marc.MARC21) for r in expected]


def test_import_routes_by_leader_and_keeps_skipping_holdings(tmp_path, run_cli, dbsession):
    path = tmp_path / "mixed.mrc"
    kinds = ["a", "z", "a", "y", "u", "a"]
    with open(path, "wb") as fh:
        for position, kind in enumerate(kinds, 1):
            record = pymarc.Record(leader=f"00000n{kind}m a2200000 a 4500")
            record.add_field(pymarc.Field(tag="001", data=f"rec{position}"))
            tag = "150" if kind == "z" else "245"
            record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators("0", "0"),
                                          subfields=[pymarc.Subfield("a", f"Heading {position}")]))
            fh.write(record.as_marc())
    status, out, err = run_cli("import", str(path))
    assert status == 0, err
    assert "imported 3 records and 1 authority records, skipped 2" in out
    assert f"{path}: record 4 skipped: a holdings record (leader/06 'y')" in err
    assert f"{path}: record 5 skipped: a holdings record (leader/06 'u')" in err
    assert count(dbsession, Biblio) == 3
    (row,) = dbsession.scalars(select(Authority)).all()
    assert (row.heading, row.authtypecode) == ("Heading 2", "TOPIC_TERM")


def test_import_unimarc_authorities(tmp_path, run_cli, dbsession):
    path = tmp_path / "unimarc-auth.xml"
    records = [unimarc_authority("200", ("a", "Hugo"), ("b", "Victor")),
               unimarc_authority("250", ("a", "Récifs coralliens")),
               unimarc_authority("215", ("a", "Pacifique"))]
    path.write_bytes(b'<collection xmlns="http://www.loc.gov/MARC21/slim">'
                     + b"".join(marc.record_to_xml(r) for r in records) + b"</collection>")
    status, out, err = run_cli("import", str(path))
    assert status == 0, err
    rows = dbsession.scalars(select(Authority).order_by(Authority.authid)).all()
    assert [(r.flavour, r.authtypecode, r.heading) for r in rows] == [
        ("UNIMARC", "NP", "Hugo Victor"), ("UNIMARC", "SNC", "Récifs coralliens"), ("UNIMARC", "SNG", "Pacifique")]
    assert count(dbsession, Biblio) == 0
