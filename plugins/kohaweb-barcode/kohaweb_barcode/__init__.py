"""The ``barcode`` service: barcode and QR code images for slips, notices, spine labels and
patron cards, at ``/svc/barcode`` and Koha's ``/cgi-bin/koha/svc/barcode``.

Staff with the ``catalogue`` permission may ask for any image; anyone may fetch a signed URL
(``request.barcode_url(...)`` in templates, ``kohaweb barcode-url`` on the command line), so
notices sent by e-mail show their barcodes without a login.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kohaweb.plugin_api import Setting

from .cache import LRUCache
from .symbologies import SYMBOLOGIES

SETTINGS = [
    Setting("barcode.signed_url_lifetime", "int", 90 * 24 * 3600,
            "Seconds a signed barcode URL stays valid (notices are read weeks after they are sent).", minimum=1),
    Setting("barcode.cache_size", "int", 1024, "Images kept in the in-process cache (0: none).", minimum=0),
    Setting("barcode.max_age", "int", 24 * 3600, "Cache-Control max-age of images, in seconds.", minimum=0),
    Setting("barcode.default_type", "choice", "Code39", "Type when the request names none.",
            choices=tuple(sym.name for sym in SYMBOLOGIES.values())),
    Setting("barcode.default_height", "int", 50, "Bar height in pixels when the request gives none.", minimum=10),
    # GD draws one-pixel bars; zbar (and cheap scanners) miss some codes drawn that thin.
    Setting("barcode.module_width", "int", 2, "Pixels per narrow bar of linear codes.", minimum=2),
]


def includeme(config: Configurator) -> None:
    from .urls import barcode_url
    from .views import barcode_view

    site = config.registry.kohaweb
    site.extras["barcode"] = LRUCache(site.settings["barcode"]["cache_size"])
    config.add_home_link("Barcodes", "/cgi-bin/koha/svc/barcode", None,
                         "barcode images for slips and cards (Koha's address; also /svc/barcode)")
    config.add_route("barcode", "/svc/barcode")
    config.add_route("barcode_koha", "/cgi-bin/koha/svc/barcode")
    for route in ("barcode", "barcode_koha"):
        config.add_view(barcode_view, route_name=route, request_method=("GET", "HEAD"))
    config.add_request_method(barcode_url, "barcode_url")
