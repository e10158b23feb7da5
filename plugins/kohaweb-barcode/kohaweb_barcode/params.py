"""The query parameters of svc/barcode, checked: every problem is an InvalidBarcode with a
message for a 400 answer."""

from __future__ import annotations

from collections.abc import Mapping

from .render import MEDIA_TYPES, BarcodeRequest
from .symbologies import InvalidBarcode, complete, get_symbology


class InvalidParameter(InvalidBarcode):
    """A parameter other than the data is wrong (missing, repeated, out of range)."""

MAX_HEIGHT = 1000
MAX_MODULESIZE = 20
MAX_MODULE_WIDTH = 10
# Everything that changes the image; the rest of the query (signature, cache busters) does not.
NAMES = ("barcode", "type", "notext", "height", "modulesize", "format")


def single_values(params) -> dict[str, str]:
    """The query as a plain dict; a parameter given twice is ambiguous, so refused."""
    values: dict[str, str] = {}
    for name, value in params.items():
        if name in values:
            raise InvalidParameter(f"The parameter {name!r} is given more than once.")
        values[name] = value
    return values


def _int(params: Mapping[str, str], name: str, default: int, lowest: int, highest: int) -> int:
    raw = params.get(name, "").strip()
    if raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not lowest <= int(raw) <= highest:
        raise InvalidParameter(f"The parameter {name!r} must be a whole number from {lowest} to {highest}, "
                             f"not {raw!r}.")
    return int(raw)


def parse(params: Mapping[str, str], settings: Mapping) -> BarcodeRequest:
    if "barcode" not in params:
        raise InvalidParameter("The parameter 'barcode' is required: the data to encode.")
    try:
        symbology = get_symbology(params.get("type") or settings["default_type"])
    except InvalidBarcode as exc:
        raise InvalidParameter(str(exc)) from None
    fmt = (params.get("format") or "png").lower()
    if fmt not in MEDIA_TYPES:
        raise InvalidParameter(f"The parameter 'format' must be png or svg, not {params['format']!r}.")
    # Perl truth, as in Koha: empty and "0" are false, anything else hides the text.
    notext = params.get("notext", "") not in ("", "0")
    return BarcodeRequest(
        symbology=symbology,
        # The completed text ("*abc" -> "ABC"), so that spellings of one image share a cache entry.
        text=complete(symbology, params["barcode"]),
        notext=notext,
        height=_int(params, "height", settings["default_height"], 10, MAX_HEIGHT),
        modulesize=_int(params, "modulesize", 5, 1, MAX_MODULESIZE),
        module_width=settings["module_width"],
        format=fmt,
    )
