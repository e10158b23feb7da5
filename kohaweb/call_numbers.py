"""Call number sort keys (an item's ``cn_sort``), computed as Koha's C4::ClassSortRoutine does.

Koha files an item by a key made from its call number (``itemcallnumber``) with the filing rule of
its classification source (``cn_source``): Koha's default sources ``ddc`` (Dewey rule) and ``lcc``
(Library of Congress rule, Library::CallNumber::LC 0.23's normalisation); every other source, and
an item without one, uses the generic rule. Keys are cut to 255 characters, the column's width.
Written from the rules those routines document; the examples in tests/test_call_numbers.py were
worked out from them by hand.
"""

from __future__ import annotations

import re

# Koha's class_sources -> the sort routine of their class_sort_rule (installer's defaults)
_SOURCE_RULES = {"ddc": "dewey", "lcc": "lcc"}
KEY_LENGTH = 255


def call_number_sort_key(cn_source: str | None, callnumber: str | None) -> str:
    """The ``cn_sort`` of an item whose call number is ``callnumber`` in the classification
    source ``cn_source`` (``ddc``, ``lcc``, ...; unknown or missing: the generic rule)."""
    rule = _SOURCE_RULES.get((cn_source or "").strip().lower(), "generic")
    # Koha passes the call number as the "class" part and an empty "item" part, joined by a space
    text = f"{callnumber or ''} ".upper()
    key = {"dewey": dewey_key, "lcc": lcc_key}.get(rule, generic_key)(text)
    return key[:KEY_LENGTH]


def _word_chars(text: str) -> str:
    """Keep letters, digits and underscores (Perl's [^\\p{IsAlnum}_] removed)."""
    return "".join(ch for ch in text if ch.isalpha() or ch.isdecimal() or ch == "_")


def generic_key(text: str) -> str:
    """Generic rule: upper case, trimmed, each run of white space one underscore, then only
    letters, digits and underscores."""
    return _word_chars(re.sub(r"\s+", "_", text.upper().strip()))


def dewey_key(text: str) -> str:
    """Dewey rule: an alphabetic prefix is set apart, the number is split at periods and spaces,
    and the decimal part is right-padded with zeros to 15 digits so that 823.9 files before
    823.914; a number without decimals gets an all-zero decimal group."""
    text = text.upper().strip().replace("/", " ")
    text = re.sub(r"^([^\W\d_]+)", r"\1 ", text)  # a prefix such as "FIC" or "R" stands alone
    tokens = re.split(r"\.|\s+", text)
    while tokens and tokens[-1] == "":
        tokens.pop()  # trailing empty fields are dropped (Perl's split)
    digit_groups = 0
    first = 0
    for index, token in enumerate(tokens):
        if not re.fullmatch(r"\d+", token):
            continue
        digit_groups += 1
        if digit_groups == 1:
            first = index
        elif digit_groups == 2:
            if index - first == 1:
                tokens[index] = token[:15].ljust(15, "0")
            else:
                tokens[first] += "_" + "0" * 15
    if digit_groups == 1:
        tokens[first] += "_" + "0" * 15
    return _word_chars("_".join(tokens))


_LC = re.compile(r"""^
    \s*
    (?:VIDEO-D)?(?:DVD-ROM)?(?:CD-ROM)?(?:TAPE-C)?    # media prefixes, skipped
    \s*
    ([A-Z]{1,3})                                      # class letters
    \s*
    (?:(\d+)(?:\s*?\.\s*?(\d+))?)?                    # class number and its decimals
    \s*
    (\d+[stndrh]*)?                                   # other numbering (1st, 2nd, ...)
    \s*
    (?:(\.)?\s*([A-Z])\s*(\d+|\Z)?)?                  # first cutter
    \s*
    (?:\.?\s*([A-Z])\s*(\d+|\Z)?)?                    # second cutter
    \s*
    (?:\.?\s*([A-Z])\s*(\d+|\Z)?)?                    # third cutter
    (\s+.+?)?                                         # the rest (dates, volumes)
    \s*$""", re.VERBOSE)


def _pad_numbers(text: str) -> str:
    return re.sub(r"\d+", lambda m: m.group(0).zfill(5), text)


def lcc_key(text: str) -> str:
    """Library of Congress rule: class letters, the class number padded to four digits and its
    decimals, then each cutter and the rest (numbers padded to five digits), separated by
    spaces. A call number that does not look like an LC one has an empty key, as in Koha."""
    match = _LC.match(text.upper())
    if match is None:
        return ""
    (alpha, num, dec, other, _c1dot, c1alpha, c1num, c2alpha, c2num, c3alpha, c3num,
     extra) = (g or "" for g in match.groups())
    # Perl's truth: "0" is false, so a class number 0 is left out as Library::CallNumber::LC does
    klass = alpha + (num.zfill(4) if num not in ("", "0") else "") + (dec if dec not in ("", "0") else "")
    extra = extra.lstrip()
    extra = re.sub(r"\.\s+", ".", extra)
    extra = re.sub(r"(\d)\s*-\s*(\d)", r"\1-\2", extra)
    extra = _pad_numbers(extra)
    if extra:
        extra = " " + extra  # the rest files after any cutter
    parts = [klass, _pad_numbers(other), c1alpha + c1num, c2alpha + c2num, c3alpha + c3num, extra]
    return " ".join(part for part in parts if re.search(r"\S", part))
