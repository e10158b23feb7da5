"""Word variants for CQL's relation modifiers ``stem``, ``fuzzy`` and ``phonetic`` (Koha's
pqf.properties maps them to Zebra's bib-1 attributes 2=101, 5=103 and 2=100).

Each looks up the index's own term dictionary (a B-tree range of terms on (index, term)) and
keeps the terms that match the query word:

- ``stem``: the same Snowball stem (snowballstemmer, English as Koha's default QueryStemming
  language) — "running" finds "run", "runs", "running";
- ``fuzzy``: at most one edit (insertion, deletion, substitution or transposition of two
  letters; Damerau-Levenshtein from jellyfish) for words of up to five letters, two for longer
  ones; the first letter is kept, so only that letter's terms are read;
- ``phonetic``: the same Metaphone code (jellyfish) among the terms beginning with the same letter.

Words that are not Latin letters (Devanagari, Arabic, CJK...) have no English stem or Metaphone
code: they then match themselves only, never a neighbour.
"""

from __future__ import annotations

import functools

from sqlalchemy.orm import Session

from . import postings, tables

MATCHERS = {"stem": "stem", "fuzzy": "fuzzy", "phonetic": "phonetic"}
MAX_CANDIDATES = 200_000  # terms read for one word at most (a guard on huge dictionaries)


@functools.lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def stem(word: str) -> str:
    """The Snowball (English) stem of a folded word."""
    return _stemmer().stemWord(word)


def _latin(word: str) -> bool:
    return word.isascii() and word.isalpha()


def fuzzy_distance(word: str) -> int:
    """Edits allowed for a word: one up to five letters, two beyond."""
    return 1 if len(word) <= 5 else 2


def _candidates(session: Session, idx: str, prefix: str) -> list[str]:
    term = tables.postings.c.term
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return postings.vocabulary(session, idx, term >= prefix, term < end)[:MAX_CANDIDATES]


def matching_terms(session: Session, idx: str, word: str, modifiers: frozenset[str]) -> list[str]:
    """``word`` and the index terms that match it under every one of the modifiers given."""
    import jellyfish

    if not word or not _latin(word):
        return [word]
    wanted = [name for name in ("stem", "fuzzy", "phonetic") if name in modifiers]
    if "stem" in wanted:
        root = stem(word)
        # a Snowball stem may end differently from the word ("happy" -> "happi"): read the terms
        # sharing all but its last letter
        prefix = root[:-1] if len(root) > 3 else root
    else:
        prefix = word[0]
    found = [word]
    code = jellyfish.metaphone(word) if "phonetic" in wanted else None
    limit = fuzzy_distance(word)
    for term in _candidates(session, idx, prefix):
        if term == word:
            continue
        if "stem" in wanted and (not _latin(term) or stem(term) != root):
            continue
        if "fuzzy" in wanted and (abs(len(term) - len(word)) > limit
                                  or jellyfish.damerau_levenshtein_distance(term, word) > limit):
            continue
        if code is not None and (not _latin(term) or jellyfish.metaphone(term) != code):
            continue
        found.append(term)
    return found


__all__ = ["MATCHERS", "fuzzy_distance", "matching_terms", "stem"]
