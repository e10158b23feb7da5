"""Building SRU response documents (srw-types.xsd / diagnostic.xsd namespaces)."""

from __future__ import annotations

import re

from lxml import etree

from kohaweb.plugin_api import is_xml_text, xml_escape, xml_escape_attribute

from .diagnostics import Diagnostic

SRW_NS = "http://www.loc.gov/zing/srw/"
DIAG_NS = "http://www.loc.gov/zing/srw/diagnostic/"
EXTRA_NS = "info:kohaweb/sru/extraRequestData"
DIAGNOSTIC_SCHEMA = "info:srw/schema/1/diagnostics-v1.1"
NSMAP = {"zs": SRW_NS}
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def root(name: str, version: str) -> etree._Element:
    el = etree.Element(f"{{{SRW_NS}}}{name}", nsmap=NSMAP)
    sub(el, "version", version)
    return el


def sub(parent: etree._Element, name: str, text: str | int | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{SRW_NS}}}{name}")
    if text is not None:
        el.text = str(text)
    return el


def diagnostic_element(diag: Diagnostic) -> etree._Element:
    el = etree.Element(f"{{{DIAG_NS}}}diagnostic", nsmap={"diag": DIAG_NS})
    etree.SubElement(el, f"{{{DIAG_NS}}}uri").text = diag.uri
    if diag.details:
        etree.SubElement(el, f"{{{DIAG_NS}}}details").text = diag.details
    if diag.message:
        etree.SubElement(el, f"{{{DIAG_NS}}}message").text = diag.message
    return el


def diagnostics(parent: etree._Element, diags: list[Diagnostic]) -> None:
    if diags:
        holder = sub(parent, "diagnostics")
        for diag in diags:
            holder.append(diagnostic_element(diag))


def extra_request_data(parent: etree._Element, extras: dict[str, str]) -> None:
    """Echo x-* parameters (SRU's extension parameters) as elements of our own namespace."""
    names = [n for n in extras if _XML_NAME.match(n)]
    if names:
        holder = sub(parent, "extraRequestData")
        for name in names:
            etree.SubElement(holder, f"{{{EXTRA_NS}}}{name}", nsmap={"kw": EXTRA_NS}).text = extras[name]


def serialize(doc: etree._Element | bytes, stylesheet: str | None) -> bytes:
    """The response document (an element, or the bytes ``open_root`` ... ``close_root`` made)."""
    body = doc if isinstance(doc, bytes) else etree.tostring(doc, encoding="utf-8")
    if stylesheet:
        pi = etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{xml_escape_attribute(stylesheet)}"')
        return XML_DECLARATION + etree.tostring(pi) + b"\n" + body
    return XML_DECLARATION + body


# --- the same markup written directly as text (the searchRetrieve path: no tree to build) ------

def text(value: str) -> str:
    """``value`` escaped as lxml escapes element text; ValueError where lxml would refuse it."""
    if not is_xml_text(value):  # fail exactly where lxml would
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control "
                         "characters")
    return xml_escape(value)


def element(name: str, value: str | int) -> str:
    """``<zs:name>value</zs:name>`` (the zs prefix being declared on the root)."""
    return f"<zs:{name}>{text(value) if isinstance(value, str) else value}</zs:{name}>"


def open_root(name: str, version: str) -> str:
    return f'<zs:{name} xmlns:zs="{SRW_NS}"><zs:version>{text(version)}</zs:version>'


def fragment(build) -> bytes:
    """The children ``build(parent)`` adds to an lxml element, serialised as they would be inside
    a zs-rooted document (namespaces declared as lxml declares them there)."""
    holder = etree.Element(f"{{{SRW_NS}}}holder", nsmap=NSMAP)
    build(holder)
    if len(holder) == 0:
        return b""
    data = etree.tostring(holder, encoding="utf-8")
    return data[data.index(b">") + 1:data.rindex(b"<")]

