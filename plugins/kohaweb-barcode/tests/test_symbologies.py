"""Every linear type encodes exactly as GD::Barcode (the Perl library Koha uses) for many
inputs, and everything a type cannot encode is refused with a message saying what it accepts."""

from __future__ import annotations

import random

import pytest
from kohaweb_barcode.symbologies import (
    MAX_LINEAR_LENGTH,
    MAX_QR_ALPHANUMERIC,
    MAX_QR_BYTES,
    MAX_QR_DIGITS,
    SYMBOLOGIES,
    InvalidBarcode,
    bar_pattern,
    encode,
    get_symbology,
)

DIGITS = "0123456789"
CODE39 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
CODABAR = "0123456789-$:/.+"


def _random(rng: random.Random, alphabet: str, lengths: range) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.choice(lengths)))


def inputs(type_name: str) -> list[str]:
    """Fixed edge cases plus seeded random inputs, as a library would send them."""
    rng = random.Random(type_name)
    fixed = {
        "Code39": ["0", "ABC-123", "*ABC-123*", "lower case", "a.b$c/d+e%f", CODE39, "*39*", "*X", "Y*"],
        "NW7": ["A0B", "A1234-5$B", "C:/.+D", "D0123456789-$:/.+A", "123456", "b40123c", "a1a"],
        "EAN13": ["978020137962", "9780201379624", "4006381333931", "000000000000", "999999999999"],
        "EAN8": ["1234567", "73513537", "0000000", "9999999", "96385074"],
        "UPCA": ["03600029145", "036000291452", "00000000000", "99999999999", "123456789012"],
        "UPCE": ["123456", "0123456", "01234565", "000000", "999999", "0999999", "654321"],
        "ITF": ["0", "1", "12", "12345", "123456", "1234567890123", "00000000000000"],
    }.get(type_name, ["0", "1", "1234567890", "9876543210", "00000", "99"])
    alphabet, lengths = {
        "Code39": (CODE39 + "abcdefghijklmnopqrstuvwxyz", range(1, 25)),
        "NW7": (CODABAR, range(1, 25)),
        "EAN13": (DIGITS, range(12, 13)),
        "EAN8": (DIGITS, range(7, 8)),
        "UPCA": (DIGITS, range(11, 12)),
        "UPCE": (DIGITS, range(6, 7)),
    }.get(type_name, (DIGITS, range(1, 30)))
    return fixed + [_random(rng, alphabet, lengths) for _ in range(60)]


def gd_input(type_name: str, text: str) -> str:
    """What Koha hands GD::Barcode: Code39 wrapped in '*' (Koha-Community's svc/barcode); Codabar
    wrapped in start/stop characters A...A when it has none (our addition, GD needs them too)."""
    if type_name == "Code39":
        text = text.upper()
        return ("" if text.startswith("*") else "*") + text + ("" if text.endswith("*") and len(text) > 1 else "*")
    if type_name == "NW7":
        text = text.upper()
        return text if text[0] in "ABCD" else f"A{text}A"
    return text


LINEAR = [sym.name for sym in SYMBOLOGIES.values() if sym.linear]


@pytest.mark.parametrize("type_name", LINEAR)
def test_patterns_match_gd_barcode(type_name, gd_patterns):
    cases = inputs(type_name)
    expected = gd_patterns([(type_name, gd_input(type_name, text)) for text in cases])
    sym = get_symbology(type_name)
    for text, gd in zip(cases, expected, strict=True):
        assert not gd.startswith("ERROR"), (text, gd)
        # G is GD's mark for a guard bar drawn longer; trailing spaces are quiet zone.
        assert bar_pattern(sym, text).rstrip("0") == gd.replace("G", "1").rstrip("0"), (type_name, text)


@pytest.mark.parametrize("type_name, text, full", [
    ("EAN13", "978020137962", "9780201379624"),
    ("EAN8", "7351353", "73513537"),
    ("UPCA", "03600029145", "036000291452"),
    ("UPCE", "123456", "01234565"),
    ("UPCE", "0654321", "06543217"),
    ("ITF", "1234567", "12345670"),
    ("ITF", "12345", "123457"),
    ("ITF", "1234", "1234"),
    ("Code39", "*abc*", "ABC"),
    ("Code39", "abc", "ABC"),
    ("NW7", "1234", "A1234A"),
    ("NW7", "b1234d", "B1234D"),
    ("Matrix2of5", "0042", "0042"),
])
def test_completion(type_name, text, full):
    """Check digits, start/stop characters and letter case, from published examples."""
    assert encode(get_symbology(type_name), text)[0] == full


def test_wrong_check_digits_are_gd_compatible_otherwise(gd_patterns):
    """GD encodes a wrong check digit as given (an unreadable label); we refuse it."""
    assert not gd_patterns([("EAN13", "9780201379625")])[0].startswith("ERROR")
    with pytest.raises(InvalidBarcode, match="check digit is 5 but should be 4"):
        encode(get_symbology("EAN13"), "9780201379625")


