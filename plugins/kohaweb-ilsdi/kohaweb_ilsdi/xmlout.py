"""ILS-DI's XML shape: Koha turns a Perl hash into XML with XML::Simple (``noattr``,
``SuppressEmpty``): keys become child elements, lists repeat the element, undefined values are
left out. This module does the same from Python dicts, so services return plain data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from lxml import etree

from kohaweb.plugin_api import xml_text

DECLARATION = b'<?xml version="1.0" encoding="UTF-8" ?>\n'


def text_value(value: Any) -> str:
    """A column value as Koha prints it: MySQL date/time formats, 0/1 for booleans."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.6f}"
    if isinstance(value, float):
        return f"{value:.6f}"
    return xml_text(str(value))  # stored data (MARC imports) sometimes has characters XML cannot carry


def build(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for entry in value:
            build(parent, name, entry)
        return
    child = etree.SubElement(parent, name)
    if isinstance(value, dict):
        for key, entry in value.items():
            build(child, key, entry)
    else:
        child.text = text_value(value)


def document(root_name: str, data: dict[str, Any]) -> bytes:
    """The response body: declaration, then ``<root_name>`` holding ``data``."""
    root = etree.Element(root_name)
    for key, value in data.items():
        build(root, key, value)
    return DECLARATION + etree.tostring(root, encoding="utf-8", pretty_print=True)


def row(obj: Any, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """A model row as an ordered dict of its columns (Koha's ``unblessed``)."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in exclude}
