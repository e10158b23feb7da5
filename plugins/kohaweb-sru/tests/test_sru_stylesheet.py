"""Stylesheets in SRU responses: the request's `stylesheet` parameter (SRU 1.1 and 1.2) is referenced
by an xml-stylesheet instruction and echoed; sru.stylesheet = default references the stylesheet the
plugin serves, which turns explain, searchRetrieve, scan and diagnostics into readable pages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from lxml import etree, html

from kohaweb.testing import assert_valid

NS = {"zs": "http://www.loc.gov/zing/srw/", "marc": "http://www.loc.gov/MARC21/slim",
      "dc": "http://purl.org/dc/elements/1.1/", "mods": "http://www.loc.gov/mods/v3"}
XSL_PATH = "/sru/static/sru.xsl"


def pi(href: str) -> bytes:
    return f'<?xml-stylesheet type="text/xsl" href="{href}"?>'.encode()


def fetch(app, schema, path: str, **params) -> tuple[bytes, etree._Element]:
    response = app.get(path + "?" + urlencode(params))
    assert response.status_int == 200 and response.content_type == "text/xml"
    root = etree.fromstring(response.body)
    assert_valid(schema, root)
    return response.body, root


def served_transform(app) -> etree.XSLT:
    response = app.get(XSL_PATH)
    assert response.status_int == 200
    assert response.content_type in ("application/xml", "text/xml", "application/xslt+xml", "text/xsl")
    assert response.cache_control.max_age == 3600
    return etree.XSLT(etree.fromstring(response.body))


def follow(app, schema, base_path: str, href: str) -> tuple[bytes, etree._Element]:
    """A link of a rendered page, relative to the response's address (``?...``) as a browser resolves it."""
    parts = urlsplit(href)
    assert not parts.scheme and not parts.path, href
    params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return fetch(app, schema, base_path, **params)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize("operation, extra", [
    ("explain", {}),
    ("searchRetrieve", {"query": "cql.allRecords=1", "maximumRecords": "2"}),
    ("scan", {"scanClause": "dc.title=a"}),
])
def test_the_stylesheet_parameter_is_referenced_and_echoed(make_app, xml_schema, sample_records, version,
                                                           operation, extra):
    sample_records(3)
    app = make_app(services=["sru"])
    schema = xml_schema("srw-types", "MARC21slim")
    href = "/styles/my sru.xsl?a=1&b=2"
    body, root = fetch(app, schema, "/sru", version=version, operation=operation, stylesheet=href, **extra)
    # pseudo-attributes of xml-stylesheet take the predefined entities: & is written &amp;
    declaration, instruction, _ = body.split(b"\n", 2)
    assert declaration.startswith(b"<?xml ") and instruction == pi(href.replace("&", "&amp;"))
    # the instruction is the document's own, before the root (what a browser reads)
    pis = [n for n in root.itersiblings(preceding=True) if isinstance(n, etree._ProcessingInstruction)]
    assert [p.get("href").replace("&amp;", "&") for p in pis] == [href]
    if operation != "explain":
        echoed = root.find(f"zs:echoed{operation[0].upper()}{operation[1:]}Request", NS)
        assert echoed.findtext("zs:stylesheet", namespaces=NS) == href
    # no parameter, no setting: no instruction (as Zebra)
    body, _ = fetch(app, schema, "/sru", version=version, operation=operation, **extra)
    assert b"xml-stylesheet" not in body


def test_the_default_setting_references_the_served_stylesheet(make_app, xml_schema):
    app = make_app(services=["sru"], **{"sru.stylesheet": "default"})
    schema = xml_schema("srw-types", "MARC21slim")
    body, _ = fetch(app, schema, "/biblios", version="1.1", operation="explain")
    assert pi(XSL_PATH) in body
    body, _ = fetch(app, schema, "/biblios", version="1.1", operation="explain", stylesheet="/mine.xsl")
    assert pi("/mine.xsl") in body and XSL_PATH.encode() not in body  # the request's own wins
    body, _ = fetch(app, schema, "/biblios", version="1.2", operation="searchRetrieve", query="((")
    assert pi(XSL_PATH) in body  # diagnostics too
    assert etree.fromstring(app.get(XSL_PATH).body).tag == "{http://www.w3.org/1999/XSL/Transform}stylesheet"


