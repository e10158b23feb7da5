"""The import's worker-side fast paths (``kohaweb.loading.prepare``) give exactly what their
straightforward reference gives, on the tricky cases: interleaved namespaces, repeated words,
keys past 65,536 distinct ones, ASCII and non-ASCII text, odd characters in records."""

from __future__ import annotations

import random
import zlib
from itertools import chain

import numpy as np
import pytest

from kohaweb.search import normalize, writer
from kohaweb.search.indexer import Entry
from kohaweb.search.postings import BLOCK_BITS, POSITION_BITS

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
    """One row per key in key order, built key by key from the records in number order."""
    base = block << BLOCK_BITS
    docs: dict[tuple, list[int]] = {}
    occurrences: dict[tuple, list[int]] = {}
    for number in sorted(entries):
        for key, positions in entries[number].terms.items():
            docs.setdefault(key, []).append(number - base)
            occurrences.setdefault(key, []).extend(((number - base) << POSITION_BITS) | p for p in positions or ())
    return [(key, len(docs[key]), np.asarray(docs[key], dtype="<u2").tobytes(),
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
                entry.terms[(idx, term)] = None
            else:
                entry.terms[(idx, term)] = sorted(rng.sample(range(0, 65000), rng.randrange(1, 4)))
        entries[number] = entry
    return entries


@pytest.mark.parametrize("vocabulary", [5, 300, 100_000])
def test_new_record_rows_match_their_reference(vocabulary):
    rng = random.Random(vocabulary)
    block = 3
    numbers = sorted(rng.sample(range(block << BLOCK_BITS, (block + 1) << BLOCK_BITS), 400))
    entries = _random_entries(rng, numbers, vocabulary)
    entries[numbers[0]].terms.clear()  # a record with no key at all
    expected = _reference_packed(block, entries)
    assert writer._packed(block, entries) == expected
    rows = writer.new_record_rows(entries)
    assert list(rows) == [block]
    assert rows[block].postings == [(key[0], key[1], block, n, docs, positions)
                                    for key, n, docs, positions in expected]
    assert writer.new_record_rows({}) == {}
    assert writer._packed(block, {numbers[0]: Entry()}) == []


def test_packed_keys_beyond_16_bits():
    """More than 65,536 distinct keys: the order of their ranks takes both 16-bit passes."""
    entries = {}
    for number in range(1, 401):
        entry = Entry()
        for i in range(180):
            entry.terms[("any", f"t{(number * 7919 + i * 104729) % 90_000:05d}")] = [i]
        entry.terms[("title=", f"p{number}")] = None
        entries[number] = entry
    assert len({key for e in entries.values() for key in e.terms}) > 1 << 16
    assert writer._packed(0, entries) == _reference_packed(0, entries)


def test_stable_order_is_numpy_stable_argsort():
    rng = np.random.default_rng(5)
    for high in (3, 70_000, 1 << 31):
        ranks = rng.integers(0, high, 5000)
        assert (writer._stable_order(ranks) == np.argsort(ranks, kind="stable")).all()


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
