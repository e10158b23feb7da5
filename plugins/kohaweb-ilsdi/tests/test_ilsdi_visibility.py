"""GetRecords and GetAvailability answer as the OPAC (kohaweb.visibility): a suppressed record or
one whose items are all hidden is not found, hidden items are left out of every part of the
answer (items, embedded 952, holds, loans)."""

from __future__ import annotations

from lxml import etree

from kohaweb import circulation as circ
from kohaweb.catalog import Catalog
from kohaweb.marc import MARC_NS
from kohaweb.models import Patron

DLF = {"dlf": "http://diglib.org/ilsdi/1.1"}


def test_get_records_hides_records_and_items(call, hidden_catalogue):
    h = hidden_catalogue
    root = call("GetRecords", id=f"{h.open} {h.suppressed} {h.all_hidden} {h.bare}")
    shown, suppressed, all_hidden, bare = root.findall("record")
    assert suppressed.findtext("code") == "RecordNotFound" and all_hidden.findtext("code") == "RecordNotFound"
    assert [i.findtext("barcode") for i in shown.iterfind("items/item")] == ["VIS-1"]
    marcxml = etree.fromstring(shown.findtext("marcxml").encode())
    assert marcxml.xpath("//m:datafield[@tag='952']/m:subfield[@code='p']/text()", namespaces={"m": MARC_NS}) == \
        ["VIS-1"]
    assert bare.findtext("biblionumber") == str(h.bare) and bare.find("items/item") is None


def test_get_records_leaves_out_loans_of_hidden_items(call, hidden_catalogue, dbsession):
    h = hidden_catalogue
    patron = Patron(cardnumber="P1", userid="p1", surname="Reader", branchcode="CPL", categorycode="PT")
    dbsession.add(patron)
    dbsession.flush()
    Catalog(dbsession).update_item(h.open_hidden, itype="BK", location="STAFF")  # still hidden, loanable
    circ.checkout(dbsession, patron, circ.find_item(dbsession, "VIS-2"))
    root = call("GetRecords", id=str(h.open))
    assert root.find("record/issues/issue") is None
    circ.checkout(dbsession, patron, circ.find_item(dbsession, "VIS-1"))
    root = call("GetRecords", id=str(h.open))
    assert [i.findtext("barcode") for i in root.iterfind("record/issues/issue")] == ["VIS-1"]


def test_get_availability_by_bib_and_item(call, hidden_catalogue):
    h = hidden_catalogue
    root = call("GetAvailability", id=f"{h.open} {h.suppressed} {h.all_hidden} {h.bare}", id_type="bib")
    records = root.findall("dlf:record", DLF)
    ids = [r.find("dlf:bibliographic", DLF).get("id") for r in records]
    # bare has no items (nothing, as Koha); the hidden records answer like unknown ids
    assert ids == [str(h.open), str(h.suppressed), str(h.all_hidden)]
    assert [i.get("id") for i in records[0].iterfind("dlf:items/dlf:item", DLF)] == [str(h.open_shown)]
    for record in records[1:]:
        assert record.findtext(".//dlf:availabilitystatus", namespaces=DLF) == "unknown"
    root = call("GetAvailability", id=f"{h.open_shown} {h.open_hidden} {h.suppressed_item} {h.hidden_items[1]}",
                id_type="item")
    status = {i.get("id"): i.findtext(".//dlf:availabilitystatus", namespaces=DLF)
              for i in root.iterfind(".//dlf:item", DLF)}
    assert status == {str(h.open_shown): "available", str(h.open_hidden): "unknown",
                      str(h.suppressed_item): "unknown", str(h.hidden_items[1]): "unknown"}


def test_records_come_back_when_visible(call, hidden_catalogue, dbsession):
    h = hidden_catalogue
    catalog = Catalog(dbsession)
    catalog.set_suppressed(h.suppressed, False)
    catalog.update_item(h.hidden_items[0], itype="BK")
    root = call("GetRecords", id=f"{h.suppressed} {h.all_hidden}")
    assert [r.findtext("biblionumber") for r in root.findall("record")] == [str(h.suppressed), str(h.all_hidden)]
    assert [i.findtext("barcode") for i in root.findall("record")[1].iterfind("items/item")] == ["HID-1"]
