"""Signed barcode URLs: the image parameters plus an expiry and an HMAC signature
(kohaweb.signing), so the image can be fetched without a login until it expires."""

from __future__ import annotations

from pyramid.request import Request

from kohaweb.plugin_api import sign_url_params

PURPOSE = "barcode"


def barcode_params(barcode: str, type: str = "Code39", *, notext: bool = False, height: int | None = None,
                   modulesize: int | None = None, format: str | None = None) -> dict[str, str]:
    """The query parameters of an image, in Koha's names, leaving out the defaults."""
    params = {"barcode": barcode, "type": type}
    if notext:
        params["notext"] = "1"
    if height is not None:
        params["height"] = str(height)
    if modulesize is not None:
        params["modulesize"] = str(modulesize)
    if format is not None:
        params["format"] = format
    return params


def signed_barcode_params(secret: str, barcode: str, type: str = "Code39", *, max_age: int,
                          now: float | None = None, **options) -> dict[str, str]:
    """``barcode_params`` plus ``expires`` and ``signature``, valid for ``max_age`` seconds."""
    return sign_url_params(secret, PURPOSE, barcode_params(barcode, type, **options), max_age, now=now)


def barcode_url(request: Request, barcode: str, type: str = "Code39", *, signed: bool = True,
                max_age: int | None = None, **options) -> str:
    """Absolute URL of a barcode image, signed unless ``signed=False`` (staff-only pages).

    Installed as ``request.barcode_url`` for templates: ``<img src="{{ request.barcode_url(item.barcode) }}">``.
    The data is not checked here: a template must not fail over one bad barcode; the image URL
    answers 400 saying what is wrong.
    """
    site = request.registry.kohaweb
    if signed:
        lifetime = max_age or site.settings["barcode"]["signed_url_lifetime"]
        params = signed_barcode_params(site.core["secret"], barcode, type, max_age=lifetime, **options)
    else:
        params = barcode_params(barcode, type, **options)
    return request.route_url("barcode", _query=params)
