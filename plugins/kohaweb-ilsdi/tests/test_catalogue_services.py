"""GetAvailability, GetRecords, GetAuthorityRecords, parsed with the element paths of ilsdi.md."""

from __future__ import annotations

from lxml import etree

from kohaweb import circulation as circ
from kohaweb.catalog import Catalog
from kohaweb.marc import MARC_NS
from kohaweb.models import AuthorisedValue, Authority
from kohaweb.testing import assert_valid

DLF = {"dlf": "http://diglib.org/ilsdi/1.1"}

SIMPLE = "dlf:items/dlf:item/dlf:simpleavailability"


def _availability(root, item_id):
    item = root.find(f".//dlf:item[@id='{item_id}']/dlf:simpleavailability", DLF)
    return (item.findtext("dlf:availabilitystatus", namespaces=DLF), item.findtext("dlf:availabilitymsg", namespaces=DLF),
            item.findtext("dlf:location", namespaces=DLF))


def test_get_availability_by_bib(call, library, dbsession):
    circ.checkout(dbsession, library["alice"], "B1")
    dbsession.commit()
    root = call("GetAvailability", id=f"{library['book']} {library['empty']} 99999", id_type="bib")
    assert root.tag == "{http://diglib.org/ilsdi/1.1}collection"
    records = root.findall("dlf:record", DLF)
    # the record without items outputs nothing; the unknown id is "unknown"
    assert [r.find("dlf:bibliographic", DLF).get("id") for r in records] == [str(library["book"]), "99999"]
    book = records[0]
    assert [i.get("id") for i in book.findall("dlf:items/dlf:item", DLF)] == [str(library["b1"]), str(library["b2"])]
    assert _availability(root, library["b1"]) == ("not available", "Checked out", "Centerville")
    assert _availability(root, library["b2"]) == ("available", None, "Fairfield")
    assert book.findtext(f"{SIMPLE}/dlf:itemcallnumber", namespaces=DLF) == "577.7 COR"
    assert book.findtext(f"{SIMPLE}/dlf:identifier", namespaces=DLF) == str(library["b1"])
    unknown = records[1].find(SIMPLE, DLF)
    assert unknown.findtext("dlf:availabilitystatus", namespaces=DLF) == "unknown"
    assert unknown.findtext("dlf:availabilitymsg", namespaces=DLF) == \
        "Error: could not retrieve availability for this ID"


def test_get_availability_by_item_and_statuses(call, library, dbsession):
    catalog = Catalog(dbsession)
    catalog.update_item(library["b2"], itemlost=1)
    catalog.update_item(library["d1"], notforloan=1)
    dbsession.commit()
    root = call("GetAvailability", id=f"{library['b1']} {library['b2']} {library['d1']} abc", id_type="item",
                language="en", return_type="bib", return_fmt="x")
    records = root.findall("dlf:record", DLF)
    assert [r.find("dlf:bibliographic", DLF).get("id") for r in records] == \
        [str(library["book"]), str(library["book"]), str(library["dvd"]), "abc"]
    assert _availability(root, library["b1"])[:2] == ("available", None)
    assert _availability(root, library["b2"])[:2] == ("not available", "Item lost")
    assert _availability(root, library["d1"])[:2] == ("not available", "Not for loan")
    assert _availability(root, "abc")[:2] == ("unknown", "Error: could not retrieve availability for this ID")
    circ.place_hold(dbsession, library["bob"], library["book"], item=library["b1"])
    Catalog(dbsession).update_item(library["b2"], itemlost=0, withdrawn=1)
    dbsession.commit()
    root = call("GetAvailability", id=f"{library['b1']} {library['b2']}", id_type="item")
    assert _availability(root, library["b1"])[:2] == ("not available", "On hold")
    assert _availability(root, library["b2"])[:2] == ("not available", "Item withdrawn")


