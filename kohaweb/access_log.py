"""One line per request on the logger ``kohaweb.access``, with a request id.

    method=GET path="/cgi-bin/koha/oai.pl?verb=Identify" status=200 ms=4.1 request_id=6f1c… user=koha

The request id comes from the ``X-Request-ID`` header when a proxy set a sane one (so its lines
and ours can be joined), otherwise it is made here; either way it is returned in ``X-Request-ID``.
Values of query parameters that carry secrets (passwords, tokens, signatures) are never written.
The user is the signed-in or authenticated patron's userid, when the request was authenticated.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import parse_qsl, quote, urlencode

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import INGRESS

from .transactions import will_retry

log = logging.getLogger("kohaweb.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SECRET_PARAMETERS = re.compile(r"pass|secret|token|key|sig|auth|session|cookie", re.IGNORECASE)


def includeme(config: Configurator) -> None:
    config.add_tween("kohaweb.access_log.access_log_tween_factory", under=INGRESS)


def request_id(request: Request) -> str:
    """The caller's X-Request-ID when it is short and plain, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def loggable_path(request: Request) -> str:
    """The path and query, with the values of secret-bearing parameters masked."""
    path = quote(request.path_info[:300], safe="/:@!$&'()*+,;=-._~%")
    if not request.query_string:
        return path
    try:
        pairs = parse_qsl(request.query_string, keep_blank_values=True)
    except ValueError:
        return path + "?…"
    masked = [(name[:40], "***" if SECRET_PARAMETERS.search(name) else value[:100]) for name, value in pairs[:30]]
    query = urlencode(masked)
    return path + "?" + (query if len(query) <= 600 else query[:600] + "…")


def access_log_tween_factory(handler, registry):
    def tween(request: Request) -> Response:
        started = time.perf_counter()
        request.environ["kohaweb.request_id"] = rid = request_id(request)
        status = 500
        try:
            response = handler(request)
            status = response.status_int
            response.headers["X-Request-ID"] = rid
            return response
        finally:
            if log.isEnabledFor(logging.INFO) and not will_retry(request):  # one line, for the last attempt
                # only an identity the request already established: logging must not authenticate
                identity = request.__dict__.get("kohaweb_identity")
                user = getattr(identity, "userid", None) or "-"
                log.info('method=%s path="%s" status=%d ms=%.1f request_id=%s user=%s',
                         request.method, loggable_path(request).replace('"', "%22"), status,
                         (time.perf_counter() - started) * 1000, rid, user)
    return tween
