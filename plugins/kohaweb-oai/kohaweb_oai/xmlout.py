"""Serialising OAI-PMH responses as bytes, piece by piece, so a list can be streamed: the
envelope is written as text and each record's metadata is the byte string its format renders.
Element order follows OAI-PMH.xsd.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kohaweb.plugin_api import xml_text

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_IDENTIFIER_NS = "http://www.openarchives.org/OAI/2.0/oai-identifier"
OAI_IDENTIFIER_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai-identifier.xsd"


def text(value: object) -> str:
    value = xml_text(str(value))  # stored data may have characters XML cannot carry
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(value: object) -> str:
    return text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def element(name: str, value: object, attrs: Mapping[str, object] | None = None) -> str:
    attributes = "".join(f' {k}="{attr(v)}"' for k, v in (attrs or {}).items())
    return f"<{name}{attributes}>{text(value)}</{name}>"


def prologue(response_date: str, base_url: str, request_args: Mapping[str, str] | None,
             stylesheet: str = "") -> str:
    """Everything up to and including <request>; ``request_args`` None leaves out the attributes
    (badVerb and badArgument responses, spec 3.2)."""
    pi = f'<?xml-stylesheet type="text/xsl" href="{attr(stylesheet)}"?>\n' if stylesheet else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + pi +
            f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="{XSI_NS}" '
            f'xsi:schemaLocation="{OAI_NS} {OAI_SCHEMA}">'
            + element("responseDate", response_date)
            + element("request", base_url, dict(sorted((request_args or {}).items()))))


EPILOGUE = "</OAI-PMH>\n"


def errors(items: Iterable[tuple[str, str]]) -> str:
    return "".join(element("error", message, {"code": code}) for code, message in items)


def header(identifier: str, datestamp: str, set_specs: Iterable[str], deleted: bool) -> str:
    status = ' status="deleted"' if deleted else ""
    specs = "".join(element("setSpec", s) for s in set_specs)
    return (f"<header{status}>" + element("identifier", identifier) + element("datestamp", datestamp)
            + specs + "</header>")


def dc_container(descriptions: Iterable[str], title: str | None = None) -> str:
    """An oai_dc record holding free text: the schema-valid wrapper used for set descriptions
    and for the <about> note of a record that could not be rendered."""
    body = element("dc:title", title) if title else ""
    body += "".join(element("dc:description", d) for d in descriptions)
    return (f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}" '
            f'xsi:schemaLocation="{OAI_DC_NS} {OAI_DC_SCHEMA}">{body}</oai_dc:dc>')


def resumption_token(token: str, *, cursor: int, complete_list_size: int | None,
                     expiration: str | None) -> str:
    attrs: dict[str, object] = {}
    if expiration and token:
        attrs["expirationDate"] = expiration
    if complete_list_size is not None:
        attrs["completeListSize"] = complete_list_size
    attrs["cursor"] = cursor
    return element("resumptionToken", token, attrs)


def oai_identifier_description(repository_identifier: str, sample: str) -> str:
    return (f'<description><oai-identifier xmlns="{OAI_IDENTIFIER_NS}" '
            f'xsi:schemaLocation="{OAI_IDENTIFIER_NS} {OAI_IDENTIFIER_SCHEMA}">'
            + element("scheme", "oai") + element("repositoryIdentifier", repository_identifier)
            + element("delimiter", ":") + element("sampleIdentifier", sample)
            + "</oai-identifier></description>")