def test_get_records(call, library, dbsession, xml_schema):
    dbsession.add(AuthorisedValue(category="LOC", authorised_value="GEN", lib="General", lib_opac="General stacks"))
    Catalog(dbsession).update_item(library["b1"], location="GEN")
    loan = circ.checkout(dbsession, library["alice"], "B2")
    hold = circ.place_hold(dbsession, library["bob"], library["book"])
    dbsession.commit()
    root = call("GetRecords", id=f"{library['book']} 424242 x")
    assert root.tag == "GetRecords"
    first, missing, bad = root.findall("record")
    assert missing.findtext("code") == "RecordNotFound" and bad.findtext("code") == "RecordNotFound"
    assert first.findtext("biblionumber") == str(library["book"])
    assert first.findtext("itemtype") == "BK"
    marcxml = etree.fromstring(first.findtext("marcxml").encode())
    assert_valid(xml_schema("MARC21slim"), marcxml)
    barcodes = [sf.text for sf in marcxml.iterfind(f".//{{{MARC_NS}}}datafield[@tag='952']/"
                                                   f"{{{MARC_NS}}}subfield[@code='p']")]
    assert barcodes == ["B1", "B2"]
    items = first.findall("items/item")
    assert [i.findtext("barcode") for i in items] == ["B1", "B2"]
    assert items[0].findtext("homebranchname") == "Centerville"
    assert items[0].findtext("location_description") == "General stacks"
    assert items[0].findtext("itype_description") == "Books"
    assert items[1].findtext("onloan") == loan.date_due.date().isoformat()
    assert items[0].find("more_subfields_xml") is None
    reserves = first.findall("reserves/reserve")
    assert [r.findtext("reserve_id") for r in reserves] == [str(hold.reserve_id)]
    assert reserves[0].find("borrowernumber") is None and reserves[0].findtext("priority") == "1"
    issues = first.findall("issues/issue")
    assert [(i.findtext("barcode"), i.findtext("issue_id")) for i in issues] == [("B2", str(loan.issue_id))]
    assert issues[0].find("borrowernumber") is None


def test_get_records_schema(call, library):
    assert call("GetRecords", id=library["book"], schema="MARCXML").find("record/marcxml") is not None
    root = call("GetRecords", id=library["book"], schema="MODS")
    assert root.findtext("code") == "UnsupportedSchema" and root.find("record") is None


def test_get_authority_records(call, dbsession, shared_data):
    path = shared_data / "authority" / "lcnetdev__marcauth-to-madsrdf" / "sh2001011656.marcxml.xml"
    xml = path.read_text(encoding="utf-8")
    dbsession.add(Authority(authid=7, authtypecode="TOPIC_TERM", marcxml=xml))
    dbsession.commit()
    root = call("GetAuthorityRecords", id="7 8")
    assert root.tag == "GetAuthorityRecords"
    found, missing = root.findall("record")
    # as Koha: the record element's text is the MARCXML (MARC21 re-serialised, same fields)
    assert found.find("marcxml") is None
    parsed = etree.fromstring(found.text.strip().encode())
    assert parsed.find(f".//{{{MARC_NS}}}datafield[@tag='151']") is not None
    original = etree.fromstring(xml.encode())
    def fields(root):
        return [(f.get("tag"), [(sf.get("code"), sf.text) for sf in f]) for f in root.iter(f"{{{MARC_NS}}}datafield")]

    assert fields(parsed) == fields(original)
    assert missing.findtext("code") == "RecordNotFound"
    assert call("GetAuthorityRecords", id="7", schema="MARC").findtext("code") == "UnsupportedSchema"


def test_damaged_stored_record_keeps_the_answer(call, library, dbsession):
    from kohaweb.models import Biblio

    dbsession.get(Biblio, library["dvd"]).metadata_row.metadata_xml = "<record><broken"
    root = call("GetRecords", id=f"{library['dvd']} {library['book']}")
    damaged, fine = root.findall("record")
    assert damaged.find("marcxml") is None and damaged.findtext("items/item/barcode") == "D1"
    assert fine.find("marcxml") is not None


def test_over_real_http(live_server, library):
    """Through waitress, as a discovery layer on this machine calls it (the address is real)."""
    import urllib.parse
    import urllib.request

    with live_server(services=["ilsdi"], **{"ilsdi.authorized_ips": "127.0.0.0/8"}) as base:
        query = urllib.parse.urlencode({"service": "GetAvailability", "id": library["book"], "id_type": "bib"})
        with urllib.request.urlopen(f"{base}/cgi-bin/koha/ilsdi.pl?{query}") as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/xml")
            root = etree.fromstring(response.read())
        assert len(root.findall(".//dlf:item", DLF)) == 2
        body = urllib.parse.urlencode({"service": "AuthenticatePatron", "username": "alice",
                                       "password": "correct horse battery"}).encode()
        with urllib.request.urlopen(f"{base}/ilsdi", data=body) as response:
            assert etree.fromstring(response.read()).findtext("id") == str(library["alice"])
    with live_server(services=["ilsdi"], **{"ilsdi.authorized_ips": "10.0.0.0/8"}) as base:
        with urllib.request.urlopen(f"{base}/ilsdi?service=GetPatronStatus&patron_id=1") as response:
            assert etree.fromstring(response.read()).findtext("message") == "Unauthorized IP address: 127.0.0.1."
