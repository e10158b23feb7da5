"""One transaction per request, with pyramid_tm, pyramid_retry and zope.sqlalchemy.

- ``request.dbsession`` joins the request's transaction (``request.tm``, pyramid_tm): committed
  when the view returns, rolled back when it raises. The tween sits *under* the exception-view
  tween (pyramid_tm's own ``includeme`` puts it over), so exception views run after the rollback,
  as they always have here; a session an exception view opens then is its own and is closed at
  the end of the request, never committed.
- A transaction the database refused for a deadlock, a serialisation failure or a lock wait
  that timed out (:func:`kohaweb.db.is_retryable`) is marked retryable (pyramid_retry's
  ``IRetryableError``), whether the view or the commit met it, and pyramid_retry runs the whole
  request again, up to ``kohaweb.db.attempts`` times (its ``retry.attempts``). The view may
  therefore run more than once: side effects outside the database wait for the commit.
- A retried request runs as a writer (``kohaweb.app.WRITER_RETRY``: on SQLite its transaction
  takes the write lock when it begins), after a short random pause so that deadlocked pairs part.
- While attempts remain, a retryable failure is neither rendered nor logged as an error; the
  last attempt's failure reaches the usual exception views (503 with Retry-After for a lock that
  did not come free, :mod:`kohaweb.limits`).
"""

from __future__ import annotations

import logging
import random
import time

import pyramid_tm
import transaction
import zope.sqlalchemy
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import EXCVIEW
from pyramid_retry import IBeforeRetry, is_error_retryable, mark_error_retryable
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from zope.sqlalchemy.datamanager import STATUS_CHANGED

from . import db

log = logging.getLogger(__name__)

TM_TWEEN = "pyramid_tm.tm_tween_factory"


def includeme(config: Configurator) -> None:
    """pyramid_retry as the execution policy, pyramid_tm's tween under the exception views."""
    settings = config.get_settings()
    settings["retry.attempts"] = config.registry.kohaweb.core["db.attempts"]  # declared once, in kohaweb
    settings["tm.manager_hook"] = transaction_manager
    settings["tm.annotate_user"] = False  # the identity is looked up by the views that need it
    settings["retry.activate_hook"] = attempts_for
    config.include("pyramid_retry")
    config.add_request_method(pyramid_tm.create_tm, name="tm", reify=True)
    config.add_tween(TM_TWEEN, under=EXCVIEW)
    config.add_tween("kohaweb.transactions.retryable_tween_factory", under=TM_TWEEN)
    config.add_subscriber(before_retry, IBeforeRetry)
    # while attempts remain, a retryable failure gets a placeholder that pyramid_retry throws away
    # instead of an error page and a logged error (a view with a predicate goes before the core's
    # views for the same exception type: Exception, and the database errors of kohaweb.limits)
    for context in (Exception, sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.DisconnectionError):
        config.add_exception_view(_discarded, context=context, retryable_error=True)


def attempts_for(request: Request) -> int | None:
    """``retry.activate_hook``: how many attempts ``request`` gets (None: ``retry.attempts``).

    pyramid_retry copies the body of a request it may retry before any tween runs; a body over
    the site's limit (``kohaweb.max_body_size``, ``kohaweb.max_form_size`` for forms) gets one
    attempt and no copy, and :mod:`kohaweb.limits` refuses it (413) unread. A chunked body of
    unknown length is read up to one byte over the limit, and kept: within the limit it is the
    body, over it it is what the limit tween measures and refuses."""
    from .limits import FORM_TYPES

    core = request.registry.kohaweb.core
    limit = core["max_form_size"] if (request.content_type or "").lower() in FORM_TYPES else core["max_body_size"]
    length = request.content_length
    if length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        request.body = request.body_file_raw.read(limit + 1)
        length = len(request.body)
    return 1 if length is not None and length > limit else None


class RequestTransactionManager(transaction.TransactionManager):
    """An explicit manager (begun by pyramid_tm only) that marks a commit the database refused
    for a lock conflict as retryable; pyramid_tm only asks the joined data managers, and after a
    failed commit there are none left to ask."""

    def __init__(self) -> None:
        super().__init__(explicit=True)

    def commit(self) -> None:
        try:
            super().commit()
        except Exception as exc:
            mark_if_retryable(exc)
            raise


def transaction_manager(request: Request) -> transaction.TransactionManager:
    """``tm.manager_hook``: one manager per request."""
    return RequestTransactionManager()


def mark_if_retryable(exc: BaseException) -> bool:
    """Mark ``exc`` with pyramid_retry's IRetryableError when running again may succeed."""
    if isinstance(exc, Exception) and db.is_retryable(exc):
        mark_error_retryable(exc)
        return True
    return False


def retryable_tween_factory(handler, registry):
    """Under pyramid_tm's tween: errors raised by the view are marked retryable when they are
    lock conflicts (pyramid_tm then rolls back and re-raises them), or, on a request's first
    attempt, a connection the server dropped (see :func:`lost_connection`)."""

    def tween(request: Request):
        try:
            return handler(request)
        except Exception as exc:
            if not mark_if_retryable(exc) and request.environ.get("retry.attempt", 0) == 0 and lost_connection(exc):
                mark_error_retryable(exc)
            raise

    return tween


def lost_connection(exc: BaseException) -> bool:
    """Whether the view failed because the server dropped its connection (a restart, an idle
    timeout): pooled connections are pinged only after resting (kohaweb.db), so one used moments
    before a restart meets the loss mid-request. The server has then ended that transaction,
    nothing of it committed, and SQLAlchemy has invalidated the pool: a second attempt runs on a
    new connection. Only once: while the server stays away, the request fails (503) at once."""
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def join(request: Request, session: Session) -> Session:
    """``session`` (the request's ``dbsession``) joined to the request's transaction when
    pyramid_tm manages it; closed at the end of the request in any case."""
    if pyramid_tm.is_tm_active(request):
        # STATUS_CHANGED: always commit, writes made through Core statements included
        zope.sqlalchemy.register(session, transaction_manager=request.tm, initial_state=STATUS_CHANGED)
    request.add_finished_callback(lambda _request: session.close())
    return session


def discard(request: Request) -> None:
    """Roll back, when the request ends, whatever it wrote, and still send the view's answer (a
    refused action leaves nothing behind). ``request.dbsession`` must not be rolled back or
    committed by hand: it belongs to the request's transaction, which this dooms."""
    if pyramid_tm.is_tm_active(request):
        request.tm.doom()
    else:
        request.dbsession.rollback()


def will_retry(request: Request) -> bool:
    """Whether pyramid_retry throws this attempt's answer away and runs the request again (for
    the access log and the metrics, which count a request once, by its last attempt)."""
    return is_error_retryable(request, getattr(request, "exception", None))


def before_retry(event) -> None:
    """The next attempt runs as a writer, after a pause growing with the attempts."""
    from .app import WRITER_RETRY

    request = event.request
    attempt = request.environ.get("retry.attempt", 0) + 1
    event.environ[WRITER_RETRY] = True
    log.info("retrying %s %s after attempt %d: %s", request.method, request.path, attempt,
             str(event.exception).splitlines()[0] if str(event.exception) else type(event.exception).__name__)
    time.sleep(random.uniform(0, 0.02 * 2 ** attempt))  # jitter, so deadlocked pairs part


def _discarded(exc, request: Request) -> Response:
    return Response(status=503)

