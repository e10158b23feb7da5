"""MARC21 -> MODS 3.7 elements."""

from __future__ import annotations

import re

import pymarc
from lxml import etree

MODS_NS = "http://www.loc.gov/mods/v3"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
M = f"{{{MODS_NS}}}"
RESOURCE_TYPES = {"a": "text", "t": "text", "e": "cartographic", "f": "cartographic", "c": "notated music",
                  "d": "notated music", "i": "sound recording-nonmusical", "j": "sound recording-musical",
                  "k": "still image", "g": "moving image", "r": "three dimensional object",
                  "m": "software, multimedia", "p": "mixed material", "o": "mixed material"}
ISSUANCE = {"a": "monographic", "c": "monographic", "d": "monographic", "m": "monographic",
            "b": "continuing", "s": "serial", "i": "integrating resource"}
_TRAILING = re.compile(r"[\s/:;,=.]+$")


def _clean(text: str | None) -> str:
    text = " ".join((text or "").split())
    stripped = _TRAILING.sub("", text)
    # keep a final period of an abbreviation or initial ("Jr.", "A.")
    if text.endswith(".") and re.search(r"(\b\w|\bJr|\bSr|\bed|\bco)\.$", text):
        return text
    return stripped or text


def _sub(parent, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, M + name, {k.rstrip("_"): v for k, v in attrs.items() if v})
    if text is not None:
        el.text = text
    return el


def _values(field: pymarc.Field, codes: str) -> list[str]:
    return [v for s in field.subfields if s.code in codes for v in [_clean(s.value)] if v]


def marc_to_mods(record: pymarc.Record) -> etree._Element:
    root = etree.Element(M + "mods", nsmap={None: MODS_NS, "xlink": XLINK_NS, "xsi": XSI_NS}, version="3.7")
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{MODS_NS} http://www.loc.gov/standards/mods/v3/mods-3-7.xsd")
    leader = str(record.leader)
    f008 = (record.get_fields("008") or [None])[0]
    data008 = f008.data if f008 is not None and f008.is_control_field() and f008.data else ""
    _titles(root, record)
    _names(root, record)
    resource = RESOURCE_TYPES.get(leader[6:7])
    if resource:
        _sub(root, "typeOfResource", resource, collection="yes" if leader[7:8] == "c" else "")
    for field in record.get_fields("655"):
        text = " -- ".join(_values(field, "avxyz"))
        if text:
            _sub(root, "genre", text, authority=(field.get_subfields("2") or [""])[0])
    _origin(root, record, leader, data008)
    _language(root, record, data008)
    _physical(root, record)
    for field in record.get_fields("520"):
        text = " ".join(_values(field, "ab"))
        if text:
            _sub(root, "abstract", text)
    for field in record.get_fields("505"):
        text = " ".join(_values(field, "agrt"))
        if text:
            _sub(root, "tableOfContents", text)
    for field in record.get_fields("500", "501", "502", "504", "508", "511", "518", "545", "546", "588"):
        text = " ".join(_values(field, "a"))
        if text:
            _sub(root, "note", text)
    _subjects(root, record)
    for tag, authority in (("050", "lcc"), ("082", "ddc"), ("080", "udc")):
        for field in record.get_fields(tag):
            text = " ".join(_values(field, "ab"))
            if text:
                _sub(root, "classification", text, authority=authority)
    for field in record.get_fields("490", "830"):
        title = " ".join(_values(field, "a"))
        if title:
            related = _sub(root, "relatedItem", type_="series")
            info = _sub(related, "titleInfo")
            _sub(info, "title", title)
            number = " ".join(_values(field, "v"))
            if number:
                _sub(info, "partNumber", number)
    _identifiers(root, record)
    urls = [u for f in record.get_fields("856") for u in f.get_subfields("u") if u.strip()]
    if urls:
        location = _sub(root, "location")
        for url in urls:
            _sub(location, "url", url.strip())
    for field in record.get_fields("506", "540"):
        text = " ".join(_values(field, "a"))
        if text:
            _sub(root, "accessCondition", text, type_="restriction on access" if field.tag == "506"
                 else "use and reproduction")
    _record_info(root, record, data008)
    return root


def _titles(root, record: pymarc.Record) -> None:
    for field in record.get_fields("245"):
        info = _sub(root, "titleInfo")
        title = _clean((field.get_subfields("a") or [""])[0])
        skip = int(field.indicator2) if (field.indicator2 or "").isdigit() else 0
        if 0 < skip < len(title):
            _sub(info, "nonSort", title[:skip])
            title = title[skip:]
        _sub(info, "title", title or "[untitled]")
        for code, name in (("b", "subTitle"), ("n", "partNumber"), ("p", "partName")):
            for value in field.get_subfields(code):
                if _clean(value):
                    _sub(info, name, _clean(value))
    for field in record.get_fields("246", "240", "130"):
        title = " ".join(_values(field, "abnp"))
        if title:
            info = _sub(root, "titleInfo", type_="uniform" if field.tag in ("130", "240") else "alternative")
            _sub(info, "title", title)


