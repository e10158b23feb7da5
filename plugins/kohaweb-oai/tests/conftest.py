"""Fixtures of the OAI-PMH tests: one controllable clock for the catalogue and the service, the
app and a live server with the settings every test needs, and parsing/validation helpers."""

from __future__ import annotations

import datetime as dt
import itertools
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from kohaweb_oai import views
from lxml import etree

from kohaweb import catalog as catalog_module
from kohaweb.testing import assert_valid, make_settings, serve

NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "marc": "http://www.loc.gov/MARC21/slim",
      "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/", "dc": "http://purl.org/dc/elements/1.1/"}
BASE_SETTINGS = {"oai.admin_email": "oai-admin@library.example.org",
                 "oai.repository_identifier": "library.example.org"}
START = dt.datetime(2024, 3, 1, 12, 0, 0)


class Clock:
    """The time both the catalogue (datestamps) and the OAI service (responseDate, the fixed
    end of a list, token expiry) see; it moves only when a test says so."""

    def __init__(self, start: dt.datetime):
        self.current = start

    def tick(self, seconds: int = 1) -> dt.datetime:
        self.current += dt.timedelta(seconds=seconds)
        return self.current

    def utcnow(self) -> dt.datetime:
        return self.current

    def time(self) -> float:
        return self.current.replace(tzinfo=dt.UTC).timestamp()


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> Clock:
    clock = Clock(START)
    monkeypatch.setattr(catalog_module, "utcnow", clock.utcnow)
    monkeypatch.setattr(views, "current_time", clock.time)
    return clock


@pytest.fixture
def add_records(dbsession, reference_data):
    """``add_records(n, flavour="MARC21")`` stores n more generated records (with items) at the
    clock's time; later calls continue the sequence, so barcodes never collide."""
    from kohaweb.catalog import Catalog
    from kohaweb.sampledata import generate_records

    counter = itertools.count(1)

    def add(count: int, flavour: str = "MARC21") -> list[int]:
        start = next(counter)
        for _ in range(count - 1):
            next(counter)
        generated = list(generate_records(count, 7, flavour, start=start))
        biblios = Catalog(dbsession).add_records([g.record for g in generated], flavour=flavour,
                                                 items=[g.items for g in generated])
        dbsession.commit()
        return [b.biblionumber for b in biblios]

    return add


@pytest.fixture
def oai_app(clean_db, database_url):
    """``oai_app(**settings)`` -> webtest.TestApp of the oai service."""
    import webtest

    from kohaweb.app import make_app

    def factory(**overrides):
        raw = make_settings(database_url, ["oai"], **{**BASE_SETTINGS, **overrides})
        return webtest.TestApp(make_app(raw, engine=clean_db))

    return factory


@pytest.fixture
def oai_server(clean_db, database_url):
    """``with oai_server(**settings) as base_url:`` the oai service over real HTTP (waitress)."""
    from kohaweb.app import make_app

    @contextmanager
    def start(**overrides):
        raw = make_settings(database_url, ["oai"], **{**BASE_SETTINGS, **overrides})
        with serve(make_app(raw, engine=clean_db)) as url:
            yield url + "/cgi-bin/koha/oai.pl"

    return start


@pytest.fixture
def oai_schema(xml_schema):
    """OAI-PMH with every payload schema our responses carry."""
    return xml_schema("OAI-PMH", "oai_dc", "MARC21slim", "oai-identifier")


@pytest.fixture
def oai_get(oai_schema):
    """``oai_get(app, **args)`` -> the parsed response, after checking it against the schemas."""

    def get(app, method="GET", path="/oai", headers=None, **args):
        if method == "POST":
            response = app.post(path, args, headers=headers or {})
        else:
            response = app.get(path, args, headers=headers or {})
        assert response.status_int == 200
        assert response.content_type == "text/xml"
        root = etree.fromstring(response.body)
        assert_valid(oai_schema, root)
        return root

    return get


def error_codes(root) -> list[str]:
    return [e.get("code") for e in root.findall("oai:error", NS)]


def identifiers(root) -> list[str]:
    return [e.text for e in root.iterfind(".//oai:header/oai:identifier", NS)]


def token_of(root):
    return root.find(".//oai:resumptionToken", NS)


def harvest(get, app, verb="ListRecords", **args) -> tuple[list, list]:
    """Follow resumption tokens to the end; returns (every page's root, every header element)."""
    pages, headers = [], []
    root = get(app, verb=verb, **args)
    for _ in itertools.count():
        pages.append(root)
        headers.extend(root.iterfind(".//oai:header", NS))
        token = token_of(root)
        if token is None or not token.text:
            return pages, headers
        root = get(app, verb=verb, resumptionToken=token.text)


@pytest.fixture
def oai():
    """Helpers for reading responses: ``oai.NS``, ``oai.error_codes(root)``, ``oai.identifiers(root)``,
    ``oai.token_of(root)``, ``oai.harvest(get, app, verb, **args)``."""
    return SimpleNamespace(NS=NS, error_codes=error_codes, identifiers=identifiers, token_of=token_of,
                           harvest=harvest)
