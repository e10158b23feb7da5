"""kohaweb.xmltext: the one cleaner of characters XML 1.0 cannot carry, checked against lxml."""

import pytest
from lxml import etree

from kohaweb.testing import selected_backend
from kohaweb.xmltext import NOT_XML_CHARS, is_xml_text, xml_escape, xml_escape_attribute, xml_text

pytestmark = pytest.mark.skipif(selected_backend() != "sqlite", reason="no database involved")

CONTROL = [chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
NON_CHARACTERS = ["\ufffe", "\uffff"]
KEPT = ["\t", "\n", "\r", " ", "~", "\x7f", "\x85", "\u00e9", "\ud7ff", "\ue000", "\ufffd", "\U00010000",
        "\U0001f4da", "\U00020000", "\U0010ffff"]


@pytest.mark.parametrize("bad", CONTROL + SURROGATES + NON_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_characters_xml_cannot_carry_are_dropped_or_replaced(bad):
    assert not is_xml_text(f"a{bad}b")
    assert xml_text(f"a{bad}b") == "ab"
    assert xml_text(f"a{bad}b", " ") == "a b"  # positional data keeps its length
    with pytest.raises(ValueError):  # the set is exactly what lxml refuses
        etree.Element("x").text = f"a{bad}b"


@pytest.mark.parametrize("good", KEPT, ids=lambda c: f"U+{ord(c):04X}")
def test_characters_xml_carries_are_kept(good):
    """Tab, line ends, DEL and C1 controls (allowed by XML 1.0), the edges of the allowed ranges
    and astral characters (one code point each in Python) pass unchanged and survive a round trip."""
    text = f"a{good}b"
    assert is_xml_text(text)
    assert xml_text(text) is text  # no copy when nothing is to be cleaned
    element = etree.Element("x")
    element.text = text
    assert etree.fromstring(etree.tostring(element, encoding="utf-8")).text == text


def test_every_code_point_agrees_with_lxml():
    """Over the whole of Unicode, is_xml_text says no exactly where lxml refuses the character."""
    element = etree.Element("x")
    disagree = []
    for code in range(0x110000):
        char = chr(code)
        try:
            element.text = char
            lxml_ok = True
        except ValueError:
            lxml_ok = False
        if lxml_ok != is_xml_text(char):
            disagree.append(f"U+{code:04X}")
    assert disagree == []


def test_mixed_text_and_pattern_fragment():
    assert xml_text("\x00Title\x1f: sub\ufffetitle \U0001d11e\ud800") == "Title: subtitle \U0001d11e"
    assert xml_text("") == ""
    import re

    assert re.fullmatch(f"[^{NOT_XML_CHARS}]*", "ok \U0001f600\t") is not None
    assert re.fullmatch(f"[^{NOT_XML_CHARS}]*", "no\x0b") is None


def test_marc_serialisation_uses_the_cleaner():
    """A record with control characters and a lone surrogate serialises to well-formed MARCXML;
    the leader keeps its 24 positions."""
    import pymarc

    from kohaweb import marc

    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.leader = pymarc.Leader("00000nam\x1ba2200000 a 4500")
    record.add_field(pymarc.Field(tag="245", indicators=["0", "0"],
                                  subfields=[pymarc.Subfield("a", "Bad\x1b title\ud800 \U0001f4da")]))
    element = marc.record_to_element(record)
    text = etree.tostring(element, encoding="unicode")
    parsed = etree.fromstring(text)
    ns = {"m": marc.MARC_NS}
    assert parsed.findtext("m:leader", namespaces=ns) == "00000nam a2200000 a 4500"
    assert parsed.findtext("m:datafield/m:subfield", namespaces=ns) == "Bad title \U0001f4da"


@pytest.mark.parametrize("value", ["plain", "a & b < c > d", "&amp; already", "line\r\nbreak\ttab",
                                   'say "hi"', "\u00e9\U0001f4da", ""])
def test_escapers_write_what_lxml_writes_and_parse_back(value):
    element = etree.Element("e", a=value)
    element.text = value
    written = f'<e a="{xml_escape_attribute(value)}">{xml_escape(value)}</e>'
    parsed = etree.fromstring(written)
    assert (parsed.text or "", parsed.get("a")) == (value, value)
    assert xml_escape(value) == etree.tostring(element, encoding="unicode").split(">", 1)[1].rsplit("<", 1)[0]
