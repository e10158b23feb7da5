"""GetAuthorityRecords on authorities stored through kohaweb.authorities (real LC and Evergreen
records of ../shared/data, and a UNIMARC one), read as a discovery client reads the answer."""

from __future__ import annotations

import pymarc
from lxml import etree

from kohaweb import marc
from kohaweb.authorities import Authorities

MARC_NS = marc.MARC_NS


def real_authorities(shared_data) -> list[pymarc.Record]:
    folder = shared_data / "authority"
    records = [marc.parse_xml((folder / "lcnetdev__marcauth-to-madsrdf" / name).read_bytes())
               for name in ("sh2001011656.marcxml.xml", "n2015013824.marcxml.xml")]
    with open(folder / "evergreen-library-system__Evergreen" / "auth-subset100.mrc", "rb") as fh:
        records += [r for r in pymarc.MARCReader(fh, to_unicode=True, permissive=True) if r is not None][:5]
    return records


def test_marc21_authorities_as_koha_answers_them(call, dbsession, shared_data):
    store = Authorities(dbsession)
    rows = [store.add(record) for record in real_authorities(shared_data)]
    dbsession.commit()
    ids = [row.authid for row in rows]
    missing = max(ids) + 100
    root = call("GetAuthorityRecords", id=" ".join(map(str, [*ids, missing, "abc"])))
    assert root.tag == "GetAuthorityRecords"
    answers = root.findall("record")
    assert len(answers) == len(ids) + 2
    for row, answer in zip(rows, answers, strict=False):
        # Koha pushes GetAuthorityXML's string itself: the record element's text, no <marcxml>
        assert answer.find("marcxml") is None and len(answer) == 0
        text = answer.text
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        parsed = etree.fromstring(text.encode())
        assert etree.QName(parsed).localname == "record" and etree.QName(parsed).namespace == MARC_NS
        assert parsed.findtext(f"{{{MARC_NS}}}controlfield[@tag='001']") == str(row.authid)
        stored = marc.parse_xml(row.marcxml)
        assert marc.parse_xml(text).as_marc() == stored.as_marc()  # the stored record, unchanged
    for answer in answers[-2:]:
        assert answer.findtext("code") == "RecordNotFound"
    lc = marc.parse_xml(answers[0].text)
    assert lc["151"]["a"] and lc["942"]["a"] == "GEOGR_NAME"
    assert call("GetAuthorityRecords", id=str(ids[0]), schema="MODS").findtext("code") == "UnsupportedSchema"


def test_unimarc_authority_is_answered_as_stored(call, dbsession):
    record = pymarc.Record(leader="00000nx  j2200000   450 ")
    record.add_field(pymarc.Field(tag="100", indicators=pymarc.Indicators(" ", " "),
                                  subfields=[pymarc.Subfield("a", "20240101afrey50      ba0")]))
    record.add_field(pymarc.Field(tag="200", indicators=pymarc.Indicators(" ", "1"),
                                  subfields=[pymarc.Subfield("a", "Hugo"), pymarc.Subfield("b", "Victor")]))
    row = Authorities(dbsession, "UNIMARC").add(record)
    dbsession.commit()
    (answer,) = call("GetAuthorityRecords", id=str(row.authid)).findall("record")
    assert answer.text == row.marcxml
    assert marc.parse_xml(answer.text)["152"]["b"] == "NP"


def test_deleted_authority_is_not_found(call, dbsession):
    store = Authorities(dbsession)
    record = pymarc.Record(leader="00000nz  a2200000n  4500")
    record.add_field(pymarc.Field(tag="150", indicators=pymarc.Indicators(" ", "0"),
                                  subfields=[pymarc.Subfield("a", "Coral reefs")]))
    authid = store.add(record).authid
    store.delete(authid)
    dbsession.commit()
    assert call("GetAuthorityRecords", id=str(authid)).findtext("record/code") == "RecordNotFound"
