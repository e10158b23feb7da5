"""One harvest run of one source.

On top of the limited transport (:mod:`.transport`) and the run queue (:mod:`.runs`), this module
adds what a catalogue needs:

* incremental runs: ``from`` = the response date of the last complete run's first request, in
  the granularity the source's Identify declares;
* checkpoints: each page's records and the resumption token that follows them commit in ONE
  transaction, so a killed run resumes at the next page and never imports a page twice;
* guards: a resumption token the source already gave in this list, or more than
  ``harvester.max_pages`` pages in one run, stop the run (failed, checkpoint kept);
* updates in place: ``harvest_records`` maps (source, OAI identifier) to the local record, and
  035 $a carries ``(OAI)<identifier>``;
* deletions at the source delete the local copy, or suppress it (``harvester.deleted = suppress``);
* bad records are logged with their identifier and skipped (savepoint per record); a response that
  is not well-formed XML fails the run with the parser's message (what, line, bytes read).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pymarc
from lxml import etree
from oaipmh import error as oai_error
from oaipmh.client import buildHeader
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kohaweb.plugin_api import Catalog, CatalogError, marc, transaction, utcnow

from .dublincore import OAI_DC_NS, dc_to_marc
from .models import HarvestedRecord, HarvestRun, HarvestSource
from .runs import claim, enqueue, worker_id
from .transport import OAI, Page, SourceBusy, Transport, TransportError

log = logging.getLogger(__name__)
OAI_NS = {"oai": OAI}
RECORD_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class HarvestError(Exception):
    """The run cannot go on (source unreachable after retries, protocol error, a guard)."""


class RunLost(Exception):
    """This process no longer owns the run (marked failed as stale, or its source removed)."""


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    last_error: str | None = None  # of the last record skipped


class Harvester:
    """Runs harvests; ``run(source_id)`` queues and executes one at once (CLI, tests), the
    worker claims queued runs with ``start(run_id)``."""

    def __init__(self, session_factory: sessionmaker[Session], flavour: str = "MARC21", *,
                 deleted: str = "delete", retries: int = 4, backoff: float = 1.0,
                 transport: Transport | None = None, max_pages: int = 100_000, max_retry_after: float = 300,
                 stale_after: float = 900, progress: Callable[[int], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.factory = session_factory
        self.flavour = flavour
        self.deleted_policy = deleted
        self.retries = retries
        self.backoff = backoff
        self.transport = transport or Transport()
        self.max_pages = max_pages
        self.max_retry_after = max_retry_after
        self.stale_after = stale_after
        self.progress = progress or (lambda n: None)
        self.sleep = sleep
        self.worker = worker_id()

    @classmethod
    def from_settings(cls, session_factory: sessionmaker[Session], flavour: str, settings: Mapping[str, Any],
                      **kwargs) -> Harvester:
        """A harvester with the limits of the ``harvester.*`` settings (parsed, without prefix)."""
        transport = Transport(connect_timeout=settings["connect_timeout"], read_timeout=settings["read_timeout"],
                              response_timeout=settings["response_timeout"], max_bytes=settings["max_response_bytes"])
        return cls(session_factory, flavour, deleted=settings["deleted"], retries=settings["retries"],
                   transport=transport, max_pages=settings["max_pages"], max_retry_after=settings["max_retry_after"],
                   stale_after=settings["stale_after"], **kwargs)

    # --- the run -----------------------------------------------------------------------------

    def run(self, source_id: int) -> HarvestRun:
        """Queue a run of the source and execute it here; raises ``runs.RunActive`` when the
        source already has a queued or running run."""
        with transaction(self.factory) as session:
            if session.get(HarvestSource, source_id) is None:
                raise HarvestError(f"no harvest source {source_id}")
            run_id = enqueue(session, source_id, self.stale_after).id
        run = self.start(run_id)
        if run is None:  # claimed by a worker between our two transactions: it runs it
            with self.factory() as session:
                return session.get(HarvestRun, run_id)
        return run

    def start(self, run_id: int) -> HarvestRun | None:
        """Claim a queued run and execute it; None when another process claimed it first."""
        with transaction(self.factory) as session:
            if not claim(session, run_id, self.stale_after):
                return None
        return self.execute(run_id)

    def execute(self, run_id: int) -> HarvestRun:
        """Harvest a run this process has claimed, and record its outcome."""
        counts = Counts()
        try:
            self._harvest(run_id, counts)
            status, error = "completed", counts.last_error
        except (HarvestError, TransportError) as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("harvest run %s failed: %s", run_id, error)
        except RunLost as exc:
            log.warning("harvest run %s stopped: %s", run_id, exc)
            with self.factory() as session:
                return session.get(HarvestRun, run_id) or HarvestRun(id=run_id, status="failed", last_error=str(exc))
        except Exception as exc:  # a defect: record it on the run, keep the traceback in the log
            log.exception("harvest run %s failed unexpectedly", run_id)
            status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        except BaseException as exc:  # killed or interrupted: keep the checkpoint, record why
            self._finish(run_id, counts, "interrupted", f"{type(exc).__name__}: {exc}")
            raise
        return self._finish(run_id, counts, status, error)

    def _finish(self, run_id: int, counts: Counts, status: str, error: str | None) -> HarvestRun:
        with transaction(self.factory) as session:
            run = session.get(HarvestRun, run_id)
            if run is None or run.worker != self.worker:
                raise RunLost(f"run {run_id} is no longer this process's")
            run.status, run.finished, run.last_error, run.active_source_id = status, utcnow(), error, None
            run.added, run.updated, run.deleted, run.failed = counts.added, counts.updated, counts.deleted, counts.failed
        return run

    def _owned(self, session: Session, run_id: int) -> HarvestRun:
        run = session.get(HarvestRun, run_id)
        if run is None or run.status != "running" or run.worker != self.worker:
            raise RunLost(f"run {run_id} was marked {run.status if run else 'removed'} by another process")
        return run

    def _beat(self, run_id: int) -> None:
        with transaction(self.factory) as session:
            done = session.execute(update(HarvestRun).where(HarvestRun.id == run_id, HarvestRun.status == "running",
                                                            HarvestRun.worker == self.worker)
                                   .values(heartbeat=utcnow()).execution_options(synchronize_session=False))
            if not done.rowcount:
                raise RunLost(f"run {run_id} is no longer running in this process")

    def _harvest(self, run_id: int, counts: Counts) -> None:
        with self.factory() as session:
            source_id = session.get(HarvestRun, run_id).source_id
            source = session.get(HarvestSource, source_id)
            base_url, prefix = source.base_url, source.metadata_prefix
            sets = (source.sets or "").split() or [None]
            checkpoint = json.loads(source.checkpoint) if source.checkpoint else None
            last = source.last_datestamp
        identify = self._request(run_id, base_url, {"verb": "Identify"})
        _raise_errors(identify, "Identify")
        granularity = identify.granularity or "YYYY-MM-DDThh:mm:ssZ"
        day = granularity == "YYYY-MM-DD"
        if checkpoint is None:
            checkpoint = {"sets": sets, "token": None, "started": None}
        pages = 0
        seen = {checkpoint["token"]} if checkpoint["token"] else set()
        restarted: set[str | None] = set()
        while checkpoint["sets"]:
            current = checkpoint["sets"][0]
            if checkpoint["token"]:
                args = {"verb": "ListRecords", "resumptionToken": checkpoint["token"]}
            else:
                args = {"verb": "ListRecords", "metadataPrefix": prefix}
                if last:
                    args["from"] = last[:10] if day else last
                if current:
                    args["set"] = current
            if pages >= self.max_pages:
                raise HarvestError(f"stopped after {pages} pages (harvester.max_pages); "
                                   "the next run continues from here")
            page = self._request(run_id, base_url, args)
            pages += 1
            codes = [code for code, _ in page.errors]
            if "badResumptionToken" in codes and checkpoint["token"] and current not in restarted:
                # the source forgot our token: start this set again from the last complete run
                log.warning("resumption token expired at source %s; restarting the set", source_id)
                restarted.add(current)
                checkpoint["token"], seen = None, set()
                continue
            if codes and codes != ["noRecordsMatch"]:
                _raise_errors(page, "ListRecords")
            if page.token is not None and page.token in seen:
                raise HarvestError(f"the source repeated the resumptionToken {page.token!r} (a loop); "
                                   "stopped, the next run resumes before it")
            seen.add(page.token)
            if checkpoint["started"] is None and not codes:
                checkpoint["started"] = page.response_date
            before = replace(counts)
            try:
                with transaction(self.factory) as session:
                    run = self._owned(session, run_id)
                    self._store_page(session, source_id, page, counts)
                    checkpoint["token"] = page.token
                    if not page.token:
                        checkpoint["sets"], seen = checkpoint["sets"][1:], set()
                    source = session.get(HarvestSource, source_id)
                    run.added, run.updated, run.deleted, run.failed = (counts.added, counts.updated,
                                                                       counts.deleted, counts.failed)
                    run.heartbeat = utcnow()
                    if checkpoint["sets"]:
                        source.checkpoint = json.dumps(checkpoint)
                    else:
                        source.checkpoint = None
                        source.granularity = granularity
                        if checkpoint["started"]:
                            source.last_datestamp = checkpoint["started"][:10] if day else checkpoint["started"]
            except BaseException:
                counts.__dict__.update(before.__dict__)  # the page is rolled back: so are its counts
                raise

    def _request(self, run_id: int, base_url: str, params: dict[str, str]) -> Page:
        """A request with retries: exponential backoff on transient network errors, the source's
        Retry-After (up to ``max_retry_after``) on 503 and 429. Each attempt renews the heartbeat."""
        delay = self.backoff
        for attempt in range(1, self.retries + 2):
            self._beat(run_id)
            try:
                return self.transport.request(base_url, params)
            except TransportError as exc:
                if not exc.transient:
                    raise
                if attempt > self.retries:
                    raise HarvestError(f"source unreachable after {attempt} attempts: {exc}") from exc
                wait = delay
                if isinstance(exc, SourceBusy) and exc.retry_after is not None:
                    if exc.retry_after > self.max_retry_after:
                        raise HarvestError(f"{exc}, asking to come back in {exc.retry_after} s "
                                           f"(more than harvester.max_retry_after)") from exc
                    wait = exc.retry_after
                else:
                    delay *= 2
                log.info("%s; retrying in %.1f s", exc, wait)
                self.sleep(wait)
        raise AssertionError("unreachable")

    # --- records -----------------------------------------------------------------------------

    def _store_page(self, session: Session, source_id: int, page: Page, counts: Counts) -> None:
        catalog = Catalog(session, self.flavour)
        for identifier, raw in page.records:
            try:
                # entity references were left unresolved by the page parser: here they do not parse
                node = etree.fromstring(raw, RECORD_PARSER)
                with session.begin_nested():
                    self._store_record(session, catalog, source_id, node, counts)
            except (CatalogError, ValueError, marc.MarcError, oai_error.DatestampError, IndexError,
                    etree.XMLSyntaxError) as exc:
                counts.failed += 1
                counts.last_error = f"{identifier or '(no identifier)'}: {exc}"
                log.warning("harvest source %s: record skipped: %s", source_id, counts.last_error)
        self.progress(len(page.records))

    def _store_record(self, session: Session, catalog: Catalog, source_id: int, node, counts: Counts) -> None:
        header = buildHeader(node.xpath("oai:header", namespaces=OAI_NS)[0], OAI_NS)
        identifier = header.identifier()
        if not identifier:
            raise ValueError("record without an identifier")
        link = session.scalar(select(HarvestedRecord).where(HarvestedRecord.source_id == source_id,
                                                            HarvestedRecord.oai_identifier == identifier))
        local = catalog.get(link.biblionumber) if link else None
        if header.isDeleted():
            if local is not None:
                if self.deleted_policy == "suppress":
                    catalog.set_suppressed(local.biblionumber, True)
                else:
                    catalog.delete_record(local.biblionumber)
                counts.deleted += 1
            return
        record = self._to_marc(node)
        _set_035(record, identifier)
        datestamp = header.datestamp().strftime("%Y-%m-%dT%H:%M:%SZ")
        if local is not None:
            marc.strip_items(record, local.flavour)
            catalog.update_record(local.biblionumber, record)
            if local.opac_suppressed:
                catalog.set_suppressed(local.biblionumber, False)
            link.datestamp = datestamp
            counts.updated += 1
        else:
            # items belong to the source library: never import them
            biblio = catalog.add_record(record, items=[])
            if link is None:
                session.add(HarvestedRecord(source_id=source_id, oai_identifier=identifier,
                                            biblionumber=biblio.biblionumber, datestamp=datestamp))
            else:
                link.biblionumber, link.datestamp = biblio.biblionumber, datestamp
            counts.added += 1

    def _to_marc(self, node) -> pymarc.Record:
        metadata = node.xpath("oai:metadata/*", namespaces=OAI_NS)
        if not metadata:
            raise ValueError("record without metadata")
        payload = metadata[0]
        for candidate in payload.iter():
            if isinstance(candidate.tag, str) and etree.QName(candidate).localname == "record" \
                    and etree.QName(candidate).namespace in (marc.MARC_NS, "info:lc/xmlns/marcxchange-v1",
                                                            "info:lc/xmlns/marcxchange-v2"):
                return marc.element_to_record(candidate)
        if etree.QName(payload).namespace == OAI_DC_NS or etree.QName(payload).localname == "dc":
            return dc_to_marc(payload, self.flavour)
        raise ValueError(f"unsupported metadata {etree.QName(payload).text}; harvest MARCXML or oai_dc")


def _set_035(record: pymarc.Record, identifier: str) -> None:
    value = f"(OAI){identifier}"
    for existing in record.get_fields("035"):
        if value in existing.get_subfields("a"):
            return
    record.add_ordered_field(pymarc.Field(tag="035", indicators=pymarc.Indicators(" ", " "),
                                          subfields=[pymarc.Subfield(code="a", value=value)]))


def _raise_errors(page: Page, verb: str) -> None:
    """A protocol error the run cannot get past, reported with the source's own code and words."""
    if page.errors:
        code, message = page.errors[0]
        raise HarvestError(f"{verb}: the source answered {code or 'an error'}" + (f": {message}" if message else ""))
