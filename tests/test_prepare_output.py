"""The import's worker-side fast paths (``kohaweb.loading.prepare``) give exactly what their
straightforward reference gives, on the tricky cases: interleaved namespaces, repeated words,
keys past 65,536 distinct ones, ASCII and non-ASCII text, odd characters in records."""

from __future__ import annotations

import io
import pickle
import random
import unicodedata
import zlib
from itertools import chain

import numpy as np
import pymarc
import pytest
from lxml import etree

from kohaweb import marc, xmltext
from kohaweb.search import normalize, packing, writer
from kohaweb.search.indexer import Entry
from kohaweb.search.posting_format import BLOCK_BITS, POSITION_BITS

# --- references: the plain forms the fast paths replaced -------------------------------------------

def _reference_encode_terms(terms: dict) -> bytes:
    groups: dict[str, list[str]] = {}
    for (idx, term), positions in terms.items():
        lines = groups.get(idx)
        if lines is None:
            lines = groups[idx] = ["\x1d" + idx]
        lines.append(f"{term}\t{','.join(map(str, positions))}" if positions else term)
    return zlib.compress("\n".join(chain.from_iterable(groups.values())).encode("utf-8"), 6)


def _reference_packed(block: int, entries: dict) -> list[tuple]:
    """One row per key in key order, built key by key from the records in number order, as
    ``PostingColumns.rows`` gives them: (namespace, term, block, record count, docs, positions)."""
    base = block << BLOCK_BITS
    docs: dict[tuple, list[int]] = {}
    occurrences: dict[tuple, list[int]] = {}
    for number in sorted(entries):
        for key, positions in entries[number].terms.items():
            docs.setdefault(key, []).append(number - base)
            occurrences.setdefault(key, []).extend(((number - base) << POSITION_BITS) | p for p in positions or ())
    return [(*key, block, len(docs[key]), np.asarray(docs[key], dtype="<u2").tobytes(),
             np.asarray(occurrences[key], dtype="<u4").tobytes() if occurrences[key] else None)
            for key in sorted(docs)]


def _reference_words(text: str) -> tuple[str, ...]:
    found = normalize._word_patterns()[0].findall(normalize.fold(text))
    return tuple(w[:normalize.MAX_TERM] for w in found)


# --- the index rows --------------------------------------------------------------------------------

def test_encode_terms_matches_its_reference_on_interleaved_namespaces():
    other_any = "".join(["a", "ny"])  # equal to "any", another object
    terms = {("any", "reef"): [0], ("title", "reef"): [0, 5, 9], ("any", "coral"): [1, 2],
             ("title=", "coral reef"): None, ("isbn", "9780198526636"): None, (other_any, "atlas"): [40],
             ("date#", "0000001999"): None, ("date#10", "0000000199"): None, ("date#", "0000002003"): None,
             ("note", "empty"): [], ("note", "tuple"): (3, 4), ("_all", ""): None, ("any", "ünï"): [70000]}
    assert writer.encode_terms(terms) == _reference_encode_terms(terms)
    assert writer.decode_terms(writer.encode_terms(terms))[("any", "atlas")] == (40,)
    assert writer.encode_terms({}) == _reference_encode_terms({})


def _random_entries(rng: random.Random, numbers: list[int], vocabulary: int) -> dict[int, Entry]:
    entries = {}
    for number in numbers:
        entry = Entry()
        for _ in range(rng.randrange(0, 40)):
            idx = rng.choice(["any", "title", "title=", "isbn", "date#", "é"])
            term = f"w{rng.randrange(vocabulary)}"
            if idx in ("title=", "isbn", "date#"):
                entry.add((idx, term))
            else:
                entry.add((idx, term), sorted(rng.sample(range(0, 65000), rng.randrange(1, 4))))
        entries[number] = entry
    return entries


def test_a_record_terms_grouped_are_its_terms_by_key(shared_data):
    """``Entry.groups`` (what the import packs and stores) against its keyed view: the stored term
    list is what the keyed terms' reference encoding gives and decodes back to them, on real
    records (several numbers, repeated namespaces) and the tricky ones."""
    from kohaweb.search.indexer import entry_for

    records = [read.record for read in marc.read_records(str(shared_data / "marc21-collection.xml"))
               if read.record is not None][:300] + _tricky_records()
    for record in records:
        entry = entry_for(record, marc.MARC21, [{"barcode": "B1", "homebranch": "CPL", "holdingbranch": "MPL",
                                                 "itype": "BK"}], hidden=True)
        terms = entry.terms
        assert sum(map(len, entry.groups.values())) == len(terms) and all(entry.groups.values())
        assert writer.encode_groups(entry.groups) == _reference_encode_terms(terms)
        assert writer.decode_terms(writer.encode_groups(entry.groups)) == {
            key: tuple(positions or ()) for key, positions in terms.items()}
        assert ("_hidden", "") in terms and ("_all", "") in terms


