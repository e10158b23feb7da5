"""End to end: kohaweb harvests another kohaweb instance (its own database) over OAI-PMH, then
finds the harvested records over SRU and serves them again over OAI-PMH."""

from __future__ import annotations

import time

import pytest
from kohaweb_harvester.runner import Harvester
from kohaweb_harvester.sources import add_source
from lxml import etree
from sqlalchemy import func, select

from kohaweb.app import make_app as build_app
from kohaweb.catalog import Catalog
from kohaweb.db import make_engine, make_session_factory, transaction
from kohaweb.migrate import upgrade
from kohaweb.models import Biblio
from kohaweb.sampledata import ensure_reference_data, generate_records
from kohaweb.testing import make_settings, selected_backend, serve, throwaway_database

pytest.importorskip("kohaweb_oai", reason="harvesting a peer needs the kohaweb-oai plugin")
SRU = {"srw": "http://www.loc.gov/zing/srw/"}


@pytest.fixture
def peer(tmp_path):
    """A second kohaweb instance with 30 records, serving OAI-PMH (3 records per page)."""
    with throwaway_database(selected_backend(), tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            ensure_reference_data(session)
            generated = list(generate_records(30, seed=77))
            Catalog(session).add_records([g.record for g in generated], items=[g.items for g in generated])
        time.sleep(1.1)  # lists end at the second before the response: let the records' second pass
        app = build_app(make_settings(url, ["oai"], **{"oai.max_count": "7"}), engine=engine)
        with serve(app) as base:
            yield base, factory
        engine.dispose()


@pytest.mark.parametrize("prefix", ["marcxml", "oai_dc"])
def test_harvest_a_kohaweb_peer_then_search_and_republish(prefix, peer, dbsession, session_factory,
                                                         reference_data, make_app):
    base, peer_factory = peer
    source_id = add_source(dbsession, "peer", base + "/oai", prefix).id
    dbsession.commit()
    run = Harvester(session_factory).run(source_id)
    assert (run.status, run.added, run.failed) == ("completed", 30, 0), run.last_error
    with transaction(peer_factory) as peer_session:
        titles = sorted(peer_session.scalars(select(Biblio.title)))
    dbsession.rollback()
    local = sorted(dbsession.scalars(select(Biblio.title)))
    if prefix == "marcxml":
        assert local == titles
    else:  # Dublin Core's title carries the subtitle: "Title : subtitle"
        assert all(mine.startswith(theirs) for mine, theirs in zip(local, titles, strict=True))

    # deleted at the peer -> deleted here on the next (incremental) run
    with transaction(peer_factory) as peer_session:
        victim = peer_session.scalars(select(Biblio).order_by(Biblio.biblionumber)).first()
        victim_title = victim.title
        Catalog(peer_session).delete_record(victim.biblionumber)
    # a list ends at the second before its first response; changes in that second wait for the next run
    time.sleep(1.1)
    second = Harvester(session_factory).run(source_id)
    assert (second.status, second.deleted, second.added) == ("completed", 1, 0), second.last_error
    dbsession.rollback()
    assert dbsession.scalar(select(func.count()).select_from(Biblio)) == 29

    app = make_app(services=["sru", "oai"])
    remaining = [t for t in titles if t != victim_title]
    word = next(w for t in remaining for w in t.split() if len(w) > 3 and w.isascii() and w.isalpha())
    expected = sum(1 for t in remaining if word.lower() in t.lower().split())
    found = etree.fromstring(app.get("/sru", {"version": "1.2", "operation": "searchRetrieve",
                                              "query": f"dc.title={word}"}).body)
    assert int(found.findtext("srw:numberOfRecords", namespaces=SRU)) >= expected >= 1
    listed = app.get("/oai", {"verb": "ListIdentifiers", "metadataPrefix": "marcxml"})
    assert listed.status_int == 200 and listed.body.count(b"<identifier>") >= 29
