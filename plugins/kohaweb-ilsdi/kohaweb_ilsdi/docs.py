"""ILS-DI's self-documentation: the service list (no ``service`` parameter) and one service's
parameters, example call and example response (``service=Describe&verb=X``)."""

from __future__ import annotations

from urllib.parse import quote

from lxml import html
from lxml.html import builder as E

from .protocol import LEVELS, SERVICES


def _page(title: str, *body) -> bytes:
    document = E.HTML(E.HEAD(E.META(charset="utf-8"), E.TITLE(title)), E.BODY(E.H1(title), *body))
    return html.tostring(document, doctype="<!DOCTYPE html>", encoding="utf-8", pretty_print=True)


def index_page(base: str, library_name: str, http_error_status: bool = False) -> bytes:
    sections = []
    for level, names in LEVELS:
        entries = []
        for name, instead in names:
            if instead:
                entries.append(E.LI(f"{name} ({instead})"))
            else:
                entries.append(E.LI(E.A(name, href=f"{base}?service=Describe&verb={quote(name)}")))
        sections += [E.H2(level), E.UL(*entries)]
    statuses = ("Protocol errors have HTTP status 400 (parameters, unknown service) or 403 (address not "
                "allowed); the element code or message says what went wrong." if http_error_status else
                "Answers have HTTP status 200, errors included (the element code or message says what went "
                "wrong), as in Koha.")
    intro = E.P(f"{library_name}: the ILS Discovery Interface (DLF ILS-DI) as in Koha. Call ", E.CODE(base),
                f" with GET or POST and a service parameter. Answers are XML. {statuses}")
    return _page("ILS-DI", intro, *sections)


def describe_page(base: str, name: str) -> bytes:
    service = SERVICES[name]
    params = []
    for param in service.required:
        params += [E.DT(param), E.DD("Required")]
    for param in service.optional:
        params += [E.DT(param), E.DD("Optional")]
    example = f"{base}?{service.example}"
    return _page(f"ILS-DI: {name}", E.P(service.description), E.H2("Parameters"), E.DL(*params),
                 E.H2("Example call"), E.P(E.A(example, href=example)),
                 E.H2("Example response"), E.PRE(service.sample),
                 E.P(E.A("All services", href=base)))
