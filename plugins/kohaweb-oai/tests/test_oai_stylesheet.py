"""The default stylesheet (oai.stylesheet = default, the default, as Koha references its OAI.xslt):
served by the app, referenced by every response, and turning each verb's answer into a readable
page whose links (records, sets, the next page of a list) lead to valid requests."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from lxml import etree, html

from kohaweb.models import OaiSet, OaiSetBiblio, OaiSetDescription
from kohaweb.testing import assert_valid

NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "marc": "http://www.loc.gov/MARC21/slim",
      "dc": "http://purl.org/dc/elements/1.1/"}

XSL_PATH = "/oai/static/oai2.xsl"
PI = f'<?xml-stylesheet type="text/xsl" href="{XSL_PATH}"?>'.encode()


def served_transform(app) -> etree.XSLT:
    """The stylesheet as the app serves it, compiled by lxml (libxslt: XSLT 1.0, as browsers run)."""
    response = app.get(XSL_PATH)
    assert response.status_int == 200
    assert response.content_type in ("application/xml", "text/xml", "application/xslt+xml", "text/xsl")
    return etree.XSLT(etree.fromstring(response.body))


def page_of(app, xslt, url: str, oai_schema=None):
    """GET an OAI URL (absolute or a path), check its PI and validity, and return (xml, html)."""
    parts = urlsplit(url)
    response = app.get(parts.path + ("?" + parts.query if parts.query else ""))
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n' + PI + b"\n")
    root = etree.fromstring(response.body)
    if oai_schema is not None:
        assert_valid(oai_schema, root)
    page = html.fromstring(str(xslt(root)))
    return root, page


def test_every_response_references_the_served_stylesheet(oai_app, oai_get, sample_records):
    sample_records(2)
    app = oai_app()
    for query in ("verb=Identify", "verb=ListSets", "verb=Nonsense", "verb=GetRecord&identifier=x"):
        assert PI in app.get(f"/cgi-bin/koha/oai.pl?{query}").body
    oai_get(app, verb="Identify")  # still valid against OAI-PMH.xsd with the instruction
    # the stylesheet itself: well-formed XSLT, cacheable
    response = app.get(XSL_PATH)
    assert response.cache_control.max_age == 3600
    assert etree.fromstring(response.body).tag == "{http://www.w3.org/1999/XSL/Transform}stylesheet"


def test_the_setting_can_name_another_stylesheet_or_none(oai_app, sample_records):
    app = oai_app(**{"oai.stylesheet": "/opac-tmpl/xslt/OAI.xslt"})
    assert b'<?xml-stylesheet type="text/xsl" href="/opac-tmpl/xslt/OAI.xslt"?>' in app.get("/oai?verb=Identify").body
    app = oai_app(**{"oai.stylesheet": ""})
    assert b"xml-stylesheet" not in app.get("/oai?verb=Identify").body


def test_identify_formats_and_errors_read_as_pages(oai_app, oai_schema, sample_records):
    sample_records(1)
    app = oai_app(**{"oai.repository_name": "The Test Library"})
    xslt = served_transform(app)
    _, page = page_of(app, xslt, "/oai?verb=Identify", oai_schema)
    assert "The Test Library" in page.text_content()
    assert "library.example.org" in page.text_content()  # the oai-identifier description
    assert page.findtext(".//h1") == "OAI-PMH: Identify"
    _, page = page_of(app, xslt, "/oai?verb=ListMetadataFormats", oai_schema)
    prefixes = [a.text for a in page.xpath("//table//a")]
    assert {"oai_dc", "marcxml"} <= set(prefixes)
    _, page = page_of(app, xslt, "/oai?verb=Nonsense", oai_schema)
    errors = page.xpath("//section[@class='error']//li")
    assert errors and "badVerb" in errors[0].text_content()
    _, page = page_of(app, xslt, "/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:library.example.org:999999",
                      oai_schema)
    assert "idDoesNotExist" in page.xpath("//section[@class='error']")[0].text_content()


def test_sets_link_to_their_records(oai_app, oai_schema, dbsession, sample_records, clock):
    ids = sample_records(3)
    oai_set = OaiSet(spec="lang:eng", name="English & more")
    oai_set.descriptions.append(OaiSetDescription(description="Books in English"))
    dbsession.add(oai_set)
    dbsession.commit()
    dbsession.add(OaiSetBiblio(biblionumber=ids[0], set_id=oai_set.id))
    dbsession.commit()
    clock.tick()  # a list ends at the second before the request's
    app = oai_app()
    xslt = served_transform(app)
    _, page = page_of(app, xslt, "/oai?verb=ListSets", oai_schema)
    row = page.xpath("//tbody/tr")[0]
    assert "English & more" in row.text_content() and "Books in English" in row.text_content()
    root, _ = page_of(app, xslt, row.xpath(".//a/@href")[0], oai_schema)
    assert [h.text for h in root.findall(".//oai:header/oai:identifier", NS)] == \
        [f"oai:library.example.org:{ids[0]}"]


@pytest.mark.parametrize("prefix", ["oai_dc", "marcxml"])
def test_lists_show_titles_and_follow_resumption_tokens(oai_app, oai_schema, sample_records, clock, prefix):
    sample_records(7)
    clock.tick()
    app = oai_app(**{"oai.max_count": "3"})
    xslt = served_transform(app)
    url = f"/cgi-bin/koha/oai.pl?verb=ListRecords&metadataPrefix={prefix}"
    seen_titles: list[str] = []
    pages = 0
    while url:
        root, page = page_of(app, xslt, url, oai_schema)
        pages += 1
        # the titles as the response carries them, found here independently of the stylesheet
        if prefix == "oai_dc":
            titles = [t.text for t in root.iterfind(".//oai:record//dc:title", NS)]
        else:
            titles = [" ".join(sf.text for sf in f.iterfind("marc:subfield", NS) if sf.get("code") in "abnp")
                      for f in root.iterfind(".//oai:record//marc:datafield[@tag='245']", NS)]
        headings = [h.text_content().strip() for h in page.xpath("//article[@class='record']/h3")]
        assert titles and headings == titles
        seen_titles += titles
        # each record's identifier links to its GetRecord in the same format
        first = page.xpath("//article[@class='record']//a")[0].get("href")
        record, _ = page_of(app, xslt, first, oai_schema)
        assert record.find(".//oai:GetRecord", NS) is not None
        assert record.find("oai:request", NS).get("metadataPrefix") == prefix
        next_links = page.xpath("//a[@rel='next']/@href")
        token = root.findtext(".//oai:resumptionToken", namespaces=NS)
        assert bool(next_links) == bool(token)
        url = next_links[0] if next_links else None
    assert pages == 3 and len(seen_titles) == 7
    assert "End of the list." in page.text_content()


def test_list_identifiers_and_deleted_records(oai_app, oai_schema, sample_records, catalog, dbsession, clock):
    ids = sample_records(2)
    catalog.delete_record(ids[1])
    dbsession.commit()
    clock.tick()
    app = oai_app()
    xslt = served_transform(app)
    _, page = page_of(app, xslt, "/oai?verb=ListIdentifiers&metadataPrefix=marcxml", oai_schema)
    rows = page.xpath("//tbody/tr")
    assert [r.xpath(".//code")[0].text for r in rows] == [f"oai:library.example.org:{i}" for i in ids]
    assert "(deleted)" in rows[1].text_content() and "(deleted)" not in rows[0].text_content()
    assert "metadataPrefix=marcxml" in rows[0].xpath(".//a/@href")[0]
