"""Text normalisation shared by indexing and querying, so both sides always agree.

Words are Unicode-decomposed (NFKD), case-folded and stripped of *diacritics* ("Récifs" and
"recifs" are the same word; Greek tonos, Hebrew points and Arabic harakat go too), then recomposed
(NFC) and split on punctuation. The vowel signs, viramas and tone marks of Indic, Thai and other
scripts are letters of their words, not accents: they are kept inside the word ("पुस्तक" stays
one word, unlike Zebra's default character map, which drops them and splits it). Han ideographs
and kana become one word per character (phrases of them are matched by position; the voicing
marks of kana stay on their syllable); Hangul, Arabic, Hebrew, Cyrillic, Greek words are whole
words between spaces. Scripts written without spaces between words (Thai, Lao, Khmer, Burmese)
give one word per space-separated run. Identifiers (ISBN, ISSN, barcodes) are
kept whole without hyphens; ISBNs are stored as both ISBN-10 and ISBN-13.

Masking characters of a query (``*`` and ``?``) travel through the same functions as private-use
sentinels, so a masked query word is normalised exactly like the indexed words.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MASK_ANY = "\ue000"  # CQL '*'
MASK_ONE = "\ue001"  # CQL '?'
MASKS = MASK_ANY + MASK_ONE

MAX_TERM = 100  # characters kept of one word (fits a portable index key on all databases)
MAX_PHRASE = 190  # characters kept of a whole field value

# Letters that NFKD does not decompose but readers expect to fold.
_FOLD = str.maketrans({"ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "ı": "i",
                       "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ð": "d"})
# Non-sorting markers (C1 NSB/NSE and their Unicode forms) found in real MARC records.
_NON_SORTING = re.compile("[\x88\x89\x98\x9c]")
_CJK = "\u2e80-\u2fff\u3040-\u3098\u309b-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Combining marks that are diacritics (removed by folding): the combining diacritical blocks
# (Latin, Greek, Cyrillic accents; MARC's double-tilde and ligature halves), Hebrew points and
# cantillation, Arabic harakat and Quranic marks. Every other mark belongs to its letter.
_DIACRITICS = dict.fromkeys(
    [*range(0x0300, 0x0370), *range(0x1AB0, 0x1B00), *range(0x1DC0, 0x1E00), *range(0x20D0, 0x2100),
     *range(0xFE20, 0xFE30), *range(0x0591, 0x05BE), 0x05BF, 0x05C1, 0x05C2, 0x05C4, 0x05C5, 0x05C7,
     *range(0x0610, 0x061B), *range(0x064B, 0x0660), 0x0670, *range(0x06D6, 0x06DD), *range(0x06DF, 0x06E5),
     0x06E7, 0x06E8, *range(0x06EA, 0x06EE)])


@functools.cache
def _marks() -> str:
    """A regular-expression class body of every combining mark (Unicode category M) that is not a
    diacritic: the letters' own signs, kept inside words."""
    import sys

    ranges: list[list[int]] = []
    for cp in range(0x0300, 0x20000 if sys.maxunicode > 0xFFFF else 0x10000):
        if unicodedata.category(chr(cp))[0] == "M" and cp not in _DIACRITICS:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


@functools.cache
def _word_patterns() -> tuple[re.Pattern, re.Pattern]:
    marks = _marks()
    return (re.compile(f"[{_CJK}]|(?:[^\\W_{_CJK}]|[{marks}])+"),
            re.compile(f"[{_CJK}]|(?:[^\\W_{_CJK}]|[{marks}{MASKS}])+"))


# ``_FOLD``'s letters and ``_DIACRITICS`` as character classes: str.translate with a dict looks
# every character up (about 3 us for a 70-character title, twice), a regular expression tests
# a bitmap; the text is translated only when it holds one of those letters, and the diacritics
# are deleted by substitution (the same characters translate deletes).
_FOLD_LETTERS = re.compile("[" + "".join(map(chr, _FOLD)) + "]")
_DIACRITIC = re.compile("[" + "".join(f"\\u{cp:04x}" for cp in _DIACRITICS) + "]")


def fold(text: str) -> str:
    """Case-fold and remove diacritics (the comparison form of any text)."""
    if text.isascii():  # nothing to decompose or translate: the common case, made cheap
        return text.lower()
    text = _NON_SORTING.sub("", text)
    if _FOLD_LETTERS.search(text) is not None:
        text = text.translate(_FOLD)
    decomposed = _DIACRITIC.sub("", unicodedata.normalize("NFKD", text).casefold())
    return unicodedata.normalize("NFC", decomposed)


def words(text: str) -> list[str]:
    """The index words of a text, in order."""
    return list(word_tuple(text))


