"""Text normalisation shared by indexing and querying, so both sides always agree.

Words are Unicode-decomposed (NFKD), case-folded and stripped of combining marks ("Récifs" and
"recifs" are the same word), split on punctuation, and CJK ideographs/kana/hangul become one word
per character (phrases of them are matched by position). Identifiers (ISBN, ISSN, barcodes) are
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
_CJK = "\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
_QUERY_WORD = re.compile(f"[{_CJK}]|(?:[^\\W_{_CJK}]|[{MASKS}])+")


def fold(text: str) -> str:
    """Case-fold and remove diacritics (the comparison form of any text)."""
    if text.isascii():  # nothing to decompose or translate: the common case, made cheap
        return text.lower()
    text = _NON_SORTING.sub("", text).translate(_FOLD)
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The index words of a text, in order."""
    return list(_words(text))


@functools.lru_cache(maxsize=65536)  # headings, subjects and places repeat across records
def _words(text: str) -> tuple[str, ...]:
    return tuple(w[:MAX_TERM] for w in _WORD.findall(fold(text)))


def query_words(text: str) -> list[str]:
    """Words of a query term; masking sentinels stay inside the words they belong to."""
    return [w[:MAX_TERM] for w in _QUERY_WORD.findall(fold(text))]


def phrase(text: str) -> str:
    """The comparison form of a whole field value (for exact and anchored searches)."""
    # no trailing space after the cut: MariaDB's PAD SPACE collations would ignore it, others not
    return " ".join(words(text))[:MAX_PHRASE].rstrip()


def query_phrase(text: str) -> str:
    return " ".join(query_words(text))[:MAX_PHRASE].rstrip()


def identifier(text: str) -> str | None:
    """The first identifier-like word, without hyphens or spaces inside it ("0-19-852663-6 (pbk.)"
    -> "0198526636"; "1234-567X" -> "1234567x")."""
    match = re.search(f"[0-9A-Za-z{MASKS}][0-9A-Za-z{MASKS}\\- ]*", fold(text))
    if not match:
        return None
    token = re.split(r"\s(?![0-9\-])", match.group(0).strip())[0]
    token = re.sub(r"[\s\-]", "", token)
    return token[:MAX_TERM] or None


def isbn_forms(text: str) -> list[str]:
    """ISBN-13 and, for 978 ISBNs, ISBN-10 forms of an ISBN written either way; otherwise the
    plain identifier form."""
    token = identifier(text)
    if token is None:
        return []
    digits = token.upper()
    if re.fullmatch(r"[0-9]{9}[0-9X]", digits):
        thirteen = _isbn13("978" + digits[:9])
        return [thirteen, digits.lower()]
    if re.fullmatch(r"97[89][0-9]{10}", digits):
        forms = [digits]
        if digits.startswith("978"):
            forms.append(_isbn10(digits[3:12]).lower())
        return forms
    return [token]


def _isbn13(first12: str) -> str:
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
    return [int(y) for y in re.findall(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)", text or "")]
