"""Harvesting into the catalogue: incremental, resumable, retrying, deletions, bad records."""

from __future__ import annotations

import pytest
from kohaweb_harvester.models import HarvestedRecord, HarvestRun, HarvestSource
from kohaweb_harvester.runner import Harvester
from kohaweb_harvester.sources import add_source
from oai_fixture import FixtureRecord, FixtureRepository, stamp
from sqlalchemy import func, select

from kohaweb import marc
from kohaweb.models import Biblio, DeletedBiblio
from kohaweb.sampledata import generate_records
from kohaweb.testing import serve


def marc_payload(n: int, title: str | None = None) -> str:
    record = next(generate_records(1, seed=n, start=n)).record
    if title:
        record["245"]["a"] = title
    return marc.record_to_xml(record).decode()


def dc_payload(title: str, creator: str = "Doe, Jane") -> str:
    return ('<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{title}</dc:title><dc:creator>{creator}</dc:creator>"
            "<dc:identifier>https://repository.example.org/item/1</dc:identifier>"
            "<dc:date>2019</dc:date><dc:language>fre</dc:language></oai_dc:dc>")


@pytest.fixture
def repository():
    return FixtureRepository(records=[FixtureRecord(f"oai:fixture:{n}", stamp(n), marc_payload(n))
                                      for n in range(1, 13)])


def make_source(dbsession, url, prefix="marcxml", sets=None) -> int:
    source = add_source(dbsession, "fixture", url, prefix, sets)
    dbsession.commit()
    return source.id


def count(session, model) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_full_then_incremental_harvest(repository, dbsession, session_factory, reference_data):
    repository.unavailable_once = True
    waits = []
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        harvester = Harvester(session_factory, sleep=waits.append)
        run = harvester.run(source_id)
        assert (run.status, run.added, run.failed) == ("completed", 12, 0)
        assert waits == [1], "the 503's Retry-After is honoured"
        assert count(dbsession, Biblio) == 12
        biblio = dbsession.scalars(select(Biblio)).first()
        record = marc.parse_xml(biblio.metadata_row.metadata_xml)
        assert any(v.startswith("(OAI)oai:fixture:") for v in record.get_fields("035")[0].get_subfields("a"))

        # the source edits two records and deletes one, later than the first run
        repository.now = "2026-12-01T00:00:00Z"
        repository.records[0] = FixtureRecord("oai:fixture:1", "2026-11-15T00:00:00Z", marc_payload(1, "Edited title"))
        repository.records[1] = FixtureRecord("oai:fixture:2", "2026-11-15T00:00:00Z", None)
        repository.records.append(FixtureRecord("oai:fixture:99", "2026-11-16T00:00:00Z", marc_payload(99)))
        second = harvester.run(source_id)
        assert repository.requests[-1].get("from") == "2026-11-01T10:00:00Z", "incremental from the last run"
        assert (second.status, second.added, second.updated, second.deleted) == ("completed", 1, 1, 1)
    assert count(dbsession, Biblio) == 12
    assert count(dbsession, DeletedBiblio) == 1
    assert "Edited title" in dbsession.scalars(select(Biblio.title)).all()


def test_interrupted_run_resumes_without_duplicates(repository, dbsession, session_factory, reference_data):
    pages = []

    def kill_after_two_pages(n):
        pages.append(n)
        if len(pages) == 2:
            raise KeyboardInterrupt

    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        with pytest.raises(KeyboardInterrupt):
            Harvester(session_factory, progress=kill_after_two_pages).run(source_id)
        dbsession.rollback()
        assert count(dbsession, Biblio) == 5, "the page being stored when killed is rolled back whole"
        assert dbsession.get(HarvestSource, source_id).checkpoint is not None
        runs = dbsession.scalars(select(HarvestRun.status)).all()
        assert runs == ["interrupted"]
        resumed = Harvester(session_factory).run(source_id)
        assert resumed.status == "completed"
        assert repository.requests[-1].get("resumptionToken") == "10", "resumed at the next page"
    assert count(dbsession, Biblio) == 12
    assert count(dbsession, HarvestedRecord) == 12
    assert dbsession.get(HarvestSource, source_id).checkpoint is None


def test_unreachable_source_fails_the_run_and_keeps_going_later(dbsession, session_factory, reference_data):
    source_id = make_source(dbsession, "http://127.0.0.1:9/oai")
    run = Harvester(session_factory, retries=1, sleep=lambda s: None).run(source_id)
    assert run.status == "failed" and "unreachable" in run.last_error


def test_bad_records_are_skipped_with_their_identifier(dbsession, session_factory, reference_data):
    repository = FixtureRepository(records=[
        FixtureRecord("oai:fixture:good", stamp(1), dc_payload("Les récifs coralliens")),
        FixtureRecord("oai:fixture:untitled", stamp(2), dc_payload("").replace("<dc:title></dc:title>", "")),
        FixtureRecord("oai:fixture:alien", stamp(3), '<x:thing xmlns:x="urn:x">?</x:thing>'),
        FixtureRecord("oai:fixture:good2", stamp(4), dc_payload("Second")),
    ])
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai", prefix="oai_dc")
        run = Harvester(session_factory).run(source_id)
    assert (run.status, run.added, run.failed) == ("completed", 2, 2)
    assert "oai:fixture:alien" in run.last_error
    titles = sorted(dbsession.scalars(select(Biblio.title)))
    assert titles == ["Les récifs coralliens", "Second"]


def test_deletion_can_suppress_instead(repository, dbsession, session_factory, reference_data):
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai")
        harvester = Harvester(session_factory, deleted="suppress")
        harvester.run(source_id)
        repository.now = "2026-12-01T00:00:00Z"
        repository.records[0] = FixtureRecord("oai:fixture:1", "2026-11-20T00:00:00Z", None)
        assert harvester.run(source_id).deleted == 1
    dbsession.rollback()
    assert count(dbsession, Biblio) == 12
    assert dbsession.scalar(select(func.count()).select_from(Biblio).where(Biblio.opac_suppressed.is_(True))) == 1


@pytest.mark.parametrize("sample, prefix, expected", [
    ("infrae__pyoai/fake2/00002.xml", "oai_dc", 79),  # 81 headers, 2 of them deletions
    ("xbib__marc/zdb-oai-marc.xml", "MARC21-xml", 50),
    ("medialab__reference_manager/oaipmh_oai_dc.xml", "oai_dc", 100),
])
def test_real_server_samples(sample, prefix, expected, shared_data, dbsession, session_factory, reference_data):
    body = (shared_data / "samples" / "oai-pmh" / sample).read_bytes()
    repository = FixtureRepository(raw_pages=[body])
    with serve(repository) as url:
        source_id = make_source(dbsession, url + "/oai", prefix=prefix)
        run = Harvester(session_factory).run(source_id)
    assert run.status == "completed", run.last_error
    assert run.added + run.failed == expected
    assert run.added >= expected - 2
    assert count(dbsession, Biblio) == run.added
