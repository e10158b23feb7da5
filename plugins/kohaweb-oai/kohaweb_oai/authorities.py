"""An OAI-PMH repository of the authority records at ``/oai/authorities`` (``oai.authorities``; off
by default, as Koha has none).

The six verbs with the bibliographic repository's grammar, errors, deleted-record policy, page
size and signed resumption tokens; records are the authorities of ``auth_header`` in the MARCXML
formats (no items), deleted ones from ``deletedauth_header`` at their deletion time. Identifiers
are the repository's prefix with ``authority:<authid>`` (``oai:library.example.org:authority:12``);
there are no sets. Datestamps are ``auth_header.modification_time`` (each write through
kohaweb.authorities sets it).
"""

from __future__ import annotations

import datetime as dt
import time

from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select, tuple_

from kohaweb.plugin_api import (
    MARC_NS,
    Authority,
    DeletedAuthority,
    RecordSource,
    RenderError,
    note_protocol_error,
    utcnow,
)

from . import tokens, xmlout
from .protocol import BadRequest, OaiError, OaiRequest, format_datestamp, parse_arguments, parse_date
from .repository import Repository

LOCAL = "authority:"
VERB_TAG = "authorities:"  # resumption tokens of this repository name their verb so


def authorities_view(request: Request) -> Response:
    repo: Repository = request.registry.kohaweb.extras["oai"]
    session = request.read_dbsession
    now = utcnow()
    base_url = (repo.base_url or request.host_url) + request.path
    pairs = list((request.POST if request.method == "POST" else request.GET).items())
    oai_request = None
    try:
        oai_request = parse_arguments(pairs)
        content = VERBS[oai_request.verb](request, repo, session, oai_request, now, base_url)
        args = {"verb": oai_request.verb, **oai_request.args}
    except (BadRequest, OaiError) as exc:
        found = exc.errors if isinstance(exc, BadRequest) else [exc]
        for error in found:
            note_protocol_error(request, error.code)
        bare = oai_request is None or any(e.code in ("badVerb", "badArgument") for e in found)
        args = None if bare else {"verb": oai_request.verb, **oai_request.args}
        content = xmlout.errors((e.code, e.message) for e in found)
    body = xmlout.prologue(format_datestamp(now), base_url, args) + content + xmlout.EPILOGUE
    return Response(body=body.encode("utf-8"), content_type="text/xml", charset="utf-8")


def identifier(repo: Repository, authid: int) -> str:
    return f"{repo.identifier_prefix}{LOCAL}{authid}"


def authid_of(repo: Repository, text: str) -> int | None:
    prefix = repo.identifier_prefix + LOCAL
    rest = text[len(prefix):] if text.startswith(prefix) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and len(rest) < 10 and rest == str(int(rest)) else None


def _formats(request: Request) -> list:
    registry = request.registry.kohaweb.formats
    return [f for f in registry.oai_formats() if f.is_xml and f.namespace == MARC_NS and not f.include_items]


def _format(request: Request, prefix: str):
    for fmt in _formats(request):
        if fmt.prefix == prefix:
            return fmt
    raise OaiError("cannotDisseminateFormat", f"authority records are not served as {prefix!r}")


# --- verbs -------------------------------------------------------------------------------------

def identify(request, repo, session, req: OaiRequest, now, base_url) -> str:
    stamps = [session.scalar(select(func.min(Authority.modification_time)))]
    if repo.lists_deleted:
        stamps.append(session.scalar(select(func.min(DeletedAuthority.modification_time))))
    earliest = min((s for s in stamps if s is not None), default=now)
    parts = [xmlout.element("repositoryName", f"{repo.name}: authorities"), xmlout.element("baseURL", base_url),
             xmlout.element("protocolVersion", "2.0")]
    parts += [xmlout.element("adminEmail", e) for e in repo.admin_emails]
    parts += [xmlout.element("earliestDatestamp", format_datestamp(earliest)),
              xmlout.element("deletedRecord", repo.deleted_record),
              xmlout.element("granularity", "YYYY-MM-DDThh:mm:ssZ")]
    if repo.scheme == "oai":
        parts.append(xmlout.oai_identifier_description(repo.repository_identifier, identifier(repo, 1)))
    return "<Identify>" + "".join(parts) + "</Identify>"


def list_metadata_formats(request, repo, session, req: OaiRequest, now, base_url) -> str:
    if "identifier" in req.args:
        _find(repo, session, req.args["identifier"])
    formats = _formats(request)
    if not formats:
        raise OaiError("noMetadataFormats", "no metadata format is available")
    return "<ListMetadataFormats>" + "".join(
        "<metadataFormat>" + xmlout.element("metadataPrefix", f.prefix) + xmlout.element("schema", f.schema)
        + xmlout.element("metadataNamespace", f.namespace) + "</metadataFormat>" for f in formats) \
        + "</ListMetadataFormats>"


def list_sets(request, repo, session, req: OaiRequest, now, base_url) -> str:
    if "resumptionToken" in req.args:
        raise OaiError("badResumptionToken", "this repository issues no ListSets tokens")
    raise OaiError("noSetHierarchy", "the authorities repository has no sets")


