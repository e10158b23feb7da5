"""A small library for ILS-DI tests: two records with items, patrons with passwords, an app that
accepts 127.0.0.1, and ``call`` which parses answers with lxml as a discovery client does."""

from __future__ import annotations

import datetime as dt
import functools

import pymarc
import pytest
from lxml import etree

from kohaweb.auth import hash_password
from kohaweb.catalog import Catalog
from kohaweb.models import Patron

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
DLF = {"dlf": "http://diglib.org/ilsdi/1.1"}
PASSWORD = "correct horse battery"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # bcrypt is slow on purpose: hash once per run


def record(title: str, itype: str = "BK") -> pymarc.Record:
    rec = pymarc.Record(leader="00000nam a22000007a 4500")
    rec.add_field(pymarc.Field(tag="001", data=title.replace(" ", "")))
    rec.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"),
                               subfields=[pymarc.Subfield("a", title)]))
    rec.add_field(pymarc.Field(tag="942", indicators=pymarc.Indicators(" ", " "),
                               subfields=[pymarc.Subfield("c", itype)]))
    return rec


@pytest.fixture
def library(dbsession, reference_data):
    catalog = Catalog(dbsession)
    book = catalog.add_record(record("Coral reefs"), items=[
        {"barcode": "B1", "homebranch": "CPL", "holdingbranch": "CPL", "itype": "BK", "itemcallnumber": "577.7 COR"},
        {"barcode": "B2", "homebranch": "FFL", "holdingbranch": "FFL", "itype": "BK"}])
    dvd = catalog.add_record(record("Ocean film", "DVD"), items=[
        {"barcode": "D1", "homebranch": "CPL", "holdingbranch": "CPL", "itype": "DVD"}])
    empty = catalog.add_record(record("No copies"), items=[])
    future = dt.date.today() + dt.timedelta(days=300)
    alice = Patron(cardnumber="A0001", userid="alice", surname="Smith", firstname="Alice", email="alice@example.org",
                   phone="555-1234", address="1 Main Street", city="Centerville", branchcode="CPL",
                   categorycode="PT", dateexpiry=future, password=password_hash())
    bob = Patron(cardnumber="B0001", userid="bob", surname="Jones", firstname="Bob", branchcode="FFL",
                 categorycode="PT", dateexpiry=future, password=password_hash())
    dbsession.add_all([alice, bob])
    dbsession.flush()
    numbers = {"book": book.biblionumber, "dvd": dvd.biblionumber, "empty": empty.biblionumber,
            "b1": book.items[0].itemnumber, "b2": book.items[1].itemnumber, "d1": dvd.items[0].itemnumber,
            "alice": alice.borrowernumber, "bob": bob.borrowernumber}
    dbsession.commit()  # after reading the ids, so the test's session holds no read snapshot
    return numbers


@pytest.fixture
def ilsdi(make_app):
    """``ilsdi(**settings)`` -> a TestApp with the ilsdi service, 127.0.0.1 allowed by default."""

    def build(**settings):
        settings.setdefault("ilsdi.authorized_ips", "127.0.0.1")
        app = make_app(services=["ilsdi"], **settings)
        app.extra_environ = dict(LOCAL)
        return app

    return build


@pytest.fixture
def app(ilsdi):
    return ilsdi()


@pytest.fixture
def call(app, dbsession):
    """``call(service, method="GET", **params)`` -> the parsed root element (HTTP 200 checked).
    The test's session is committed first (the app sees the setup, and no read snapshot stays
    open) and expired after, so the test then reads what the app wrote."""

    def request(service: str, method: str = "GET", path: str = "/ilsdi", **params):
        params = {"service": service, **{k: str(v) for k, v in params.items()}}
        dbsession.commit()
        response = app.get(path, params) if method == "GET" else app.post(path, params)
        dbsession.expire_all()
        assert response.status_int == 200
        assert response.content_type == "text/xml" and response.charset.lower() == "utf-8"
        assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8" ?>')
        return etree.fromstring(response.body)

    return request
