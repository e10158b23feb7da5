"""``normalize.text_words``'s ASCII path (a byte table and ``split`` instead of the word pattern)
gives exactly the words of the general path, on every ASCII character."""

from __future__ import annotations

import random

import pytest

from kohaweb.search import normalize

EVERY_ASCII = "".join(map(chr, range(128)))


def _reference(text: str) -> tuple[str, ...]:
    """The words as the pattern finds them in the folded text (what searches and indexing did)."""
    found = normalize._word_patterns()[0].findall(normalize.fold(text))
    return tuple(w[:normalize.MAX_TERM] for w in found)


@pytest.mark.parametrize("text", [
    "", " ", "\x00", EVERY_ASCII, EVERY_ASCII[::-1], "Coral reefs / by J. Smith ; 2nd ed.",
    "snake_case and__under_scores_", "x_1 A1B2 c3-d4", "tab\tnew\nline\rcr\x0bvt\x0cff\x1cfs\x1dgs\x1e\x1f",
    "MiXeD CaSe 123abc ZZ", "@[`{", "a" * 101, "b" * 150 + " short " + "C" * 100, "x" * 99 + "-" + "y" * 101,
])
def test_ascii_words_are_the_patterns(text):
    assert text.isascii()
    assert normalize.text_words(text) == _reference(text)
    assert normalize.word_tuple(text) == _reference(text)
    assert normalize.words(text) == list(_reference(text))


def test_random_ascii_texts():
    rng = random.Random(14)
    for _ in range(3000):
        text = "".join(rng.choice(EVERY_ASCII) for _ in range(rng.randrange(0, 140)))
        assert normalize.text_words(text) == _reference(text)


def test_non_ascii_texts_take_the_general_path():
    for text in ("Récifs CORALLIENS", "東京 abc", "Θάλασσα_x", "naïve" + "é" * 120):
        assert normalize.text_words(text) == _reference(text)
