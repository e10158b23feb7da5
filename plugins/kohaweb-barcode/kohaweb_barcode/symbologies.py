"""The twelve types of Koha's svc/barcode: what each accepts, how its input is completed (check
digits, start/stop characters) and which python-barcode class draws it.

GD::Barcode, which Koha uses, encodes whatever passes its character check, so a wrong check digit
or a Codabar without start/stop characters gives an image no scanner reads. Here such input is
refused with a message that says what the type accepts; everything GD would encode readably is
encoded exactly as GD does (the tests compare the patterns with the Perl modules).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from barcode.base import Barcode
from barcode.codabar import CODABAR
from barcode.codex import Code39
from barcode.ean import EAN8, EAN13
from barcode.itf import ITF
from barcode.upc import UPCA

from . import encoders

# Long enough for any library barcode, short enough to bound the image width.
MAX_LINEAR_LENGTH = 80
# What a QR code holds at error correction level M (version 40) in each mode: digits only,
# upper-case alphanumerics, anything else as bytes.
MAX_QR_DIGITS = 5596
MAX_QR_ALPHANUMERIC = 3391
MAX_QR_BYTES = 2331
QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")

CODE39_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
CODABAR_DATA = "0123456789-$:/.+"
CODABAR_START_STOP = "ABCD"


class InvalidBarcode(ValueError):
    """The data cannot be encoded in the requested type; the message says why and what fits."""


@dataclass(frozen=True)
class Symbology:
    name: str  # Koha's spelling, as in svc/barcode's ``type`` parameter
    accepts: str  # one sentence for error messages
    complete: Callable[[str], str]  # input -> the full text encoded (raises InvalidBarcode)
    make: Callable[[str], Barcode] | None  # full text -> python-barcode object (None: QR)

    @property
    def linear(self) -> bool:
        return self.make is not None

    def fail(self, problem: str) -> InvalidBarcode:
        return InvalidBarcode(f"Invalid barcode for type {self.name}: {problem}. {self.accepts}")


def check_digit(digits: str, weights: tuple[int, int]) -> str:
    """The modulo-10 check digit with ``weights`` alternating from the left (GD's calc*CD)."""
    total = sum(int(d) * weights[i % 2] for i, d in enumerate(digits))
    return str((10 - total % 10) % 10)


def upce_check_digit(seven: str) -> str:
    """UPC-E check digit: that of the UPC-A number the UPC-E code stands for."""
    last = seven[6]
    if last in "012":
        upca = seven[0:3] + last + "0000" + seven[3:6]
    elif last == "3":
        upca = seven[0:4] + "00000" + seven[4:6]
    elif last == "4":
        upca = seven[0:5] + "00000" + seven[5]
    else:
        upca = seven[0:6] + "0000" + last
    return check_digit(upca, (3, 1))


def _bad_chars(text: str, allowed: str) -> str:
    bad = sorted({c for c in text if c not in allowed})
    return ", ".join(repr(c) for c in bad)


def _digits(sym: Symbology, text: str) -> None:
    if not text.isascii() or not text.isdigit():
        raise sym.fail(f"it contains characters other than digits ({_bad_chars(text, '0123456789')})")


def _fixed_length(sym: Symbology, text: str, data_length: int, weights: tuple[int, int]) -> str:
    _digits(sym, text)
    if len(text) == data_length:
        return text + check_digit(text, weights)
    if len(text) == data_length + 1:
        expected = check_digit(text[:-1], weights)
        if text[-1] != expected:
            raise sym.fail(f"the check digit is {text[-1]} but should be {expected}")
        return text
    raise sym.fail(f"it has {len(text)} digits")


def _variable_digits(sym: Symbology, text: str) -> str:
    _digits(sym, text)
    if len(text) > MAX_LINEAR_LENGTH:
        raise sym.fail(f"it has {len(text)} digits")
    return text


def _itf(text: str) -> str:
    text = _variable_digits(ITF_SYM, text)
    # Interleaving needs pairs; GD completes an odd count with a check digit (weights 3,1 from the left).
    return text + check_digit(text, (3, 1)) if len(text) % 2 else text


def _code39(text: str) -> str:
    """The data between the start/stop stars. Koha adds the stars when missing, and lower case is
    upper-cased rather than refused (GD refuses it, which gave Koha users an HTTP 500)."""
    text = text.upper()
    inner = text[1:] if text.startswith("*") else text
    inner = inner[:-1] if inner.endswith("*") else inner
    if not inner:
        raise CODE39.fail("there is nothing between the start and stop characters")
    if "*" in inner:
        raise CODE39.fail("'*' is the start/stop character and cannot appear inside the data")
    if any(c not in CODE39_CHARS for c in inner):
        raise CODE39.fail(f"it contains characters Code 39 cannot encode ({_bad_chars(inner, CODE39_CHARS)})")
    if len(inner) > MAX_LINEAR_LENGTH:
        raise CODE39.fail(f"it has {len(inner)} characters")
    return inner


def _nw7(text: str) -> str:
    """Codabar needs start and stop characters (A-D); like Koha's Code39 stars they are added (as
    A...A) when the data has neither."""
    text = text.upper()
    starts, stops = text[:1] in CODABAR_START_STOP, text[-1:] in CODABAR_START_STOP
    if text and not starts and not stops:
        text = f"A{text}A"
    elif starts != stops or len(text) < 2:
        raise NW7.fail("it has a start character (A-D) at one end but not at the other")
    inner = text[1:-1]
    if not inner:
        raise NW7.fail("there is nothing between the start and stop characters")
    if any(c not in CODABAR_DATA for c in inner):
        raise NW7.fail(f"it contains characters Codabar cannot encode ({_bad_chars(inner, CODABAR_DATA)})")
    if len(inner) > MAX_LINEAR_LENGTH:
        raise NW7.fail(f"it has {len(inner)} characters")
    return text


def _upce(text: str) -> str:
    _digits(UPCE_SYM, text)
    if len(text) == 6:
        text = "0" + text
    if len(text) not in (7, 8):
        raise UPCE_SYM.fail(f"it has {len(text)} digits")
    if text[0] != "0":
        # GD::Barcode encodes every number as number system 0, which for 1 gives an image that
        # scans as another number; refuse rather than print a wrong label.
        raise UPCE_SYM.fail(f"the number system digit is {text[0]}, only 0 is supported")
    expected = upce_check_digit(text[:7])
    if len(text) == 8 and text[7] != expected:
        raise UPCE_SYM.fail(f"the check digit is {text[7]} but should be {expected}")
    return text[:7] + expected


def _qr(text: str) -> str:
    if text.isascii() and text.isdigit():
        if len(text) > MAX_QR_DIGITS:
            raise QRCODE.fail(f"it is {len(text)} digits long")
    elif set(text) <= QR_ALPHANUMERIC:
        if len(text) > MAX_QR_ALPHANUMERIC:
            raise QRCODE.fail(f"it is {len(text)} characters long")
    elif len(text.encode("utf-8")) > MAX_QR_BYTES:
        raise QRCODE.fail(f"it is {len(text.encode('utf-8'))} bytes long")
    return text


def _digits_symbology(name: str, cls: type[encoders.PatternBarcode]) -> Symbology:
    sym = Symbology(name, f"{name} accepts digits 0-9, 1 to {MAX_LINEAR_LENGTH} of them.",
                    lambda text: _variable_digits(sym, text), cls)
    return sym


CODE39 = Symbology(
    "Code39",
    f"Code39 accepts 0-9, A-Z (lower case is upper-cased), space and - . $ / + %, 1 to {MAX_LINEAR_LENGTH} "
    "characters, optionally between '*' start/stop characters (added when missing).",
    _code39, lambda inner: Code39(inner, add_checksum=False))
EAN13_SYM = Symbology(
    "EAN13", "EAN13 accepts 12 digits (the check digit is added) or 13 digits ending in the correct check digit.",
    lambda text: _fixed_length(EAN13_SYM, text, 12, (1, 3)), lambda full: EAN13(full, no_checksum=True))
EAN8_SYM = Symbology(
    "EAN8", "EAN8 accepts 7 digits (the check digit is added) or 8 digits ending in the correct check digit.",
    lambda text: _fixed_length(EAN8_SYM, text, 7, (3, 1)), lambda full: EAN8(full, no_checksum=True))
UPCA_SYM = Symbology(
    "UPCA", "UPCA accepts 11 digits (the check digit is added) or 12 digits ending in the correct check digit.",
    lambda text: _fixed_length(UPCA_SYM, text, 11, (3, 1)), lambda full: UPCA(full[:11]))
UPCE_SYM = Symbology(
    "UPCE", "UPCE accepts 6 digits (number system 0 and the check digit are added), 7 digits starting with "
    "number system 0 (the check digit is added) or 8 digits starting with 0 and ending in the correct check digit.",
    _upce, encoders.UPCE)
NW7 = Symbology(
    "NW7", f"NW7 (Codabar) accepts 0-9 and - $ : / . +, 1 to {MAX_LINEAR_LENGTH} characters, between start "
    "and stop characters A, B, C or D (A...A is added when both are missing).",
    _nw7, lambda full: CODABAR(full, narrow=1, wide=3))
ITF_SYM = Symbology(
    "ITF", f"ITF accepts digits 0-9, 1 to {MAX_LINEAR_LENGTH} of them (an odd count gets a check digit).",
    _itf, lambda full: ITF(full, narrow=1, wide=3))
QRCODE = Symbology(
    "QRcode", f"QRcode accepts up to {MAX_QR_DIGITS} digits, {MAX_QR_ALPHANUMERIC} characters of 0-9 A-Z space "
    f"$ % * + - . / : or {MAX_QR_BYTES} bytes of any other text (UTF-8).", _qr, None)

SYMBOLOGIES: dict[str, Symbology] = {
    sym.name.lower(): sym
    for sym in (
        CODE39, UPCE_SYM, UPCA_SYM, QRCODE, NW7,
        _digits_symbology("Matrix2of5", encoders.Matrix2of5),
        ITF_SYM,
        _digits_symbology("Industrial2of5", encoders.Industrial2of5),
        _digits_symbology("IATA2of5", encoders.IATA2of5),
        EAN8_SYM, EAN13_SYM,
        _digits_symbology("COOP2of5", encoders.COOP2of5),
    )
}
TYPE_NAMES = ", ".join(sym.name for sym in SYMBOLOGIES.values())


def get_symbology(name: str) -> Symbology:
    """The symbology by Koha's type name, in any letter case."""
    sym = SYMBOLOGIES.get(re.sub(r"\s+", "", name).lower())
    if sym is None:
        raise InvalidBarcode(f"Unknown barcode type {name!r}; the types are {TYPE_NAMES} (any letter case).")
    return sym


def complete(sym: Symbology, text: str) -> str:
    """The full text encoded for ``text`` (check digits, start/stop characters); completing it
    again gives the same. Raises InvalidBarcode."""
    if text == "":
        raise sym.fail("it is empty")
    return sym.complete(text)


def encode(sym: Symbology, text: str) -> tuple[str, Barcode | None]:
    """(full text, python-barcode object) for ``text``; raises InvalidBarcode."""
    full = complete(sym, text)
    return full, (sym.make(full) if sym.make else None)


def bar_pattern(sym: Symbology, text: str) -> str:
    """The bar/space pattern, "1" = one module of bar, "0" = one of space (linear types only)."""
    _, code = encode(sym, text)
    if code is None:
        raise ValueError(f"{sym.name} is not a linear barcode")
    return code.build()[0].replace("G", "1")
