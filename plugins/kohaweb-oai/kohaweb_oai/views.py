"""The OAI-PMH endpoint: argument checking, the six verbs, and streamed, compressed responses.

Every outcome is an HTTP 200 OAI-PMH document (protocol errors are <error> elements, spec 3.6).
Lists are decided (keys of the page, resumption token, errors) before the response starts; the
records themselves are read and rendered while the body is sent, in batches, with the response's
own database session, so memory does not grow with the page size or the catalogue.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kohaweb.plugin_api import Biblio, DeletedBiblio, OaiSet, note_protocol_error, session_beside

from . import listing, tokens, xmlout
from .listing import Key, Window
from .protocol import BadRequest, OaiError, OaiRequest, format_datestamp, parse_arguments, parse_date
from .repository import Repository
from .tokens import ListState

log = logging.getLogger(__name__)

RENDER_BATCH = 50  # records read from the database at a time while streaming
DEFAULT_STYLESHEET = "default"  # the oai.stylesheet value that names the stylesheet served below
DEFAULT_STYLESHEET_ASSET = "kohaweb_oai:static/oai2.xsl"


def current_time() -> float:
    """Wall-clock seconds; the one clock of this service (tests replace it)."""
    return time.time()


@dataclass
class Context:
    request: Request
    repo: Repository
    session: Session
    now: float
    base_url: str

    @property
    def now_second(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(self.now), dt.UTC).replace(tzinfo=None)

    @property
    def formats(self):
        return self.request.registry.kohaweb.formats


class Body:
    """A response body: text before, an optional stream of bytes, text after."""

    def __init__(self, head: str, stream: Iterable[bytes] = (), tail: str = ""):
        self.head, self.stream, self.tail = head, stream, tail

    def __iter__(self) -> Iterator[bytes]:
        yield self.head.encode("utf-8")
        yield from self.stream
        yield self.tail.encode("utf-8")


def oai_view(request: Request) -> Response:
    repo: Repository = request.registry.kohaweb.extras["oai"]
    # harvests read from a replica when the site has one (kohaweb.replicas)
    ctx = Context(request, repo, request.read_dbsession, current_time(), _base_url(request, repo))
    response_date = format_datestamp(ctx.now_second)
    pairs = list((request.POST if request.method == "POST" else request.GET).items())
    try:
        oai_request = parse_arguments(pairs)
        body = VERBS[oai_request.verb](ctx, oai_request)
        body.head = xmlout.prologue(response_date, ctx.base_url, {"verb": oai_request.verb, **oai_request.args},
                                    stylesheet_href(request, repo)) + body.head
        body.tail += xmlout.EPILOGUE
    except (BadRequest, OaiError) as exc:
        found = exc.errors if isinstance(exc, BadRequest) else [exc]
        for error in found:
            note_protocol_error(request, error.code)
        bare = any(e.code in ("badVerb", "badArgument") for e in found)
        args = None if bare else {"verb": oai_request.verb, **oai_request.args}
        body = Body(xmlout.prologue(response_date, ctx.base_url, args, stylesheet_href(request, repo))
                    + xmlout.errors((e.code, e.message) for e in found) + xmlout.EPILOGUE)
    return _response(request, repo, body)


def stylesheet_href(request: Request, repo: Repository) -> str:
    """The href of the responses' xml-stylesheet instruction: ``oai.stylesheet = default`` is the
    stylesheet this plugin serves (a path on this site, so a browser may apply it: XSLT must be
    same-origin); any other value is used as given; empty means no instruction."""
    if repo.stylesheet == DEFAULT_STYLESHEET:
        return request.static_path(DEFAULT_STYLESHEET_ASSET)
    return repo.stylesheet


def _base_url(request: Request, repo: Repository) -> str:
    return (repo.base_url or request.host_url) + request.path


def _response(request: Request, repo: Repository, body: Body) -> Response:
    response = Response(content_type="text/xml", charset="utf-8")
    response.headers["Vary"] = "Accept-Encoding"
    encoding = _encoding(request) if repo.compression else None
    if encoding:
        response.content_encoding = encoding
        response.app_iter = _compressed(body, encoding)
    else:
        response.app_iter = iter(body)
    return response


def _encoding(request: Request) -> str | None:
    if not request.headers.get("Accept-Encoding"):
        return None
    offers = request.accept_encoding.acceptable_offers(["gzip", "deflate"])
    return offers[0][0] if offers else None


def _compressed(body: Body, encoding: str) -> Iterator[bytes]:
    # gzip: RFC 1952 container; HTTP "deflate" is the zlib (RFC 1950) format
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    chunks = iter(body)
    try:
        for chunk in chunks:
            out = compressor.compress(chunk)
            if out:
                yield out
        yield compressor.flush()
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


# --- verbs -------------------------------------------------------------------------------------


def identify(ctx: Context, req: OaiRequest) -> Body:
    repo = ctx.repo
    earliest = listing.earliest_datestamp(ctx.session, repo.lists_deleted) or ctx.now_second
    parts = [xmlout.element("repositoryName", repo.name), xmlout.element("baseURL", ctx.base_url),
             xmlout.element("protocolVersion", "2.0")]
    parts += [xmlout.element("adminEmail", e) for e in repo.admin_emails]
    parts += [xmlout.element("earliestDatestamp", format_datestamp(earliest)),
              xmlout.element("deletedRecord", repo.deleted_record),
              xmlout.element("granularity", "YYYY-MM-DDThh:mm:ssZ")]
    if repo.compression:
        parts += [xmlout.element("compression", "gzip"), xmlout.element("compression", "deflate")]
    if repo.scheme == "oai":
        parts.append(xmlout.oai_identifier_description(repo.repository_identifier, repo.identifier(1)))
    return Body("<Identify>" + "".join(parts) + "</Identify>")


def list_metadata_formats(ctx: Context, req: OaiRequest) -> Body:
    formats = [f for f in (ctx.formats.oai_formats() if ctx.formats else []) if f.is_xml]
    if "identifier" in req.args:
        found = _find_record(ctx, req.args["identifier"])
        formats = [f for f in formats if f.accepts(found[0])]
    if not formats:
        raise OaiError("noMetadataFormats", "no metadata formats are available"
                       + (" for this record" if "identifier" in req.args else ""))
    parts = [
        "<metadataFormat>" + xmlout.element("metadataPrefix", f.prefix) + xmlout.element("schema", f.schema)
        + xmlout.element("metadataNamespace", f.namespace) + "</metadataFormat>"
        for f in formats]
    return Body("<ListMetadataFormats>" + "".join(parts) + "</ListMetadataFormats>")


def list_sets(ctx: Context, req: OaiRequest) -> Body:
    repo = ctx.repo
    if "resumptionToken" in req.args:
        state = tokens.decode(req.args["resumptionToken"], req.verb, repo.secret, ctx.now)
    else:
        if not listing.any_sets(ctx.session):
            raise OaiError("noSetHierarchy", "this repository has no sets")
        state = ListState(req.verb, "", None, "", None, None, 0,
                          ctx.session.scalar(select(func.count()).select_from(OaiSet)))
    query = select(OaiSet).options(selectinload(OaiSet.descriptions)).order_by(OaiSet.spec)
    if state.after:
        query = query.where(OaiSet.spec > state.after[0])
    sets = list(ctx.session.scalars(query.limit(repo.max_count + 1)))
    if not sets:
        raise OaiError("noRecordsMatch" if state.after else "noSetHierarchy", "no more sets")
    more = len(sets) > repo.max_count
    sets = sets[:repo.max_count]
    parts = []
    for oai_set in sets:
        descriptions = "".join(
            "<setDescription>" + xmlout.dc_container([d.description]) + "</setDescription>"
            for d in oai_set.descriptions if d.description)
        parts.append("<set>" + xmlout.element("setSpec", oai_set.spec) + xmlout.element("setName", oai_set.name)
                     + descriptions + "</set>")
    tail = _token_element(ctx, state, more, (sets[-1].spec, 0), len(sets))
    return Body("<ListSets>" + "".join(parts) + tail + "</ListSets>")


def get_record(ctx: Context, req: OaiRequest) -> Body:
    fmt = _format(ctx, req.args["metadataPrefix"])
    flavour, deleted, number = _find_record(ctx, req.args["identifier"])
    if not fmt.accepts(flavour):
        raise OaiError("cannotDisseminateFormat",
                       f"record {req.args['identifier']} is {flavour}; {fmt.prefix} is not available for it")
    key = Key(dt.datetime.min, number, deleted)
    stream = _records(ctx.session, ctx.repo, fmt, [key], with_metadata=True)
    return Body("<GetRecord>", stream, "</GetRecord>")


def list_identifiers(ctx: Context, req: OaiRequest) -> Body:
    return _list(ctx, req, with_metadata=False)


def list_records(ctx: Context, req: OaiRequest) -> Body:
    return _list(ctx, req, with_metadata=True)


VERBS = {"Identify": identify, "ListMetadataFormats": list_metadata_formats, "ListSets": list_sets,
         "GetRecord": get_record, "ListIdentifiers": list_identifiers, "ListRecords": list_records}


# --- lists -------------------------------------------------------------------------------------


def effective_until(until: dt.datetime | None, now_second: dt.datetime) -> dt.datetime:
    """The fixed end of a list: at the latest the second before the first response, so that a
    change made during the harvest (even in the same second) always falls after it."""
    latest = now_second - dt.timedelta(seconds=1)
    return min(until, latest) if until is not None else latest


def _list(ctx: Context, req: OaiRequest, with_metadata: bool) -> Body:
    repo = ctx.repo
    if "resumptionToken" in req.args:
        state = tokens.decode(req.args["resumptionToken"], req.verb, repo.secret, ctx.now)
        fmt = ctx.formats.oai(state.prefix) if ctx.formats else None
        if fmt is None or not fmt.is_xml:
            raise OaiError("badResumptionToken", f"the format {state.prefix} is no longer available")
        set_ids = listing.set_ids_for_spec(ctx.session, state.set_spec) if state.set_spec else None
        from_ = parse_date(state.from_, end=False) if state.from_ else None
        until = parse_date(state.until, end=True)
    else:
        errors = []
        fmt = None
        try:
            fmt = _format(ctx, req.args["metadataPrefix"])
        except OaiError as exc:
            errors.append(exc)
        from_ = parse_date(req.args["from"], end=False) if "from" in req.args else None
        user_until = parse_date(req.args["until"], end=True) if "until" in req.args else None
        if from_ and user_until and from_ > user_until:
            raise OaiError("badArgument", "from is later than until")
        set_ids = None
        if "set" in req.args:
            if not listing.any_sets(ctx.session):
                errors.append(OaiError("noSetHierarchy", "this repository has no sets"))
            else:
                set_ids = listing.set_ids_for_spec(ctx.session, req.args["set"])
        if errors:
            raise BadRequest(errors)
        until = effective_until(user_until, ctx.now_second)
        state = ListState(req.verb, fmt.prefix, format_datestamp(from_) if from_ else None,
                          format_datestamp(until), req.args.get("set"), None, 0, 0)
    flavours = tuple(sorted(fmt.flavours)) if fmt.flavours and fmt.flavours != {"MARC21", "UNIMARC"} else None
    window = Window(from_, until, set_ids, flavours, repo.lists_deleted)
    keys = [] if set_ids == () else listing.page(ctx.session, window, _after(state), repo.max_count + 1)
    if not keys:
        raise OaiError("noRecordsMatch", "no records match the arguments" if state.after is None
                       else "the rest of this list has changed since it was started; no records remain")
    if state.after is None:
        state = ListState(state.verb, state.prefix, state.from_, state.until, state.set_spec, None, 0,
                          listing.count(ctx.session, window))
    more = len(keys) > repo.max_count
    keys = keys[:repo.max_count]
    last = keys[-1]
    tail = _token_element(ctx, state, more, (format_datestamp(last.datestamp), last.biblionumber), len(keys))
    element = req.verb
    stream = _records(ctx.session, repo, fmt, keys, with_metadata)
    return Body(f"<{element}>", stream, tail + f"</{element}>")


def _after(state: ListState) -> tuple[dt.datetime, int] | None:
    if state.after is None:
        return None
    return parse_date(state.after[0], end=False), state.after[1]


def _token_element(ctx: Context, state: ListState, more: bool, last: tuple[str, int], shown: int) -> str:
    """The resumptionToken of this page: a new token when more follows, an empty element on
    the last page of a list that had several, nothing for a one-page list (spec 3.5)."""
    if more:
        following = ListState(state.verb, state.prefix, state.from_, state.until, state.set_spec, last,
                              state.cursor + shown, state.size)
        token = tokens.encode(following, ctx.repo.secret, ctx.repo.token_lifetime, ctx.now)
        expires = format_datestamp(ctx.now_second + dt.timedelta(seconds=ctx.repo.token_lifetime))
        return xmlout.resumption_token(token, cursor=state.cursor, complete_list_size=max(
            state.size, state.cursor + shown + 1), expiration=expires)
    if state.after is None:
        return ""
    return xmlout.resumption_token("", cursor=state.cursor, complete_list_size=max(
        state.size, state.cursor + shown), expiration=None)


def _format(ctx: Context, prefix: str):
    fmt = ctx.formats.oai(prefix) if ctx.formats else None
    if fmt is None or not fmt.is_xml:
        raise OaiError("cannotDisseminateFormat", f"the metadata format {prefix!r} is not supported "
                       "(ListMetadataFormats lists those that are)")
    return fmt


def _find_record(ctx: Context, identifier: str) -> tuple[str, bool, int]:
    """(flavour, deleted, biblionumber) of an identifier; idDoesNotExist when unknown or illegal."""
    number = ctx.repo.biblionumber(identifier)
    if number is not None:
        biblio = ctx.session.get(Biblio, number)
        if biblio is not None and (ctx.repo.lists_deleted or not biblio.hidden_from_public):
            return biblio.flavour, False, number  # a hidden record is rendered as deleted
        if ctx.repo.lists_deleted:
            gone = ctx.session.get(DeletedBiblio, number)
            if gone is not None:
                return gone.flavour, True, number
    raise OaiError("idDoesNotExist", f"there is no record with the identifier {identifier!r}")


# --- records, rendered while the body is sent -----------------------------------------------------


def _records(listed_by: Session, repo: Repository, fmt, keys: Sequence[Key], with_metadata: bool) -> Iterator[bytes]:
    # rendered from the database the keys were listed from (the same replica, or the primary)
    session = session_beside(listed_by)
    try:
        for start in range(0, len(keys), RENDER_BATCH):
            batch = keys[start:start + RENDER_BATCH]
            yield _render_batch(session, repo, fmt, batch, with_metadata)
            session.rollback()  # end the read transaction between batches
    finally:
        session.close()


def _render_batch(session: Session, repo: Repository, fmt, batch: Sequence[Key], with_metadata: bool) -> bytes:
    from kohaweb.plugin_api import RecordSource

    numbers = [k.biblionumber for k in batch]
    live = listing.live_records(session, [k.biblionumber for k in batch if not k.deleted],
                                with_items=with_metadata and fmt.include_items)
    missing = [n for n in numbers if n not in live]
    gone = listing.deleted_records(session, missing) if repo.lists_deleted else {}
    specs = listing.set_specs(session, numbers)
    out: list[bytes] = []
    for key in batch:
        number = key.biblionumber
        identifier = repo.identifier(number)
        if number in live and live[number].hidden:
            # hidden from the public since its datestamp: deleted for harvesters (left out under the
            # "no" policy when it became hidden after the page was chosen)
            if repo.lists_deleted:
                header = xmlout.header(identifier, format_datestamp(live[number].datestamp), specs.get(number, ()),
                                       True)
                out.append((f"<record>{header}</record>" if with_metadata else header).encode())
        elif number in live:
            record = live[number]
            header = xmlout.header(identifier, format_datestamp(record.datestamp), specs.get(number, ()), False)
            if not with_metadata:
                out.append(header.encode())
                continue
            try:
                metadata = fmt.render_bytes(RecordSource(number, record.flavour, record.marcxml, record.items,
                                                         session=session))
            except Exception as exc:  # noqa: BLE001  one record must never end the list (Koha bug 33270)
                log.warning("OAI-PMH: record %s cannot be rendered as %s: %s", number, fmt.prefix, exc)
                out.append(("<record>" + header + "<about>" + xmlout.dc_container(
                    [f"This record cannot be disseminated as {fmt.prefix}: {exc}"],
                    title="metadata unavailable") + "</about></record>").encode())
                continue
            out.append(b"<record>" + header.encode() + b"<metadata>" + metadata + b"</metadata></record>")
        elif number in gone:
            header = xmlout.header(identifier, format_datestamp(gone[number][1]), specs.get(number, ()), True)
            out.append((f"<record>{header}</record>" if with_metadata else header).encode())
        # else: the record vanished between choosing the page and reading it (deleted with the
        # "no" policy); nothing truthful can be said about it
    return b"".join(out)