@pytest.mark.parametrize("vocabulary", [5, 300, 100_000])
def test_new_record_rows_match_their_reference(vocabulary):
    rng = random.Random(vocabulary)
    block = 3
    numbers = sorted(rng.sample(range(block << BLOCK_BITS, (block + 1) << BLOCK_BITS), 400))
    entries = _random_entries(rng, numbers, vocabulary)
    entries[numbers[0]].groups.clear()  # a record with no key at all
    expected = _reference_packed(block, entries)
    assert packing.pack(block, entries).rows() == expected
    rows = writer.new_record_rows(entries)
    assert list(rows) == [block]
    assert rows[block].postings.rows() == expected
    assert writer.new_record_rows({}) == {}
    assert packing.pack(block, {numbers[0]: Entry()}).rows() == []


def test_posting_columns_survive_pickling_and_rebuild_from_their_rows():
    """What a worker sends the writing process: the same rows after a pickle's round trip, and
    from their own rows again; a term holding a newline (no normalised term does) keeps its rows."""
    entries = {}
    for number, words in ((8, ["reef", "coral"]), (9, ["coral", "odd\nterm"]), (12, ["reef"])):
        entry = Entry()
        for at, word in enumerate(words):
            entry.add(("any", word), [at])
        entry.add(("title=", " ".join(words)))
        entries[number] = entry
    columns = packing.pack(0, entries)
    assert isinstance(columns.terms, list)  # not newline-joined: the joined text would not split back
    expected = _reference_packed(0, entries)
    assert columns.rows() == expected
    assert pickle.loads(pickle.dumps(columns)) == columns
    assert packing.PostingColumns.from_rows(0, expected).rows() == expected
    assert [(name, start, stop) for name, start, stop in columns.runs()] == [("any", 0, 3), ("title=", 3, 6)]
    del entries[9]
    plain = packing.pack(0, entries)
    assert isinstance(plain.terms, str) and plain.term_column == ["coral", "reef", "reef", "reef coral"]
    assert len(packing.pack(0, {})) == 0 and packing.pack(0, {}).rows() == []
    assert packing.PostingColumns.from_rows(0, []).rows() == []


def test_packed_keys_beyond_16_bits():
    """More than 65,536 distinct keys: the order of their ranks takes both 16-bit passes."""
    entries = {}
    for number in range(1, 401):
        entry = Entry()
        for i in range(180):
            entry.add(("any", f"t{(number * 7919 + i * 104729) % 90_000:05d}"), [i])
        entry.add(("title=", f"p{number}"))
        entries[number] = entry
    assert len({key for e in entries.values() for key in e.terms}) > 1 << 16
    assert packing.pack(0, entries).rows() == _reference_packed(0, entries)


def test_stable_order_is_numpy_stable_argsort():
    rng = np.random.default_rng(5)
    for high in (3, 70_000, 1 << 31):
        ranks = rng.integers(0, high, 5000)
        assert (packing._stable_order(ranks) == np.argsort(ranks, kind="stable")).all()


# --- words ---------------------------------------------------------------------------------------