def _names(root, record: pymarc.Record) -> None:
    for field in record.get_fields("100", "110", "111", "700", "710", "711"):
        kind = {"00": "personal", "10": "corporate", "11": "conference"}[field.tag[1:3]]
        parts = _values(field, "abcq" if kind == "personal" else "abcdn")
        if not parts:
            continue
        name = _sub(root, "name", type_=kind, usage="primary" if field.tag.startswith("1") else "")
        _sub(name, "namePart", " ".join(parts))
        if kind == "personal":
            for date in _values(field, "d"):
                _sub(name, "namePart", date, type_="date")
        roles = _values(field, "e") + [v for v in field.get_subfields("4") if v.strip()]
        for role in roles:
            element = _sub(name, "role")
            if field.get_subfields("4") and role in field.get_subfields("4"):
                _sub(element, "roleTerm", role.strip(), type_="code", authority="marcrelator")
            else:
                _sub(element, "roleTerm", role, type_="text", authority="marcrelator")


def _origin(root, record: pymarc.Record, leader: str, data008: str) -> None:
    origin = _sub(root, "originInfo")
    for field in record.get_fields("260", "264"):
        for place in _values(field, "a"):
            _sub(_sub(origin, "place"), "placeTerm", place.strip("[]"), type_="text")
        for publisher in _values(field, "b"):
            _sub(origin, "publisher", publisher)
        for date in _values(field, "c"):
            _sub(origin, "dateIssued", date)
    year = data008[7:11]
    if year.isdigit():
        _sub(origin, "dateIssued", year, encoding="marc")
    for field in record.get_fields("250"):
        for edition in _values(field, "a"):
            _sub(origin, "edition", edition)
    issuance = ISSUANCE.get(leader[7:8])
    if issuance:
        _sub(origin, "issuance", issuance)
    if not len(origin):
        root.remove(origin)


def _language(root, record: pymarc.Record, data008: str) -> None:
    codes = []
    if re.fullmatch(r"[a-z]{3}", data008[35:38]):
        codes.append(data008[35:38])
    for field in record.get_fields("041"):
        for value in field.get_subfields("a"):
            for index in range(0, len(value.strip()), 3):
                code = value.strip()[index:index + 3]
                if re.fullmatch(r"[a-z]{3}", code) and code not in codes:
                    codes.append(code)
    for code in codes:
        _sub(_sub(root, "language"), "languageTerm", code, type_="code", authority="iso639-2b")


def _physical(root, record: pymarc.Record) -> None:
    extents = [" ".join(_values(f, "abce")) for f in record.get_fields("300")]
    media = [v.strip() for f in record.get_fields("856") for v in f.get_subfields("q") if v.strip()]
    if any(extents) or media:
        physical = _sub(root, "physicalDescription")
        for value in media:
            _sub(physical, "internetMediaType", value)
        for extent in extents:
            if extent:
                _sub(physical, "extent", extent)


def _subjects(root, record: pymarc.Record) -> None:
    authorities = {"0": "lcsh", "1": "lcshac", "2": "mesh", "3": "nal", "5": "csh", "6": "rvm"}
    for field in record.get_fields("600", "610", "611", "630", "648", "650", "651", "653"):
        authority = authorities.get(field.indicator2 or "", "") if field.tag != "653" else ""
        if field.indicator2 == "7":
            authority = (field.get_subfields("2") or [""])[0]
        subject = _sub(root, "subject", authority=authority)
        first = True
        for sub in field.subfields:
            value = _clean(sub.value)
            if not value:
                continue
            if first and sub.code == "a":
                if field.tag in ("600", "610", "611"):
                    name = _sub(subject, "name", type_={"600": "personal", "610": "corporate",
                                                        "611": "conference"}[field.tag])
                    _sub(name, "namePart", value)
                elif field.tag == "651":
                    _sub(subject, "geographic", value)
                elif field.tag == "648":
                    _sub(subject, "temporal", value)
                elif field.tag == "630":
                    _sub(_sub(subject, "titleInfo"), "title", value)
                else:
                    _sub(subject, "topic", value)
                first = False
            elif sub.code == "x":
                _sub(subject, "topic", value)
            elif sub.code == "z":
                _sub(subject, "geographic", value)
            elif sub.code == "y":
                _sub(subject, "temporal", value)
            elif sub.code == "v":
                _sub(subject, "genre", value)
        if not len(subject):
            root.remove(subject)


def _identifiers(root, record: pymarc.Record) -> None:
    for tag, kind, codes in (("020", "isbn", "a"), ("022", "issn", "a"), ("010", "lccn", "a"), ("024", "local", "a")):
        for field in record.get_fields(tag):
            for value in field.get_subfields(*codes):
                if value.strip():
                    _sub(root, "identifier", value.strip(), type_=kind)
    for field in record.get_fields("856"):
        for url in field.get_subfields("u"):
            if url.strip():
                _sub(root, "identifier", url.strip(), type_="uri")


def _record_info(root, record: pymarc.Record, data008: str) -> None:
    info = _sub(root, "recordInfo")
    for field in record.get_fields("040"):
        for source in _values(field, "a"):
            _sub(info, "recordContentSource", source, authority="marcorg")
    if re.fullmatch(r"\d{6}", data008[:6]):
        _sub(info, "recordCreationDate", data008[:6], encoding="marc")
    for field in record.get_fields("001"):
        if field.data and field.data.strip():
            _sub(info, "recordIdentifier", field.data.strip())
    _sub(info, "recordOrigin", "Converted from MARC21 by kohaweb-mods")
