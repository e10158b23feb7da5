"""Over real HTTP (waitress, several threads at once): the images are the same as drawn one
at a time, the cache is shared safely, and an <img> fetch without credentials gets a 401."""

from __future__ import annotations

import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from kohaweb_barcode.params import parse
from kohaweb_barcode.render import render
from kohaweb_barcode.urls import signed_barcode_params

from kohaweb.testing import TEST_SECRET

DEFAULTS = {"default_type": "Code39", "default_height": 50, "module_width": 2}


def fetch(url: str) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, headers={"Accept": "image/avif,image/webp,*/*"})  # as a browser's <img>
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers.get("ETag", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""


def test_concurrent_requests(live_server):
    with live_server(services=["barcode"], **{"barcode.cache_size": "8"}) as base:
        cases = [(f"{n:012d}", ("EAN13", "ITF", "QRcode", "Code39")[n % 4]) for n in range(40)] * 3
        queries = [signed_barcode_params(TEST_SECRET, text, type_name, max_age=60) for text, type_name in cases]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda q: fetch(f"{base}/svc/barcode?{urlencode(q)}"), queries))
        for query, (status, body, etag) in zip(queries, results, strict=True):
            assert status == 200 and etag
            assert body == render(parse(query, DEFAULTS))
        status, body, _ = fetch(f"{base}/cgi-bin/koha/svc/barcode?barcode=1234")
        assert status == 401 and body.strip()