TRICKY_TEXTS = [
    "", "   ", "Coral reefs / by J. Smith ; 2nd ed.", "snake_case and_under_scores__", "A1B2 c3-d4 x_1",
    "ÆTHELRED Œuvres Þórr ðe ø", "Récifs coralliens", "naïve café", "e\u0301le\u0300ve", "Ａｂｃ ｄｅｆ",
    "東京大学 とうきょう", "पुस्तकालय विज्ञान", "ภาษาไทย", "Ελληνικά κείμενα", "Кириллица тест",
    "עִבְרִית", "العَرَبِيَّة", "ctrl\x01chars\x1f\x7f here\u0088\u0089", "tab\tand\nnewline",
    "x" * 150 + " short", "ﬁ ligature ﬂow", "²³ superscripts ½", "İstanbul ıi", "ß straße",
    "\ue000mask\ue001", "MiXeD CaSe 123abc", "dots...and---dashes", "emoji 🙂 text",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_word_tuple_matches_the_general_pattern(text):
    normalize.word_tuple.cache_clear()
    assert normalize.word_tuple(text) == _reference_words(text)


# --- reading ISO 2709 and writing MARCXML ------------------------------------------------------

def _tricky_records() -> list[pymarc.Record]:
    def record(*fields: pymarc.Field, leader: str = "00000nam a2200000 a 4500") -> pymarc.Record:
        made = pymarc.Record(leader=leader, force_utf8=True)
        for field in fields:
            made.add_field(field)
        return made

    def data(tag: str, *pairs: str, ind: tuple = (" ", " ")) -> pymarc.Field:
        return pymarc.Field(tag=tag, indicators=pymarc.Indicators(*ind),
                            subfields=[pymarc.Subfield(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)])

    return [
        record(pymarc.Field(tag="001", data="ocm 123 & <x>"), pymarc.Field(tag="008", data="240101s1999    xx eng d"),
               data("245", "a", "Re\u0301cifs & <coraux> /", "b", "tab\there\r", "c", "\"quoted\"", ind=("1", "4")),
               data("650", "a", "", "x", "Côte d'Ivoire"), data("880", "6", "245-01/$1", "a", "東京大学"),
               data("500", "a", "ctrl\x01char"), data("520", "a", "ﬁne 🙂 text", ind=("#", "|"))),
        record(data("200", "a", "Titre @ UNIMARC", "e", "complément", "f", "Auteur"),
               data("995", "b", "MPL", "f", "123"), data("700", "a", "Nom", "b", "Pré"), leader="00000nam0 22000000i 450 "),
        record(data("245", "a", "No other field"), data("999")),
        record(pymarc.Field(tag="005", data="20240101"), data("24X", "a", "letter tag"), data("abc", "z", "lower tag")),
    ]


def _pymarc_read(data: bytes) -> pymarc.Record:
    return next(pymarc.MARCReader(io.BytesIO(data), to_unicode=True, force_utf8=False, utf8_handling="replace",
                                  permissive=True))


def _shape(record: pymarc.Record) -> list:
    return [str(record.leader)] + [(f.tag, f.data, f.indicators, f.subfields, f.control_field, f.is_control_field())
                                   for f in record.fields]


def _with_raw_value(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data`` with a value's bytes replaced by others of the same length (the directory stays right)."""
    assert len(old) == len(new) and data.count(old) == 1
    return data.replace(old, new)


def test_plain_utf8_reader_makes_what_pymarc_makes():
    samples = [record.as_marc() for record in _tricky_records()]
    plain = samples[0]
    samples += [
        _with_raw_value(plain, "Côte".encode(), b"C\xc3te!"),  # a cut sequence, then valid text
        _with_raw_value(plain, b" /\x1fb", b"\xe2\x82\x1fb"),  # a cut sequence right before a separator
        _with_raw_value(plain, b"oire", b"oi\xe2\x82"),  # and at the end of a field
        _with_raw_value(plain, b"\x1fxC", b"\x1f\xc3C"),  # a non-ASCII subfield code
        _with_raw_value(plain, b"14\x1fa", b"1\xc3\x1fa"),  # a non-ASCII indicator
        plain[:24] + plain[24:28].replace(b"0", b" ", 1) + plain[28:],  # a blank in the directory
    ]
    read = 0
    for data in samples:
        fast = marc.files._read_plain_utf8(data)
        reference = _pymarc_read(data)
        if fast is not None:
            read += 1
            assert _shape(fast) == _shape(reference)
        try:
            assert _shape(marc.read_one(data)) == _shape(reference)
        except marc.MarcError:
            assert marc.validate(reference) if reference is not None else True
    assert read >= 5


def test_xml_text_is_what_lxml_writes():
    records = _tricky_records()
    odd = pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"), subfields=[pymarc.Subfield("a", "x")])
    for indicators in (pymarc.Indicators(1, "0"), pymarc.Indicators(True, "0"), pymarc.Indicators(None, "")):
        field = pymarc.Field(tag="245", indicators=pymarc.Indicators("1", "0"), subfields=[pymarc.Subfield("a", "x")])
        field._indicators = indicators  # as a caller could have set them
        records.append(pymarc.Record(fields=[odd, field]))
    records.append(pymarc.Record(fields=[pymarc.Field(tag="245", subfields=[pymarc.Subfield("a", None),  # type: ignore[arg-type]
                                                                           pymarc.Subfield("", "no code"),
                                                                           pymarc.Subfield("&", "amp code")])]))
    written = 0
    for record in records:
        text = xmltext.marcxml_text(record)
        expected = etree.tostring(marc.record_to_element(record), encoding="utf-8")
        if text is not None:
            written += 1
            assert text.encode("utf-8") == expected
        assert marc.record_to_xml(record) == expected
    assert written >= len(records) - 1  # all but the one with a control character


def _reference_fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    text = normalize._NON_SORTING.sub("", text).translate(normalize._FOLD)
    decomposed = unicodedata.normalize("NFKD", text).casefold().translate(normalize._DIACRITICS)
    return unicodedata.normalize("NFC", decomposed)


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_fold_matches_its_reference(text):
    assert normalize.fold(text) == _reference_fold(text)


def test_fold_classes_are_the_translation_tables():
    """Every code point: the diacritics deleted by substitution are those translate deleted, and
    the letters that trigger translation are the table's."""
    every = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)
    assert normalize._DIACRITIC.sub("", every) == every.translate(normalize._DIACRITICS)
    assert normalize._FOLD_LETTERS.findall(every) == [chr(cp) for cp in sorted(normalize._FOLD)]
    assert normalize.fold(every[:0x3000]) == _reference_fold(every[:0x3000])