# The words of an ASCII text (after folding nearly all of them): there the word pattern matches
# exactly these characters (no CJK, no combining mark, "_" excluded), and this class is tested
# per character several times faster than the word pattern's, whose class of combining marks
# holds hundreds of ranges (the indexer's costliest step before it).
_ASCII_WORD = re.compile("[0-9A-Za-z]+")


# The same for an ASCII text, without a regular expression: every byte but a digit or a letter
# becomes a blank and capitals become small letters (what ``fold`` does to ASCII), and the
# words are what ``split`` leaves (only blanks are left between them). About half the cost of
# lowering the text and finding ``_ASCII_WORD`` in it, for nine texts out of ten.
_ASCII_WORD_BYTES = bytes(c + 32 if 0x41 <= c <= 0x5A else c if 0x30 <= c <= 0x39 or 0x61 <= c <= 0x7A else 0x20
                          for c in range(256))


def text_words(text: str) -> tuple[str, ...]:
    """``words`` as a tuple; ``word_tuple`` is this function cached, what callers use."""
    if text.isascii():
        found = text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii").split()
        size = len(text)
    else:
        folded = fold(text)
        found = (_ASCII_WORD if folded.isascii() else _word_patterns()[0]).findall(folded)
        size = len(folded)
    if size > MAX_TERM and any(len(w) > MAX_TERM for w in found):  # only a long text has a long word
        return tuple(w[:MAX_TERM] for w in found)
    return tuple(found)


# ``text_words`` cached: headings, subjects and places repeat across records (searches' words too)
word_tuple = functools.lru_cache(maxsize=65536)(text_words)


_words = word_tuple


def query_words(text: str) -> list[str]:
    """Words of a query term; masking sentinels stay inside the words they belong to."""
    return [w[:MAX_TERM] for w in _word_patterns()[1].findall(fold(text))]


def phrase(text: str) -> str:
    """The comparison form of a whole field value (for exact and anchored searches)."""
    # no trailing space after the cut: MariaDB's PAD SPACE collations would ignore it, others not
    return " ".join(words(text))[:MAX_PHRASE].rstrip()


def query_phrase(text: str) -> str:
    return " ".join(query_words(text))[:MAX_PHRASE].rstrip()


# compiled once: identifiers, ISBNs and years are read for every record an import indexes
_IDENTIFIER = re.compile(f"[0-9A-Za-z{MASKS}][0-9A-Za-z{MASKS}\\- ]*")
_IDENTIFIER_END = re.compile(r"\s(?![0-9\-])")
_IDENTIFIER_GAPS = re.compile(r"[\s\-]")
_ISBN10 = re.compile(r"[0-9]{9}[0-9X]")
_ISBN13 = re.compile(r"97[89][0-9]{10}")
_YEARS = re.compile(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)")


def identifier(text: str) -> str | None:
    """The first identifier-like word, without hyphens or spaces inside it ("0-19-852663-6 (pbk.)"
    -> "0198526636"; "1234-567X" -> "1234567x")."""
    match = _IDENTIFIER.search(fold(text))
    if not match:
        return None
    token = _IDENTIFIER_END.split(match.group(0).strip())[0]
    token = _IDENTIFIER_GAPS.sub("", token)
    return token[:MAX_TERM] or None


def isbn_forms(text: str) -> list[str]:
    """ISBN-13 and, for 978 ISBNs, ISBN-10 forms of an ISBN written either way; otherwise the
    plain identifier form."""
    token = identifier(text)
    if token is None:
        return []
    digits = token.upper()
    if _ISBN10.fullmatch(digits):
        thirteen = isbn13("978" + digits[:9])
        return [thirteen, digits.lower()]
    if _ISBN13.fullmatch(digits):
        forms = [digits]
        if digits.startswith("978"):
            forms.append(_isbn10(digits[3:12]).lower())
        return forms
    return [token]


def isbn13(first12: str) -> str:
    """The ISBN-13 whose first twelve digits are ``first12`` (its check digit appended): the one
    check-digit routine of the code base (the index, the sample and benchmark generators)."""
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def _isbn10(first9: str) -> str:
    total = sum(int(d) * (10 - i) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return first9 + ("X" if check == 10 else str(check))


def sort_key(text: str | None) -> str | None:
    """The sort form of a heading: folded words joined by single spaces."""
    if not text:
        return None
    key = " ".join(words(text))[:MAX_TERM].rstrip()
    return key or None


def years(text: str) -> list[int]:
    """Four-digit years (1000-2099) in a date statement ("c1999, 2003 printing" -> [1999, 2003])."""
    return [int(y) for y in _YEARS.findall(text or "")]
