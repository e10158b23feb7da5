"""GET /svc/barcode and /cgi-bin/koha/svc/barcode: one image per request.

Access is checked before the parameters: a signed URL (any visitor) or the ``catalogue``
permission (staff session, Basic or bearer credentials, as Koha's check_cookie_auth). Then
bad parameters get a 400 saying what is wrong; good ones an image with an ETag, from the cache
when the same image was drawn before.
"""

from __future__ import annotations

import hashlib
import time

from pyramid.httpexceptions import HTTPForbidden
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import Denied

from kohaweb.plugin_api import BadSignature, Expired, error_response, site_secrets, verify_url_params

from .params import InvalidParameter, parse, single_values
from .render import MEDIA_TYPES, render
from .symbologies import InvalidBarcode
from .urls import PURPOSE

PERMISSION = "catalogue"
VERSION = "1"  # part of the ETag: bump when drawing changes


def barcode_view(request: Request) -> Response:
    site = request.registry.kohaweb
    settings = site.settings["barcode"]
    try:
        values = single_values(request.GET)
    except InvalidBarcode as exc:
        return error_response(request, 400, str(exc), "invalid_parameter")
    expires = _check_access(request, values)
    if isinstance(expires, Response):
        return expires
    try:
        req = parse(values, settings)
    except InvalidParameter as exc:
        return error_response(request, 400, str(exc), "invalid_parameter")
    except InvalidBarcode as exc:
        return error_response(request, 400, str(exc), "invalid_barcode")

    cache = site.extras["barcode"]
    body = cache.get(req.key)
    if body is None:
        body = render(req)
        cache.put(req.key, body)

    max_age = settings["max_age"]
    if expires is not None:  # a cached copy must not outlive the signature
        max_age = max(0, min(max_age, int(expires - time.time())))
    response = Response(body=body, content_type=MEDIA_TYPES[req.format], conditional_response=True)
    response.etag = hashlib.sha256(repr((VERSION, req.key)).encode("utf-8")).hexdigest()[:32]
    response.cache_control = f"private, max-age={max_age}"
    return response


def _check_access(request: Request, values: dict[str, str]) -> int | None | Response:
    """None for staff, the expiry time for a good signed URL, a 401 Response for a bad or
    expired signature; raises HTTPForbidden (401/403 by the core's forbidden view) otherwise."""
    if "signature" in values:
        secret = site_secrets(request.registry.kohaweb.core)  # any of them verifies
        try:
            verify_url_params(secret, PURPOSE, values)
            return int(values["expires"])
        except BadSignature as exc:
            if request.has_permission(PERMISSION):
                return None
            problem = ("This signed barcode URL has expired." if isinstance(exc, Expired)
                       else "This barcode URL's signature is not valid (the URL was changed or truncated).")
            response = error_response(request, 401, problem, "invalid_signature")
            response.headers["WWW-Authenticate"] = 'Bearer realm="kohaweb"'
            return response
    if request.has_permission(PERMISSION):
        return None
    raise HTTPForbidden(result=Denied(f"missing permission {PERMISSION}"))