INVALID = [
    ("EAN13", "978020137962X", ["characters other than digits", "'X'", "12 digits"]),
    ("EAN13", "97802013796", ["11 digits", "12 digits", "13 digits"]),
    ("EAN13", "97802013796245", ["14 digits"]),
    ("EAN13", "9780201379625", ["check digit is 5 but should be 4"]),
    ("EAN13", "９７８０２０１３７９６２", ["characters other than digits"]),
    ("EAN8", "123456", ["6 digits", "EAN8 accepts 7 digits"]),
    ("EAN8", "12345678", ["check digit is 8 but should be 0"]),
    ("UPCA", "0360002914", ["10 digits", "11 digits"]),
    ("UPCA", "036000291453", ["check digit is 3 but should be 2"]),
    ("UPCA", "03600029145a", ["'a'"]),
    ("UPCE", "12345", ["5 digits", "UPCE accepts 6 digits"]),
    ("UPCE", "123456789", ["9 digits"]),
    ("UPCE", "01234567", ["check digit is 7 but should be 5"]),
    ("UPCE", "1234567", ["number system digit is 1"]),
    ("UPCE", "-12345", ["'-'"]),
    ("Code39", "ABC_123", ["cannot encode", "'_'", "0-9, A-Z"]),
    ("Code39", "Bibliothèque", ["'È'"]),
    ("Code39", "AB*CD", ["'*' is the start/stop character"]),
    ("Code39", "**", ["nothing between"]),
    ("Code39", "*", ["nothing between"]),
    ("Code39", "A" * (MAX_LINEAR_LENGTH + 1), [f"{MAX_LINEAR_LENGTH + 1} characters", f"1 to {MAX_LINEAR_LENGTH}"]),
    ("NW7", "A1234", ["start character (A-D) at one end but not at the other"]),
    ("NW7", "1234D", ["at one end but not at the other"]),
    ("NW7", "A12B34A", ["cannot encode", "'B'"]),
    ("NW7", "AB", ["nothing between"]),
    ("NW7", "A", ["at one end"]),
    ("NW7", "12 34", ["' '"]),
    ("ITF", "12 34", ["characters other than digits"]),
    ("ITF", "1" * (MAX_LINEAR_LENGTH + 1), [f"{MAX_LINEAR_LENGTH + 1} digits"]),
    ("Matrix2of5", "12A", ["'A'", "Matrix2of5 accepts digits"]),
    ("Industrial2of5", "1.5", ["'.'"]),
    ("IATA2of5", "x", ["'x'"]),
    ("COOP2of5", "-1", ["'-'"]),
    ("QRcode", "x" * (MAX_QR_BYTES + 1), [f"{MAX_QR_BYTES + 1} bytes", f"or {MAX_QR_BYTES} bytes"]),
    ("QRcode", "1" * (MAX_QR_DIGITS + 1), [f"{MAX_QR_DIGITS + 1} digits", f"up to {MAX_QR_DIGITS} digits"]),
    ("QRcode", "A:" * (MAX_QR_ALPHANUMERIC // 2 + 1), [f"{MAX_QR_ALPHANUMERIC + 1} characters"]),
    ("QRcode", "é" * (MAX_QR_BYTES // 2 + 1), [f"{MAX_QR_BYTES + 1 if MAX_QR_BYTES % 2 else MAX_QR_BYTES + 2} bytes"]),
]


@pytest.mark.parametrize("type_name, text, fragments", INVALID)
def test_invalid_input_is_refused_with_what_the_type_accepts(type_name, text, fragments):
    sym = get_symbology(type_name)
    with pytest.raises(InvalidBarcode) as refused:
        encode(sym, text)
    message = str(refused.value)
    assert message.startswith(f"Invalid barcode for type {type_name}: ")
    assert sym.accepts in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("type_name", [sym.name for sym in SYMBOLOGIES.values()])
def test_empty_is_refused_for_every_type(type_name):
    with pytest.raises(InvalidBarcode, match="it is empty"):
        encode(get_symbology(type_name), "")


def test_type_names_in_any_case_and_unknown_types():
    assert get_symbology("ean13").name == "EAN13"
    assert get_symbology("QRCODE").name == "QRcode"
    assert get_symbology("industrial2OF5").name == "Industrial2of5"
    with pytest.raises(InvalidBarcode) as refused:
        get_symbology("Code128")
    assert "Unknown barcode type 'Code128'" in str(refused.value)
    assert "Code39, UPCE, UPCA, QRcode, NW7, Matrix2of5, ITF, Industrial2of5, IATA2of5, EAN8, EAN13, COOP2of5" \
        in str(refused.value)


def test_the_largest_qr_code_fits():
    from kohaweb_barcode.render import BarcodeRequest, render

    for text in ("1" * MAX_QR_DIGITS, "A" * MAX_QR_ALPHANUMERIC, "x" * MAX_QR_BYTES, "é" * (MAX_QR_BYTES // 2)):
        assert render(BarcodeRequest(get_symbology("QRcode"), text, modulesize=1)).startswith(b"\x89PNG")
