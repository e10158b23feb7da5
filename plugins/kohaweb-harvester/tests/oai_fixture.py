"""A small OAI-PMH repository for harvester tests: pages of records with resumption tokens,
deletions, a 503 with Retry-After, and a log of every request it answered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

OAI = "http://www.openarchives.org/OAI/2.0/"


@dataclass
class FixtureRecord:
    identifier: str
    datestamp: str
    metadata: str | None  # XML of the metadata payload; None = deleted


@dataclass
class FixtureRepository:
    records: list[FixtureRecord] = field(default_factory=list)
    page_size: int = 5
    granularity: str = "YYYY-MM-DDThh:mm:ssZ"
    unavailable_once: bool = False  # answer the first ListRecords with 503 Retry-After: 1
    raw_pages: list[bytes] | None = None  # serve these ListRecords bodies as they are, in order
    requests: list[dict[str, str]] = field(default_factory=list)
    now: str = "2026-11-01T10:00:00Z"

    def __call__(self, environ, start_response):
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            query.update({k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(length).decode()).items()})
        self.requests.append(query)
        verb = query.get("verb")
        if verb == "ListRecords" and self.unavailable_once:
            self.unavailable_once = False
            start_response("503 Service Unavailable", [("Retry-After", "1"), ("Content-Type", "text/plain")])
            return [b"busy"]
        if verb == "Identify":
            body = self._identify()
        elif verb == "ListRecords" and self.raw_pages is not None:
            body = self._raw(query)
        elif verb == "ListRecords":
            body = self._list(query)
        else:
            body = self._envelope(query, '<error code="badVerb">unsupported here</error>')
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [body.encode("utf-8") if isinstance(body, str) else body]

    def _envelope(self, query: dict, inner: str) -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="{OAI}"><responseDate>{self.now}</responseDate>'
                f'<request verb="{escape(query.get("verb", ""))}">http://fixture/oai</request>{inner}</OAI-PMH>')

    def _identify(self) -> str:
        return self._envelope({"verb": "Identify"}, (
            "<Identify><repositoryName>Fixture</repositoryName><baseURL>http://fixture/oai</baseURL>"
            "<protocolVersion>2.0</protocolVersion><adminEmail>a@example.org</adminEmail>"
            "<earliestDatestamp>2000-01-01T00:00:00Z</earliestDatestamp><deletedRecord>persistent</deletedRecord>"
            f"<granularity>{self.granularity}</granularity></Identify>"))

    def _raw(self, query: dict) -> bytes | str:
        index = int(query["resumptionToken"]) if "resumptionToken" in query else 0
        if index < len(self.raw_pages):
            page = self.raw_pages[index]
            if index + 1 < len(self.raw_pages):  # point the page's token at the next page
                import re

                page = re.sub(rb"<resumptionToken([^>]*)>[^<]*</resumptionToken>",
                              rb"<resumptionToken\1>" + str(index + 1).encode() + rb"</resumptionToken>", page)
            return page
        return self._envelope(query, '<ListRecords><resumptionToken completeListSize="0" cursor="0"/></ListRecords>')

    def _list(self, query: dict) -> str:
        if "resumptionToken" in query:
            start = int(query["resumptionToken"])
            selected = self._select(self._args_of_token)
        else:
            start = 0
            self._args_of_token = dict(query)
            selected = self._select(query)
        if not selected:
            return self._envelope(query, '<error code="noRecordsMatch">none</error>')
        page = selected[start:start + self.page_size]
        parts = []
        for record in page:
            status = ' status="deleted"' if record.metadata is None else ""
            header = (f"<header{status}><identifier>{escape(record.identifier)}</identifier>"
                      f"<datestamp>{record.datestamp}</datestamp></header>")
            metadata = "" if record.metadata is None else f"<metadata>{record.metadata}</metadata>"
            parts.append(f"<record>{header}{metadata}</record>")
        following = start + self.page_size
        token = (f'<resumptionToken completeListSize="{len(selected)}" cursor="{start}">'
                 f'{following if following < len(selected) else ""}</resumptionToken>')
        return self._envelope(query, f"<ListRecords>{''.join(parts)}{token}</ListRecords>")

    def _select(self, query: dict) -> list[FixtureRecord]:
        since = query.get("from")
        chosen = []
        for record in self.records:
            if since and record.datestamp[:len(since)] < since:
                continue
            chosen.append(record)
        return chosen


def stamp(days: int) -> str:
    return (dt.datetime(2026, 1, 1) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
