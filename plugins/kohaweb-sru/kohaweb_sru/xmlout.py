"""Building SRU response documents (srw-types.xsd / diagnostic.xsd namespaces)."""

from __future__ import annotations

import re

from lxml import etree

from .diagnostics import Diagnostic

SRW_NS = "http://www.loc.gov/zing/srw/"
DIAG_NS = "http://www.loc.gov/zing/srw/diagnostic/"
EXTRA_NS = "info:kohaweb/sru/extraRequestData"
DIAGNOSTIC_SCHEMA = "info:srw/schema/1/diagnostics-v1.1"
NSMAP = {"zs": SRW_NS}
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


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


def serialize(doc: etree._Element, stylesheet: str | None) -> bytes:
    body = etree.tostring(doc, encoding="utf-8")
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    if stylesheet:
        pi = etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{_attr(stylesheet)}"')
        head += etree.tostring(pi) + b"\n"
    return head + body


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
