"""GetAvailability: DLF "simple availability" XML (namespace http://diglib.org/ilsdi/1.1), the one
ILS-DI answer Koha does not build with XML::Simple."""

from __future__ import annotations

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from kohaweb.plugin_api import Biblio, Item, Library, visibility
from kohaweb.plugin_api import circulation as circ

from .xmlout import DECLARATION, text_value

DLF_NS = "http://diglib.org/ilsdi/1.1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{DLF_NS} http://diglib.org/architecture/ilsdi/schemas/1.1/dlfexpanded.xsd"
UNKNOWN_MESSAGE = "Error: could not retrieve availability for this ID"


def _el(parent, name: str, text=None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, f"{{{DLF_NS}}}{name}", {k: text_value(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text_value(text)
    return el


def get_availability(session: Session, params: dict[str, str]) -> bytes:
    """One dlf:record per requested id; ``id_type=item`` takes itemnumbers, anything else
    biblionumbers (as Koha). A record without items gives nothing, as in Koha; an unknown id
    gives availability "unknown", and so does what the OPAC hides (kohaweb.visibility): a hidden
    record or item, or a visible record's hidden items are left out."""
    from .services import _ids, _number

    names = dict(session.execute(select(Library.branchcode, Library.branchname)).tuples().all())
    root = etree.Element(f"{{{DLF_NS}}}collection", nsmap={"dlf": DLF_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", SCHEMA_LOCATION)
    by_item = params.get("id_type") == "item"
    public = visibility.public_viewer(session)
    for text in _ids(params["id"]):
        number = _number(text)
        if by_item:
            item = session.get(Item, number) if number is not None else None
            if item is not None and not (public.sees_item(item) and public.sees_record(item.biblio)):
                item = None
            record = _el(root, "record")
            _el(record, "bibliographic", id=item.biblionumber if item else text)
            items = _el(record, "items")
            _item(session, items, item, text, names)
            continue
        biblio = session.get(Biblio, number) if number is not None else None
        if biblio is not None and not public.sees_record(biblio):
            biblio = None
        if biblio is None:
            record = _el(root, "record")
            _el(record, "bibliographic", id=text)
            _item(session, _el(record, "items"), None, text, names)
            continue
        shown = public.visible_items(biblio.items)
        if not shown:
            continue
        record = _el(root, "record")
        _el(record, "bibliographic", id=biblio.biblionumber)
        items = _el(record, "items")
        for item in shown:
            _item(session, items, item, str(item.itemnumber), names)
    return DECLARATION + etree.tostring(root, encoding="utf-8", pretty_print=True)


def _item(session: Session, parent, item: Item | None, requested: str, names: dict[str, str]) -> None:
    element = _el(parent, "item", id=item.itemnumber if item else requested)
    simple = _el(element, "simpleavailability")
    _el(simple, "identifier", item.itemnumber if item else requested)
    if item is None:
        _el(simple, "availabilitystatus", "unknown")
        _el(simple, "availabilitymsg", UNKNOWN_MESSAGE)
        return
    status = circ.item_availability(session, item)
    _el(simple, "availabilitystatus", "available" if status.available else "not available")
    if not status.available:
        _el(simple, "availabilitymsg", status.message)
    location = names.get(item.holdingbranch or item.homebranch or "")
    if location:
        _el(simple, "location", location)
    if item.itemcallnumber:
        _el(simple, "itemcallnumber", item.itemcallnumber)
