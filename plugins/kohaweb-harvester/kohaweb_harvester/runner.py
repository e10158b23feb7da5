"""One harvest run of one source, built on the pyoai line's client (``oaipmh``).

The client does the transport, OAI error mapping and ``503 Retry-After`` waits; this module
adds what a catalogue needs on top:

* incremental runs: ``from`` = the response date of the last complete run's first request, in
  the granularity the source's Identify declares;
* checkpoints: each page's records and the resumption token that follows them commit in ONE
  transaction, so a killed run resumes at the next page and never imports a page twice;
* updates in place: ``harvest_records`` maps (source, OAI identifier) to the local record, and
  035 $a carries ``(OAI)<identifier>``;
* deletions at the source delete the local copy, or suppress it (``harvester.deleted = suppress``);
* bad records are logged with their identifier and skipped (savepoint per record).
"""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field

import pymarc
from lxml import etree
from oaipmh import error as oai_error
from oaipmh.client import Client, buildHeader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kohaweb import marc
from kohaweb.catalog import Catalog, CatalogError
from kohaweb.models import HarvestedRecord, HarvestRun, HarvestSource, utcnow

from .dublincore import OAI_DC_NS, dc_to_marc

log = logging.getLogger(__name__)
OAI_NS = {"oai": "http://www.openarchives.org/OAI/2.0/"}
TRANSIENT = (oai_error.NetworkError, urllib.error.URLError, socket.timeout, ConnectionError,
             oai_error.XMLSyntaxError)


class HarvestError(Exception):
    """The run cannot go on (source unreachable after retries, protocol error)."""


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Harvester:
    def __init__(self, session_factory: sessionmaker[Session], flavour: str = "MARC21", *,
                 deleted: str = "delete", retries: int = 4, backoff: float = 1.0,
                 client_factory: Callable[[str], Client] | None = None,
                 progress: Callable[[int], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.factory = session_factory
        self.flavour = flavour
        self.deleted_policy = deleted
        self.retries = retries
        self.backoff = backoff
        self.client_factory = client_factory or (lambda url: Client(url, force_http_get=True))
        self.progress = progress or (lambda n: None)
        self.sleep = sleep

    # --- the run -----------------------------------------------------------------------------

    def run(self, source_id: int) -> HarvestRun:
        with self.factory() as session, session.begin():
            source = session.get(HarvestSource, source_id)
            if source is None:
                raise HarvestError(f"no harvest source {source_id}")
            run = HarvestRun(source_id=source_id, status="running")
            session.add(run)
            session.flush()
            run_id = run.id
        counts = Counts()
        try:
            self._harvest(source_id, run_id, counts)
            status, error = "completed", (counts.errors[-1] if counts.errors else None)
        except (HarvestError, oai_error.ErrorBase, oai_error.ClientError, urllib.error.HTTPError) as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("harvest of source %s failed: %s", source_id, error)
        except BaseException as exc:  # killed or interrupted: keep the checkpoint, record why
            self._finish(run_id, counts, "interrupted", f"{type(exc).__name__}: {exc}")
            raise
        return self._finish(run_id, counts, status, error)

    def _finish(self, run_id: int, counts: Counts, status: str, error: str | None) -> HarvestRun:
        with self.factory() as session, session.begin():
            run = session.get(HarvestRun, run_id)
            run.status, run.finished, run.last_error = status, utcnow(), error
            run.added, run.updated, run.deleted, run.failed = counts.added, counts.updated, counts.deleted, counts.failed
        return run

    def _harvest(self, source_id: int, run_id: int, counts: Counts) -> None:
        with self.factory() as session:
            source = session.get(HarvestSource, source_id)
            base_url, prefix = source.base_url, source.metadata_prefix
            sets = (source.sets or "").split() or [None]
            checkpoint = json.loads(source.checkpoint) if source.checkpoint else None
            last = source.last_datestamp
        client = self.client_factory(base_url)
        granularity = self._call(lambda: client.identify()).granularity()
        day = granularity == "YYYY-MM-DD"
        if checkpoint is None:
            checkpoint = {"sets": sets, "token": None, "started": None}
        while checkpoint["sets"]:
            current = checkpoint["sets"][0]
            if checkpoint["token"]:
                args = {"resumptionToken": checkpoint["token"]}
            else:
                args = {"metadataPrefix": prefix}
                if last:
                    args["from"] = last[:10] if day else last
                if current:
                    args["set"] = current
            try:
                tree = self._call(lambda a=args: client.makeRequestErrorHandling(verb="ListRecords", **a))
            except oai_error.NoRecordsMatchError:
                tree = None
            except oai_error.BadResumptionTokenError:
                if not checkpoint["token"]:
                    raise
                # the source forgot our token: start this set again from the last complete run
                log.warning("resumption token expired at source %s; restarting the set", source_id)
                checkpoint["token"] = None
                continue
            if checkpoint["started"] is None and tree is not None:
                checkpoint["started"] = _response_date(tree)
            token = None
            with self.factory() as session, session.begin():
                if tree is not None:
                    token = self._store_page(session, source_id, tree, counts)
                checkpoint["token"] = token
                if not token:
                    checkpoint["sets"] = checkpoint["sets"][1:]
                source = session.get(HarvestSource, source_id)
                run = session.get(HarvestRun, run_id)
                run.added, run.updated, run.deleted, run.failed = (counts.added, counts.updated,
                                                                   counts.deleted, counts.failed)
                if checkpoint["sets"]:
                    source.checkpoint = json.dumps(checkpoint)
                else:
                    source.checkpoint = None
                    source.granularity = granularity
                    if checkpoint["started"]:
                        source.last_datestamp = checkpoint["started"][:10] if day else checkpoint["started"]

    def _call(self, request: Callable):
        """A request with retries and exponential backoff on transient network errors."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return request()
            except TRANSIENT as exc:
                if attempt == self.retries:
                    raise HarvestError(f"source unreachable after {self.retries + 1} attempts: {exc}") from exc
                log.info("transient error (%s); retrying in %.1f s", exc, delay)
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # --- records -----------------------------------------------------------------------------

    def _store_page(self, session: Session, source_id: int, tree: etree._Element, counts: Counts) -> str | None:
        catalog = Catalog(session, self.flavour)
        records = tree.xpath("/oai:OAI-PMH/oai:ListRecords/oai:record", namespaces=OAI_NS)
        for node in records:
            identifier = "".join(node.xpath("string(oai:header/oai:identifier)", namespaces=OAI_NS)).strip()
            try:
                with session.begin_nested():
                    self._store_record(session, catalog, source_id, node, counts)
            except (CatalogError, ValueError, marc.MarcError, oai_error.DatestampError, IndexError) as exc:
                counts.failed += 1
                message = f"{identifier or '(no identifier)'}: {exc}"
                counts.errors.append(message)
                log.warning("harvest source %s: record skipped: %s", source_id, message)
        self.progress(len(records))
        token = tree.xpath("string(/oai:OAI-PMH/oai:ListRecords/oai:resumptionToken)", namespaces=OAI_NS)
        return token.strip() or None

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


def _response_date(tree: etree._Element) -> str | None:
    value = tree.xpath("string(/oai:OAI-PMH/oai:responseDate)", namespaces=OAI_NS).strip()
    return value or None