def get_record(request, repo, session, req: OaiRequest, now, base_url) -> str:
    fmt = _format(request, req.args["metadataPrefix"])
    authid, row, deleted = _find(repo, session, req.args["identifier"])
    return "<GetRecord>" + _record(session, repo, fmt, authid, row, deleted, True) + "</GetRecord>"


def _find(repo: Repository, session, text: str):
    authid = authid_of(repo, text)
    row = session.get(Authority, authid) if authid is not None else None
    if row is not None:
        return authid, row, False
    gone = session.get(DeletedAuthority, authid) if authid is not None and repo.lists_deleted else None
    if gone is None:
        raise OaiError("idDoesNotExist", f"{text!r} is not an authority of this repository")
    return authid, gone, True


def list_identifiers(request, repo, session, req, now, base_url) -> str:
    return _list(request, repo, session, req, now, with_metadata=False)


def list_records(request, repo, session, req, now, base_url) -> str:
    return _list(request, repo, session, req, now, with_metadata=True)


VERBS = {"Identify": identify, "ListMetadataFormats": list_metadata_formats, "ListSets": list_sets,
         "GetRecord": get_record, "ListIdentifiers": list_identifiers, "ListRecords": list_records}


def _list(request, repo: Repository, session, req: OaiRequest, now: dt.datetime, *, with_metadata: bool) -> str:
    verb = VERB_TAG + req.verb
    if "resumptionToken" in req.args:
        state = tokens.decode(req.args["resumptionToken"], verb, repo.secret, time.time())
    else:
        if "set" in req.args:
            raise OaiError("noSetHierarchy", "the authorities repository has no sets")
        from_ = format_datestamp(parse_date(req.args["from"], end=False)) if "from" in req.args else None
        until = min(parse_date(req.args["until"], end=True), now) if "until" in req.args else now
        if from_ and from_ > format_datestamp(until):
            raise OaiError("noRecordsMatch", "from is later than until")
        state = tokens.ListState(verb, req.args["metadataPrefix"], from_, format_datestamp(until), None, None, 0, 0)
    fmt = _format(request, state.prefix)
    window = (dt.datetime.strptime(state.from_, "%Y-%m-%dT%H:%M:%SZ") if state.from_ else None,
              dt.datetime.strptime(state.until, "%Y-%m-%dT%H:%M:%SZ"))
    after = (dt.datetime.fromisoformat(state.after[0]), state.after[1]) if state.after else None
    rows = []
    tables = [(Authority, False)] + ([(DeletedAuthority, True)] if repo.lists_deleted else [])
    for table, deleted in tables:
        query = select(table).where(*_window(table, window))
        if after is not None:
            query = query.where(tuple_(table.modification_time, table.authid) > tuple_(*after))
        query = query.order_by(table.modification_time, table.authid).limit(repo.max_count + 1)
        rows += [(row.modification_time, row.authid, row, deleted) for row in session.scalars(query)]
    rows.sort(key=lambda r: (r[0], r[1]))
    page, more = rows[:repo.max_count], len(rows) > repo.max_count
    size = state.size
    if state.after is None:
        size = sum(session.scalar(select(func.count()).select_from(table).where(*_window(table, window))) or 0
                   for table, _ in tables)
        if not page:
            raise OaiError("noRecordsMatch", "no authority matches the request")
    parts = [_record(session, repo, fmt, authid, row, deleted, with_metadata) for _, authid, row, deleted in page]
    tag = req.verb
    token = ""
    if more or state.after is not None:
        expiration = None
        if more:
            last = page[-1]
            following = tokens.ListState(verb, state.prefix, state.from_, state.until, None,
                                         (last[0].isoformat(), last[1]), state.cursor + len(page), size)
            token = tokens.encode(following, repo.secret, repo.token_lifetime, time.time())
            expiration = format_datestamp(utcnow() + dt.timedelta(seconds=repo.token_lifetime))
        parts.append(xmlout.resumption_token(token, cursor=state.cursor, complete_list_size=size,
                                             expiration=expiration))
    return f"<{tag}>" + "".join(parts) + f"</{tag}>"


def _window(table, window: tuple[dt.datetime | None, dt.datetime]) -> list:
    conditions = [table.modification_time <= window[1]]
    if window[0] is not None:
        conditions.append(table.modification_time >= window[0])
    return conditions


def _record(session, repo: Repository, fmt, authid: int, row, deleted: bool, with_metadata: bool) -> str:
    head = xmlout.header(identifier(repo, authid), format_datestamp(row.modification_time), (), deleted)
    if not with_metadata:
        return head
    if deleted:
        return f"<record>{head}</record>"
    try:
        metadata = fmt.render_bytes(RecordSource(authid, row.flavour, row.marcxml, None, session)).decode("utf-8")
    except RenderError as exc:
        note = xmlout.dc_container([f"authority {authid} cannot be shown as {fmt.prefix}: {exc}"])
        return f"<record>{head}<about>{note}</about></record>"
    return f"<record>{head}<metadata>{metadata}</metadata></record>"
