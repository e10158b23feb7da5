"""OAI-PMH requests with limits: connect and read timeouts, a time limit per response, a byte cap.

A response is never held whole: its body is read through :class:`CappedBody` (which counts the
decoded bytes and watches the clock) straight into lxml's incremental parser, and each record of
a page is kept as its own serialised bytes, so a page costs about its size once, never a tree of
it. urllib3 is used rather than urllib because it keeps the connect and the read timeouts apart
and streams bodies (gzip included) in bounded pieces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import urllib3
from lxml import etree
from urllib3.exceptions import HTTPError as Urllib3Error

OAI = "http://www.openarchives.org/OAI/2.0/"
_TAGS = [f"{{{OAI}}}{name}" for name in ("responseDate", "error", "record", "resumptionToken", "granularity")]
CHUNK = 64 * 1024


class TransportError(Exception):
    """A request that failed; ``transient`` ones may succeed when sent again."""

    transient = False


class NetworkError(TransportError):
    """Unreachable, timed out, connection cut, or a body that ended early."""

    transient = True


class SourceBusy(TransportError):
    """503 or 429: the source asks to come back after ``retry_after`` seconds (None: unsaid)."""

    transient = True

    def __init__(self, message: str, retry_after: int | None):
        super().__init__(message)
        self.retry_after = retry_after


class ResponseTooLarge(TransportError):
    """The response is larger than the byte cap (``harvester.max_response_bytes``)."""


class MalformedResponse(TransportError):
    """The source sent something that is not a well-formed OAI-PMH response."""


@dataclass
class Page:
    """What a harvester needs from one OAI-PMH response."""

    response_date: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (code, message)
    records: list[tuple[str, bytes]] = field(default_factory=list)  # (identifier, the <record> serialised)
    token: str | None = None
    granularity: str | None = None
    size: int = 0  # bytes read


class CappedBody:
    """A file-like view of a urllib3 response that refuses to read past ``max_bytes`` or past
    ``deadline`` (time.monotonic), and turns urllib3's failures into :class:`NetworkError`."""

    def __init__(self, response: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float):
        self.response = response
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.size = 0

    def read(self, size: int = CHUNK) -> bytes:
        if time.monotonic() > self.deadline:
            raise NetworkError("the response took longer than the time allowed for one response")
        try:
            # read1: what one receive brings (read() would wait for the whole chunk, so a source
            # trickling a byte at a time would never meet the deadline check)
            data = self.response.read1(min(size, CHUNK) if size and size > 0 else CHUNK)
        except Urllib3Error as exc:
            raise NetworkError(f"reading the response failed: {exc}") from exc
        self.size += len(data)
        if self.size > self.max_bytes:
            raise ResponseTooLarge(f"the response is larger than {self.max_bytes} bytes")
        return data


class Transport:
    """Sends OAI-PMH requests (GET) and parses their responses within the limits given."""

    def __init__(self, *, connect_timeout: float = 10, read_timeout: float = 60, response_timeout: float = 600,
                 max_bytes: int = 32 * 1024 * 1024, user_agent: str = "kohaweb-harvester"):
        self.response_timeout = response_timeout
        self.max_bytes = max_bytes
        self.pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5),
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"})

    def request(self, base_url: str, params: dict[str, str]) -> Page:
        """One request; raises a :class:`TransportError` for anything but a readable response."""
        deadline = time.monotonic() + self.response_timeout
        try:
            response = self.pool.request("GET", base_url, fields=params, preload_content=False)
        except Urllib3Error as exc:
            raise NetworkError(f"no response from the source: {_reason(exc)}") from exc
        try:
            if response.status in (429, 503):
                raise SourceBusy(f"the source answered HTTP {response.status}", _retry_after(response))
            if response.status != 200:
                error = NetworkError if response.status >= 500 else TransportError
                raise error(f"the source answered HTTP {response.status} {response.reason or ''}".strip())
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise ResponseTooLarge(f"the response announces {length} bytes, more than {self.max_bytes}")
            page = parse_page(CappedBody(response, self.max_bytes, deadline))
        except BaseException:
            response.close()  # never drain what was refused: it may not end
            raise
        response.release_conn()
        return page


def parse_page(body: CappedBody) -> Page:
    """Read an OAI-PMH response incrementally (no DTDs, entities or network access)."""
    page = Page()
    events = etree.iterparse(body, events=("end",), tag=_TAGS, resolve_entities=False, no_network=True,
                             load_dtd=False, remove_comments=True, remove_pis=True)
    try:
        for _, element in events:
            name = etree.QName(element).localname
            if name == "record":
                identifier = (element.findtext(f"{{{OAI}}}header/{{{OAI}}}identifier") or "").strip()
                page.records.append((identifier, etree.tostring(element)))
                element.clear()
                element.getparent().remove(element)  # hold one record's tree at a time, never the page's
            elif name == "responseDate":
                page.response_date = (element.text or "").strip() or None
            elif name == "error":
                page.errors.append((element.get("code", ""), (element.text or "").strip()))
            elif name == "resumptionToken":
                page.token = (element.text or "").strip() or None
            elif name == "granularity":
                page.granularity = (element.text or "").strip() or None
    except etree.XMLSyntaxError as exc:
        if body.size == 0:
            raise MalformedResponse("the source sent an empty response") from None
        raise MalformedResponse(f"the source sent malformed XML: {exc.msg} (line {exc.lineno}, "
                                f"after {body.size} bytes)") from None
    if events.root is None or events.root.tag != f"{{{OAI}}}OAI-PMH":
        found = "nothing" if events.root is None else events.root.tag
        raise MalformedResponse(f"not an OAI-PMH response (root element {found})")
    page.size = body.size
    return page


def _retry_after(response: urllib3.BaseHTTPResponse) -> int | None:
    value = (response.headers.get("Retry-After") or "").strip()
    return int(value) if value.isdigit() else None


def _reason(exc: Urllib3Error) -> str:
    reason = getattr(exc, "reason", None)  # MaxRetryError wraps the real cause
    return str(reason or exc)
