"""/api/v1/authorities: list, get with content negotiation, add, update, delete (Koha 22.11+)."""

from __future__ import annotations

import io
import json

import pymarc
import pytest
from test_api import session_headers

from kohaweb import marc
from kohaweb.models import Authority, DeletedAuthority

MARCXML = "application/marcxml+xml"
MIJ = "application/marc-in-json"
ISO2709 = "application/marc"


@pytest.fixture
def editor(api, staff_user):
    return session_headers(api, *staff_user("auth", "catalogue", "editauthorities")[:2])


@pytest.fixture
def reader(api, staff_user):
    return session_headers(api, *staff_user("reader", "catalogue")[:2])


def authority(tag: str = "150", text: str = "Coral reefs", *more: tuple[str, str]) -> pymarc.Record:
    record = pymarc.Record(leader="00000nz  a2200000n  4500")
    record.add_field(pymarc.Field(tag="001", data="sh0000001"))
    record.add_field(pymarc.Field(tag="008", data="850522n| acannaabn          |a aaa      "))
    record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", "0"),
                                  subfields=[pymarc.Subfield("a", text), *(pymarc.Subfield(c, v) for c, v in more)]))
    return record


def body_of(record: pymarc.Record, media_type: str) -> bytes:
    return {MARCXML: marc.record_to_xml(record), MIJ: json.dumps(record.as_dict()).encode(),
            ISO2709: record.as_marc()}[media_type]


def add(api, headers, record, media_type=MARCXML, **extra) -> int:
    response = api.post("/api/v1/authorities", body_of(record, media_type),
                        headers={**headers, "Content-Type": media_type, **extra}, status=201)
    assert response.body == b""
    return int(response.headers["Location"].rsplit("/", 1)[1])


@pytest.mark.parametrize("media_type", [MARCXML, MIJ, ISO2709])
def test_add_in_each_format_and_get_json(api, editor, dbsession, media_type):
    authid = add(api, editor, authority("100", "Darwin, Charles,", ("d", "1809-1882")), media_type)
    got = api.get(f"/api/v1/authorities/{authid}", headers={**editor, "Accept": "application/json"}).json
    assert got["authority_id"] == authid and got["framework_id"] == "PERSO_NAME"
    assert got["heading"] == "Darwin, Charles, 1809-1882"
    assert set(got) == {"authority_id", "framework_id", "created_date", "modified_date", "heading"}
    row = dbsession.get(Authority, authid)
    assert marc.parse_xml(row.marcxml)["001"].data == str(authid)


def test_get_negotiates_marc_formats(api, editor, reader):
    authid = add(api, editor, authority("151", "Pacific Ocean"))
    url = f"/api/v1/authorities/{authid}"
    xml = api.get(url, headers={**reader, "Accept": MARCXML})
    assert xml.content_type == MARCXML and xml.body.startswith(b"<?xml")
    assert marc.parse_xml(xml.body)["151"]["a"] == "Pacific Ocean"
    mij = api.get(url, headers={**reader, "Accept": MIJ})
    assert mij.content_type == MIJ
    (from_json,) = list(pymarc.JSONReader(mij.body.decode()))
    assert from_json["001"].data == str(authid)
    raw = api.get(url, headers={**reader, "Accept": ISO2709})
    (from_iso,) = list(pymarc.MARCReader(io.BytesIO(raw.body), to_unicode=True))
    assert from_iso["151"]["a"] == "Pacific Ocean" and from_iso["942"]["a"] == "GEOGR_NAME"
    text = api.get(url, headers={**reader, "Accept": "text/plain"})
    assert "=151" in text.text and "Pacific Ocean" in text.text
    # quality values pick the preferred acceptable type; nothing acceptable is a 406
    assert api.get(url, headers={**reader, "Accept": f"{MARCXML};q=0.5, {MIJ}"}).content_type == MIJ
    refused = api.get(url, headers={**reader, "Accept": "image/png"}, status=406).json
    assert refused["error_code"] == "not_acceptable"
    assert api.get("/api/v1/authorities/999999", headers=reader, status=404).json["error_code"] == "not_found"


