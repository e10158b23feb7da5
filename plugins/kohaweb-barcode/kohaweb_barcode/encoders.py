"""The symbologies GD::Barcode has and python-barcode lacks: UPC-E and four "2 of 5" codes.

Each is a python-barcode ``Barcode`` so it renders through the same PNG and SVG writers as the
others. The bar/space patterns follow GD::Barcode 1.15 module for module (the tests compare
them with the Perl modules): a wide element is three modules, a narrow one is one. These classes
encode what they are given; checking the input (characters, length, check digits) is
``kohaweb_barcode.symbologies``' job, so the messages are in one place.
"""

from __future__ import annotations

from barcode.base import Barcode
from barcode.writer import BaseWriter

# One digit as five elements, "1" = wide (shared by Industrial, IATA, Matrix and ITF).
TWO_OF_FIVE = {
    "0": "00110", "1": "10001", "2": "01001", "3": "11000", "4": "00101",
    "5": "10100", "6": "01100", "7": "00011", "8": "10010", "9": "01010",
}
# COOP 2 of 5 numbers its weights differently.
COOP_TWO_OF_FIVE = {
    "0": "11000", "1": "00011", "2": "00101", "3": "00110", "4": "01001",
    "5": "01010", "6": "01100", "7": "10001", "8": "10010", "9": "10100",
}

UPC_LEFT_ODD = {
    "0": "0001101", "1": "0011001", "2": "0010011", "3": "0111101", "4": "0100011",
    "5": "0110001", "6": "0101111", "7": "0111011", "8": "0110111", "9": "0001011",
}
UPC_LEFT_EVEN = {
    "0": "0100111", "1": "0110011", "2": "0011011", "3": "0100001", "4": "0011101",
    "5": "0111001", "6": "0000101", "7": "0010001", "8": "0001001", "9": "0010111",
}
# Parity of the six UPC-E digits chosen by the check digit, for number system 0 (E = even, O = odd).
UPCE_PARITY = {
    "0": "EEEOOO", "1": "EEOEOO", "2": "EEOOEO", "3": "EEOOOE", "4": "EOEEOO",
    "5": "EOOEEO", "6": "EOOOEE", "7": "EOEOEO", "8": "EOEOOE", "9": "EOOEOE",
}


def bars_only(elements: str) -> str:
    """Elements that are all bars, each followed by a narrow space (Industrial and IATA 2 of 5)."""
    return "".join(("111" if e == "1" else "1") + "0" for e in elements)


def bars_and_spaces(elements: str) -> str:
    """Elements alternating bar, space, bar... (Matrix and COOP 2 of 5)."""
    out = []
    for position, element in enumerate(elements):
        colour = "0" if position % 2 else "1"
        out.append(colour * (3 if element == "1" else 1))
    return "".join(out)


class PatternBarcode(Barcode):
    """A python-barcode ``Barcode`` whose pattern is computed by ``pattern()`` from ``self.code``."""

    def __init__(self, code: str, writer: BaseWriter | None = None) -> None:
        self.code = code
        self.writer = writer or self.default_writer()

    def __str__(self) -> str:
        return self.code

    def get_fullcode(self) -> str:
        return self.code

    def pattern(self) -> str:
        raise NotImplementedError

    def build(self) -> list[str]:
        return [self.pattern()]


class Industrial2of5(PatternBarcode):
    name = "Industrial 2 of 5"

    def pattern(self) -> str:
        body = bars_only("110") + "".join(bars_only(TWO_OF_FIVE[d]) for d in self.code) + bars_only("101")
        return body[:-1]  # no space after the stop bar


class IATA2of5(PatternBarcode):
    name = "IATA 2 of 5"

    def pattern(self) -> str:
        body = bars_only("00") + "".join(bars_only(TWO_OF_FIVE[d]) for d in self.code) + bars_only("10")
        return body[:-1]


class Matrix2of5(PatternBarcode):
    name = "Matrix 2 of 5"
    start_stop = ("10000", "10000")
    table = TWO_OF_FIVE

    def pattern(self) -> str:
        start, stop = self.start_stop
        # Each character starts with a bar; a narrow space separates characters.
        chars = [bars_and_spaces(start)] + [bars_and_spaces(self.table[d]) for d in self.code]
        return "0".join(chars) + "0" + bars_and_spaces(stop)


class COOP2of5(Matrix2of5):
    name = "COOP 2 of 5"
    start_stop = ("101", "011")
    table = COOP_TWO_OF_FIVE


class UPCE(PatternBarcode):
    """UPC-E from its eight digits: number system (0), six data digits, check digit."""

    name = "UPC-E"

    def pattern(self) -> str:
        parity = UPCE_PARITY[self.code[7]]
        digits = "".join((UPC_LEFT_ODD if p == "O" else UPC_LEFT_EVEN)[d] for p, d in zip(parity, self.code[1:7], strict=True))
        # G marks guard bars, drawn longer by the writers when guard bars are on.
        return "G0G" + digits + "0G0G0G"