def marc_titles(root) -> list[str]:
    return [" ".join(sf.text for sf in f.iterfind("marc:subfield", NS) if sf.get("code") in "abnp")
            for f in root.iterfind(".//zs:recordData/marc:record/marc:datafield[@tag='245']", NS)]


@pytest.mark.parametrize("schema_name, schemas", [
    ("marcxml", ("srw-types", "MARC21slim")),
    ("dc", ("srw-types", "oai_dc")),
    ("mods", ("srw-types", "mods-3-7")),
])
def test_search_pages_show_titles_and_page_on(make_app, xml_schema, sample_records, schema_name, schemas):
    sample_records(7)
    app = make_app(services=["sru"], **{"sru.stylesheet": "default"})
    schema = xml_schema(*schemas)
    xslt = served_transform(app)
    body, root = fetch(app, schema, "/sru", version="1.1", operation="searchRetrieve", query="cql.allRecords=1",
                       maximumRecords="3", recordSchema=schema_name)
    seen: list[str] = []
    pages = 0
    while True:
        assert pi(XSL_PATH) in body
        pages += 1
        page = html.fromstring(str(xslt(root)))
        # the titles as the response carries them, read here without the stylesheet
        if schema_name == "marcxml":
            titles = marc_titles(root)
        elif schema_name == "dc":
            titles = [t.text for t in root.iterfind(".//zs:recordData//dc:title", NS)]
        else:
            titles = [t.findtext("mods:title", namespaces=NS) + "".join(
                f": {s.text}" for s in t.iterfind("mods:subTitle", NS))
                for t in root.iterfind(".//zs:recordData/mods:mods/mods:titleInfo[mods:title][1]", NS)]
        headings = [h.text_content().strip() for h in page.xpath("//article[@class='record']/h3")]
        assert titles and headings == titles
        assert "7 records" in page.xpath("//p[@class='meta']")[0].text_content()
        seen += titles
        next_links = page.xpath("//a[@rel='next']/@href")
        assert bool(next_links) == (root.find("zs:nextRecordPosition", NS) is not None)
        if not next_links:
            break
        body, root = follow(app, schema, "/sru", next_links[0])
        assert root.find("zs:echoedSearchRetrieveRequest/zs:recordSchema", NS).text == schema_name
    assert pages == 3 and len(seen) == 7
    previous = page.xpath("//a[@rel='prev']/@href")[0]
    _, root = follow(app, schema, "/sru", previous)
    assert root.find("zs:records/zs:record/zs:recordPosition", NS).text == "4"


def test_explain_scan_and_diagnostics_pages(make_app, xml_schema, sample_records):
    sample_records(5)
    app = make_app(services=["sru"], **{"sru.stylesheet": "default", "sru.title": "Union catalogue"})
    schema = xml_schema("srw-types", "MARC21slim")
    xslt = served_transform(app)
    _, root = fetch(app, schema, "/sru", version="1.2", operation="explain")
    page = html.fromstring(str(xslt(root)))
    assert page.findtext(".//h1") == "Union catalogue"
    assert "dc.title" in [c.text for c in page.xpath("//table//td/code")]
    assert page.xpath("//form[@role='search']//input[@name='query']")
    # each index links to a scan of its terms, and each term to a search that finds its records
    scan_link = next(a.get("href") for a in page.xpath("//a") if "scanClause=dc.title" in a.get("href", ""))
    _, root = follow(app, schema, "/sru", scan_link)
    page = html.fromstring(str(xslt(root)))
    term_links = page.xpath("//tbody/tr")
    assert term_links
    first = term_links[0]
    count = int(first.xpath("td")[1].text)
    _, found = follow(app, schema, "/sru", first.xpath(".//a/@href")[0])
    assert int(found.findtext("zs:numberOfRecords", namespaces=NS)) == count
    # a diagnostic reads as one
    _, root = fetch(app, schema, "/sru", version="1.1", operation="searchRetrieve", query="dc.title=(")
    page = html.fromstring(str(xslt(root)))
    assert page.xpath("//section[@class='error']//li")
    assert "info:srw/diagnostic/1/10" in page.xpath("//section[@class='error']")[0].text_content()