def test_list_json_and_marc(api, editor, reader):
    ids = [add(api, editor, authority("150", f"Topic {n}")) for n in range(3)]
    listed = api.get("/api/v1/authorities", headers=reader)
    assert [a["authority_id"] for a in listed.json] == ids and listed.headers["X-Total-Count"] == "3"
    page = api.get("/api/v1/authorities?_per_page=2&_page=2", headers={**reader, "Accept": MARCXML})
    assert page.content_type == MARCXML and page.headers["X-Total-Count"] == "3"
    records = pymarc.parse_xml_to_array(io.BytesIO(page.body))
    assert [r["001"].data for r in records] == [str(ids[2])]
    mij = json.loads(api.get("/api/v1/authorities", headers={**reader, "Accept": MIJ}).body)
    assert [r["fields"][0]["001"] for r in mij] == [str(i) for i in ids]
    raw = api.get("/api/v1/authorities", headers={**reader, "Accept": ISO2709}).body
    assert [r["150"]["a"] for r in pymarc.MARCReader(io.BytesIO(raw), to_unicode=True)] == [
        "Topic 0", "Topic 1", "Topic 2"]
    filtered = api.get("/api/v1/authorities?heading=Topic 1", headers=reader).json
    assert [a["authority_id"] for a in filtered] == [ids[1]]
    api.get("/api/v1/authorities", status=401)


def test_add_type_header_duplicate_and_permission(api, editor, reader, dbsession):
    authid = add(api, editor, authority("150", "Volcanoes"), **{"x-authority-type": "GENRE/FORM"})
    assert dbsession.get(Authority, authid).authtypecode == "GENRE/FORM"
    dup = api.post("/api/v1/authorities", body_of(authority("150", "Volcanoes"), MARCXML),
                   headers={**editor, "Content-Type": MARCXML, "x-authority-type": "GENRE/FORM"}, status=409).json
    assert dup["error_code"] == "duplicate" and str(authid) in dup["error"]
    again = add(api, editor, authority("150", "Volcanoes"),
                **{"x-authority-type": "GENRE/FORM", "x-koha-override": "duplicate"})
    assert again > authid
    refused = api.post("/api/v1/authorities", marc.record_to_xml(authority()),
                       headers={**reader, "Content-Type": MARCXML}, status=403).json
    assert refused["required_permissions"] == {"editauthorities": 1}
    bad = api.post("/api/v1/authorities", b"<record><oops", headers={**editor, "Content-Type": MARCXML},
                   status=400).json
    assert bad["error_code"] == "invalid_record"
    long_type = api.post("/api/v1/authorities", marc.record_to_xml(authority("150", "Other")),
                         headers={**editor, "Content-Type": MARCXML, "x-authority-type": "X" * 11}, status=400).json
    assert long_type["error_code"] == "invalid_type"


def test_update_and_delete(api, editor, reader, dbsession):
    authid = add(api, editor, authority("150", "Reefs"))
    url = f"/api/v1/authorities/{authid}"
    response = api.put(url, marc.record_to_xml(authority("150", "Coral reefs")),
                       headers={**editor, "Content-Type": MARCXML})
    assert response.json == {"id": authid}
    got = api.get(url, headers=reader).json
    assert (got["heading"], got["framework_id"]) == ("Coral reefs", "TOPIC_TERM")  # type kept
    api.put(url, marc.record_to_xml(authority("150", "Coral reefs")),
            headers={**editor, "Content-Type": MARCXML, "x-authority-type": ""})
    assert api.get(url, headers=reader).json["framework_id"] == "TOPIC_TERM"  # an empty header keeps it
    api.put(url, marc.record_to_xml(authority()), headers={**reader, "Content-Type": MARCXML}, status=403)
    api.delete(url, headers=reader, status=403)
    api.delete(url, headers=editor, status=204)
    api.get(url, headers=reader, status=404)
    api.delete(url, headers=editor, status=404)
    dbsession.rollback()
    assert dbsession.get(DeletedAuthority, authid).heading == "Coral reefs"
    # the id is not handed out again
    assert add(api, editor, authority("150", "After")) > authid
