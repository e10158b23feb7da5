"""Concurrent writers over real HTTP: every request answered without a 5xx and every write kept
(SQLite takes the writer lock when a write request's transaction begins, so writers queue on the
busy timeout instead of failing; deadlocks and serialisation failures are retried)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pymarc
import requests
from sqlalchemy import func, select

from kohaweb.models import Biblio

WRITERS = 20


def marcxml(title: str) -> bytes:
    record = pymarc.Record()
    record.leader = "00000nam a2200000 a 4500"
    record.add_field(pymarc.Field(tag="100", indicators=["1", " "],
                                  subfields=[pymarc.Subfield("a", "Writer, Concurrent")]))
    record.add_field(pymarc.Field(tag="245", indicators=["1", "0"],
                                  subfields=[pymarc.Subfield("a", title)]))
    record.add_field(pymarc.Field(tag="952", indicators=[" ", " "], subfields=[
        pymarc.Subfield("a", "CPL"), pymarc.Subfield("b", "CPL"), pymarc.Subfield("y", "BK"),
        pymarc.Subfield("p", f"bc-{title}")]))
    return pymarc.record_to_xml(record, namespace=True)


def test_concurrent_biblio_creations_all_succeed(live_server, staff_user, dbsession):
    userid, password, _ = staff_user("cat", "catalogue", "editcatalogue")
    titles = [f"Concurrent record {n:02d}" for n in range(WRITERS)]
    with live_server(**{"kohaweb.auth.basic": "true"}) as base:
        def create(title: str) -> tuple[int, str]:
            response = requests.post(f"{base}/api/v1/biblios", data=marcxml(title), auth=(userid, password),
                                     headers={"Content-Type": "application/marcxml+xml"}, timeout=120)
            return response.status_code, response.text

        # on an empty catalogue: the first writers also race to create the id counters
        with ThreadPoolExecutor(WRITERS) as pool:
            answers = list(pool.map(create, titles))
    assert [status for status, _ in answers] == [200] * WRITERS, answers
    dbsession.rollback()
    stored = set(dbsession.scalars(select(Biblio.title).where(Biblio.title.like("Concurrent record%"))))
    assert stored == set(titles)
    assert dbsession.scalar(select(func.count()).select_from(Biblio)) == WRITERS
