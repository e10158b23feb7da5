"""Realistic benchmark catalogues: new records recombined from the real records of ../shared/data.

Each synthetic record takes a real bibliographic record as its skeleton (its leader, 006/007/008
and field structure, so record shapes, material types and languages keep their real proportions)
and draws every descriptive subfield value from the pool of that subfield's values in the real
records *of the same language* (008/35-37 in MARC21, 101$a in UNIMARC). Drawing with
replacement from the multiset of real occurrences keeps each field's value and term frequencies
(their Zipf shape); drawing subfield by subfield (and surname and forename separately) makes new
titles, headings and phrases, as a large catalogue has. Words that occur once in the real
records (their long tail) are now and then replaced by new words made of two of them, at a rate
falling as 1/sqrt(records made), so the vocabulary keeps growing as real catalogues do (Heaps'
law with exponent 0.5) instead of stopping at the real records' vocabulary.

Every record gets a unique 001 (003 ``KWREAL``) and unique valid ISBN-13s where its skeleton has
ISBNs, the 008 (MARC21) or 100$a (UNIMARC) date of its drawn publication date, an item type
(942$c / 099$t) and 0-3 items with the libraries and item types of ``kohaweb.sampledata``'s
reference data, and no biblionumber (999$c / 001 of Koha): an import assigns one. Output is
deterministic for a seed and streamed, so a 1M-record file is written in constant memory.

    .venv/bin/python bench/realistic.py --records 100000 --out var/bench/real-100k.mrc
    .venv/bin/python bench/realistic.py --records 1000 --format marcxml --flavour UNIMARC --seed 2

This is bench code: the real records are not shipped. Benches fall back to
``kohaweb.sampledata`` (with a warning) when the data are absent, or take ``--data PATH``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

GENERATOR_VERSION = 1  # part of the cache key: bump when the output of a seed changes
REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("KOHAWEB_SHARED", REPO.parent / "shared")) / "data"
COLLECTIONS = {"MARC21": "marc21-collection.xml", "UNIMARC": "unimarc-collection.xml"}
SLIM = "{http://www.loc.gov/MARC21/slim}"
NOT_BIBLIOGRAPHIC = set("zuvxy")  # leader/06 of authority and holdings records
ORG_CODE = "KWREAL"

# Fields not copied from the skeletons: identifiers of the source records and their local
# (9XX) and holdings data; 001/003/005 are made anew, items are made from the reference data.
DROPPED = {"MARC21": {"001", "003", "005", "852", "853", "854", "855", "863", "864", "865", "866", "867",
                      "868", "876", "877", "878", "887"},
           "UNIMARC": {"001", "003", "005", "801", "802"}}
# Coded fields kept as the skeleton has them (they describe the skeleton's language and material).
KEPT = {"MARC21": {"040", "041", "042", "043", "044", "066", "336", "337", "338", "546"},
        "UNIMARC": {"100", "101", "102", "105", "106", "110", "115", "116", "117", "120", "121", "123",
                    "124", "125", "126", "127", "128", "130", "135", "140", "181", "182", "183"}}
# Identifier fields whose digits are renumbered per record (they are unique in real catalogues).
RENUMBERED = {"MARC21": {"010", "015", "016", "017", "035"}, "UNIMARC": {"035"}}
ISBN_FIELD = {"MARC21": "020", "UNIMARC": "010"}
TITLE_FIELD = {"MARC21": "245", "UNIMARC": "200"}
ITEM_TYPE_FIELD = {"MARC21": ("942", "c"), "UNIMARC": ("099", "t")}
PERSONAL_NAMES = {"MARC21": {"100", "600", "700", "800"}, "UNIMARC": {"600", "700", "701", "702"}}
DATE_SUBFIELDS = {"MARC21": {("260", "c"), ("264", "c")}, "UNIMARC": {("210", "d"), ("214", "d")}}
_HAPAX_WORD = re.compile(r"[^\W\d_]{4,}")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20[0-2]\d)(?!\d)")
_LANGUAGE = re.compile(r"[a-z]{3}")
_LONG_NUMBER = re.compile(r"\d{4,}")


@dataclass
class Skeleton:
    """One real record: leader, control fields, data fields (tag, ind1, ind2, [(code, value)])."""

    leader: str
    language: str
    controls: list[tuple[str, str]]
    fields: list[tuple[str, str, str, list[tuple[str, str]]]]


@dataclass
class Source:
    """The real records of one flavour, as skeletons and per-language value pools."""

    flavour: str
    skeletons: list[Skeleton]
    pools: dict[str, dict[tuple[str, str], list[str]]]  # language -> (slot, code) -> values
    rare_spans: dict[str, list[tuple[int, int]]]  # value -> spans of its once-only words
    rare_words: dict[int, list[str]]  # script (code point // 128 of the first letter) -> words
    path: Path = field(default=Path())


@dataclass
class Record:
    """A generated record; ``items`` are item dicts with the columns of ``kohaweb.catalog``."""

    leader: str
    controls: list[tuple[str, str]]
    fields: list[tuple[str, str, str, list[tuple[str, str]]]]
    items: list[dict]

    def to_pymarc(self, with_items: bool = False):
        """The record as a ``pymarc.Record`` (items embedded as 952/995 when asked)."""
        import pymarc

        record = pymarc.Record(force_utf8=True)
        record.leader = pymarc.Leader(self.leader)  # as it is: Record() would end a UNIMARC leader in 4500
        for tag, data in self.controls:
            record.add_field(pymarc.Field(tag=tag, data=data))
        for tag, ind1, ind2, subfields in self.fields:
            record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(ind1, ind2),
                                          subfields=[pymarc.Subfield(c, v) for c, v in subfields]))
        return record


def data_path(flavour: str, data: str | os.PathLike | None = None) -> Path:
    """The collection file of a flavour under ``data`` (default ../shared/data or $KOHAWEB_SHARED/data)."""
    return Path(data or DEFAULT_DATA) / COLLECTIONS[flavour]


def available(flavour: str = "MARC21", data: str | os.PathLike | None = None) -> bool:
    return data_path(flavour, data).is_file()


def _slot(tag: str, subfields: list[tuple[str, str]]) -> str:
    """The pool a field draws from: its tag, or for 880 the tag it is linked to ($6)."""
    if tag == "880":
        for code, value in subfields:
            if code == "6":
                return "880-" + value[:3]
    return tag


def _language(flavour: str, controls: list[tuple[str, str]], fields) -> str:
    if flavour == "MARC21":
        for tag, data in controls:
            if tag == "008":
                code = data[35:38].lower()
                return code if _LANGUAGE.fullmatch(code) else "und"
        return "und"
    for tag, _, _, subfields in fields:
        if tag == "101":
            for code, value in subfields:
                if code == "a":
                    value = value.strip().lower()[:3]
                    return value if _LANGUAGE.fullmatch(value) else "und"
    return "und"


def read_skeletons(path: Path, flavour: str) -> Iterator[Skeleton]:
    """The bibliographic records of a collection file (authority and holdings records, and records
    without a title field, skipped)."""
    from lxml import etree

    for _, el in etree.iterparse(str(path), tag=SLIM + "record", huge_tree=True):
        leader = (el.findtext(SLIM + "leader") or "").ljust(24)[:24]
        if leader[6] in NOT_BIBLIOGRAPHIC:
            el.clear()
            continue
        controls, fields = [], []
        for child in el:
            tag = child.get("tag")
            if child.tag == SLIM + "controlfield" and tag not in DROPPED[flavour]:
                controls.append((tag, child.text or ""))
            elif child.tag == SLIM + "datafield" and tag not in DROPPED[flavour] and not tag.startswith("9"):
                subfields = [(sf.get("code"), sf.text or "") for sf in child]
                subfields = [(c, v) for c, v in subfields if c and v]
                if subfields:
                    fields.append((tag, child.get("ind1") or " ", child.get("ind2") or " ", subfields))
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
        if any(tag == TITLE_FIELD[flavour] for tag, _, _, _ in fields):  # a few real ones have no title
            yield Skeleton(leader, _language(flavour, controls, fields), controls, fields)


def load_source(flavour: str = "MARC21", data: str | os.PathLike | None = None) -> Source:
    """Skeletons and per-language pools of the real records of a flavour."""
    path = data_path(flavour, data)
    skeletons = list(read_skeletons(path, flavour))
    pools: dict[str, dict[tuple[str, str], list[str]]] = collections.defaultdict(
        lambda: collections.defaultdict(list))
    counts: collections.Counter[str] = collections.Counter()
    names = PERSONAL_NAMES[flavour]
    for skeleton in skeletons:
        pool = pools[skeleton.language]
        for tag, _, _, subfields in skeleton.fields:
            slot = _slot(tag, subfields)
            for code, value in subfields:
                if code.isdigit():
                    continue
                if tag in names and code == "a" and ", " in value:
                    surname, forename = value.split(", ", 1)
                    pool[("surname", "a")].append(surname)
                    pool[("forename", "a")].append(forename)
                pool[(slot, code)].append(value)
                counts.update(set(_HAPAX_WORD.findall(value)))
    rare = {w for w, c in counts.items() if c == 1}
    rare_spans: dict[str, list[tuple[int, int]]] = {}
    rare_words: dict[int, list[str]] = collections.defaultdict(list)
    for pool in pools.values():
        for values in pool.values():
            for value in values:
                spans = [m.span() for m in _HAPAX_WORD.finditer(value) if m.group() in rare]
                if spans:
                    rare_spans[value] = spans
    for word in sorted(rare):
        rare_words[ord(word[0]) // 128].append(word)
    return Source(flavour, skeletons, {k: dict(v) for k, v in pools.items()}, rare_spans, dict(rare_words), path)


def isbn13(serial: int, seed: int) -> str:
    """A unique, valid ISBN-13 for a serial number (978 and a bijection of a 9-digit body, with the
    check digit of ``kohaweb.search.normalize.isbn13``)."""
    from kohaweb.search.normalize import isbn13 as with_check_digit

    body = (serial * 387_420_489 + seed * 7_919) % 1_000_000_000  # 3**18 is prime to 10**9
    return with_check_digit(f"978{body:09d}")


def item_type(leader: str) -> str:
    """The sample reference data's item type for a record type (leader/06-07)."""
    kind, level = leader[6], leader[7]
    if kind == "g":
        return "DVD"
    if kind in "ijcd":
        return "MU"
    if kind == "m":
        return "CF"
    return "SER" if level == "s" else "BK"


class Generator:
    """Streams recombined records; the same (source, seed) always gives the same records."""

    def __init__(self, source: Source, seed: int = 1):
        from kohaweb.sampledata import LIBRARIES

        self.source, self.seed = source, seed
        self.flavour = source.flavour
        self.rng = random.Random(seed)
        self._random = self.rng.random
        self.libraries = [code for code, _ in LIBRARIES]
        self.isbn_serial = 0
        self._dates = DATE_SUBFIELDS[self.flavour]
        self._names = PERSONAL_NAMES[self.flavour]

    def records(self, count: int, start: int = 1) -> Iterator[Record]:
        for number in range(start, start + count):
            yield self.record(number)

    def _draw(self, values: list[str], number: int) -> str:
        value = values[int(self._random() * len(values))]  # rng.choice, at a third of its cost
        spans = self.source.rare_spans.get(value)
        # Heaps' law: new words at the real records' rate at first, then falling as 1/sqrt(n)
        if spans and self._random() < math.sqrt(len(self.source.skeletons) / max(number, 1)):
            value = self._mint(value, spans)
        return value

    def _mint(self, value: str, spans: list[tuple[int, int]]) -> str:
        out, last = [], 0
        for begin, end in spans:
            word = value[begin:end]
            other = self.rng.choice(self.source.rare_words.get(ord(word[0]) // 128) or [word])
            cut = max(2, len(word) // 2)
            out.append(value[last:begin] + word[:cut] + other[max(1, len(other) // 2):])
            last = end
        return "".join(out) + value[last:]

    def record(self, number: int) -> Record:
        rng, flavour = self.rng, self.flavour
        skeleton = rng.choice(self.source.skeletons)
        pools = self.source.pools[skeleton.language]
        fields = []
        year = None
        isbn_tag, (type_tag, type_code) = ISBN_FIELD[flavour], ITEM_TYPE_FIELD[flavour]
        for tag, ind1, ind2, subfields in skeleton.fields:
            if tag == type_tag:
                continue
            if tag in KEPT[flavour]:
                fields.append((tag, ind1, ind2, subfields))
                continue
            slot = _slot(tag, subfields)
            drawn = []
            for code, value in subfields:
                if code.isdigit():
                    drawn.append((code, value))
                    continue
                if tag == isbn_tag and code == "a":
                    self.isbn_serial += 1
                    value = isbn13(self.isbn_serial, self.seed)
                elif tag in self._names and code == "a" and ", " in value:
                    value = f"{self._draw(pools[('surname', 'a')], number)}, {self._draw(pools[('forename', 'a')], 0)}"
                else:
                    value = self._draw(pools[(slot, code)], number)
                    if tag in RENUMBERED[flavour]:
                        value = _LONG_NUMBER.sub(lambda m: f"{number:0{len(m.group())}d}"[-len(m.group()):], value,
                                                 count=1)
                    elif (tag, code) in self._dates and year is None:
                        found = _YEAR.search(value)
                        year = found.group() if found else None
                drawn.append((code, value))
            fields.append((tag, ind1, ind2, drawn))
        itype = item_type(skeleton.leader)
        fields.append((type_tag, " ", " ", [(type_code, itype)]))
        controls = [("001", f"kwr{self.seed:02d}{number:010d}"), ("003", ORG_CODE),
                    ("005", "20240101120000.0")]
        for tag, data in skeleton.controls:
            if tag == "008" and year and len(data) >= 11:
                data = data[:7] + year + data[11:]
            controls.append((tag, data))
        if flavour == "UNIMARC" and year:
            fields = [(t, i1, i2, [(c, v[:9] + year + v[13:] if c == "a" and len(v) >= 13 else v)
                                   for c, v in sf]) if t == "100" else (t, i1, i2, sf)
                      for t, i1, i2, sf in fields]
        fields.sort(key=lambda f: f[0])  # stable: the skeleton's order within a tag
        return Record(_leader(skeleton.leader, flavour), controls, fields, self._items(number, itype))

    def _items(self, number: int, itype: str) -> list[dict]:
        """0-3 items, as ``kohaweb.sampledata`` makes them (its libraries and item types)."""
        rng = self.rng
        items = []
        for copy in range(rng.choices((0, 1, 2, 3), (10, 55, 25, 10))[0]):
            home = rng.choice(self.libraries)
            items.append({
                "barcode": f"5{self.seed:02d}{number:09d}{copy}", "homebranch": home, "holdingbranch": home,
                "itype": itype, "itemcallnumber": f"{rng.randint(0, 999):03d}.{rng.randint(1, 99)}",
                "location": rng.choice(("GEN", "REF", "CHILD", "STACKS")), "copynumber": str(copy + 1),
                "dateaccessioned": dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 3000)),
                "price": round(rng.uniform(5, 80), 2), "notforloan": 1 if rng.random() < 0.03 else 0,
                "itemlost": 1 if rng.random() < 0.01 else 0, "withdrawn": 0, "damaged": 0,
            })
        return items


def _leader(leader: str, flavour: str) -> str:
    """Structural positions as a UTF-8 record of the flavour has them (lengths set when written).
    UNIMARC leaves leader/09 undefined; it is ``a`` here too so that ISO 2709 readers
    (pymarc) decode the records as UTF-8."""
    tail = "4500" if flavour == "MARC21" else "450 "
    return "00000" + leader[5:9] + "a22" + "00000" + leader[17:20] + tail


# --- writers --------------------------------------------------------------------------------------

_ITEM_LAYOUT: dict[str, tuple[str, list[tuple[str, str]]]] = {}


def item_layout(flavour: str) -> tuple[str, list[tuple[str, str]]]:
    """The item field's tag and its (column, subfield code) pairs in the order
    ``kohaweb.marc.embed_items`` writes them, learnt once from it (Koha's item mapping)."""
    if flavour not in _ITEM_LAYOUT:
        import pymarc

        from kohaweb.marc import ITEM_SUBFIELDS, embed_items

        tag, mapping = ITEM_SUBFIELDS[flavour]
        (probe,) = embed_items(pymarc.Record(), flavour, [{column: "x" for column in mapping}]).fields
        column_of = {code: column for column, code in mapping.items()}
        _ITEM_LAYOUT[flavour] = (tag, [(column_of[s.code], s.code) for s in probe.subfields])
    return _ITEM_LAYOUT[flavour]


def item_fields(flavour: str, items: list[dict]) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """Items as 952/995 fields, as ``kohaweb.marc.embed_items`` makes them."""
    tag, layout = item_layout(flavour)
    fields = []
    for item in items:
        subfields = []
        for column, code in layout:
            value = item.get(column)
            if value is None or value == "":
                continue
            if hasattr(value, "isoformat"):
                value = value.isoformat()[:10] if column != "datelastseen" else value.isoformat()
            subfields.append((code, str(value)))
        fields.append((tag, " ", " ", subfields))
    return fields


def iso2709(record: Record, extra=()) -> bytes:
    """One record in ISO 2709 (UTF-8); a field too long for the directory is left out."""
    directory, body, offset = [], [], 0
    chunks = [(tag, data.encode("utf-8") + b"\x1e") for tag, data in record.controls]
    for tag, ind1, ind2, subfields in [*record.fields, *extra]:
        data = "".join(f"\x1f{code}{value}" for code, value in subfields)
        chunks.append((tag, f"{ind1}{ind2}{data}\x1e".encode()))
    for tag, chunk in chunks:
        if len(chunk) > 9999 or offset + len(chunk) > 90000:
            continue
        directory.append(f"{tag}{len(chunk):04d}{offset:05d}")
        body.append(chunk)
        offset += len(chunk)
    base = 24 + 12 * len(directory) + 1
    leader = f"{base + offset + 1:05d}{record.leader[5:12]}{base:05d}{record.leader[17:]}"
    return (leader + "".join(directory) + "\x1e").encode("ascii") + b"".join(body) + b"\x1d"


def marcxml(record: Record, extra=()) -> str:
    """One record as a MARCXML <record> (namespaced by the enclosing collection). The values come
    from the collections, which hold no XML-illegal characters, so only escaping is needed."""
    out = [f"<record><leader>{record.leader}</leader>"]
    for tag, data in record.controls:
        out.append(f'<controlfield tag="{tag}">{escape(data)}</controlfield>')
    for tag, ind1, ind2, subfields in [*record.fields, *extra]:
        out.append(f'<datafield tag="{tag}" ind1={quoteattr(ind1)} ind2={quoteattr(ind2)}>')
        for code, value in subfields:
            out.append(f'<subfield code={quoteattr(code)}>{escape(value)}</subfield>')
        out.append("</datafield>")
    out.append("</record>\n")
    return "".join(out)


@dataclass
class Generated:
    """A generated record as ``kohaweb.sampledata.GeneratedRecord`` has it (pymarc record, items),
    plus its MARCXML as ``kohaweb.marc.record_to_xml`` writes it (made without lxml, for bulk loaders)."""

    record: object  # pymarc.Record
    items: list[dict]
    marcxml: str


def generated_records(count: int, *, flavour: str = "MARC21", seed: int = 1,
                      data: str | os.PathLike | None = None) -> Iterator[Generated]:
    """``count`` records for loaders that store records directly (``Catalog.add_records``)."""
    for record in Generator(load_source(flavour, data), seed).records(count):
        yield Generated(record.to_pymarc(), record.items, record_xml(record))


def record_xml(record: Record) -> str:
    """One namespaced MARCXML <record>, the same text as ``kohaweb.marc.record_to_xml`` gives."""
    return marcxml(record).replace("<record>", f'<record xmlns="{SLIM[1:-1]}">', 1).rstrip("\n")


def write(path: str | os.PathLike, records: int, *, flavour: str = "MARC21", fmt: str = "iso2709", seed: int = 1,
          data: str | os.PathLike | None = None, progress: bool = False) -> float:
    """Write ``records`` generated records (items embedded) to ``path``; returns records/s.
    The file is written under a temporary name and renamed when complete."""
    source = load_source(flavour, data)
    generator = Generator(source, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    started = last = time.perf_counter()
    with open(partial, "wb", buffering=1 << 20) as out:
        if fmt == "marcxml":
            out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="http://www.loc.gov/MARC21/slim">\n')
        for n, record in enumerate(generator.records(records), start=1):
            extra = item_fields(flavour, record.items) if record.items else ()
            out.write(iso2709(record, extra) if fmt == "iso2709" else marcxml(record, extra).encode("utf-8"))
            if progress and time.perf_counter() - last > 10:
                last = time.perf_counter()
                print(f"realistic: {n:,} records ({n / (last - started):,.0f}/s)", file=sys.stderr, flush=True)
        if fmt == "marcxml":
            out.write(b"</collection>\n")
    os.replace(partial, path)
    return records / (time.perf_counter() - started)


def cache_key(records: int, flavour: str, fmt: str, seed: int, data: str | os.PathLike | None = None) -> str:
    """What a cached file depends on: parameters, generator version and the source file."""
    source = data_path(flavour, data)
    stat = source.stat()
    raw = json.dumps([GENERATOR_VERSION, records, flavour, fmt, seed, str(source), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha1(raw.encode()).hexdigest()[:10]


def cached_file(records: int, *, flavour: str = "MARC21", fmt: str = "iso2709", seed: int = 1,
                data: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                workdir: str | os.PathLike = REPO / "var" / "bench", force: bool = False) -> Path:
    """A generated file for these parameters, written once and reused (var/bench/ by default):
    ``out`` is reused when its ``.params`` stamp matches, otherwise (re)written."""
    key = cache_key(records, flavour, fmt, seed, data)
    ext = "mrc" if fmt == "iso2709" else "xml"
    path = Path(out) if out else Path(workdir) / f"real-{flavour.lower()}-{records}-s{seed}-{key}.{ext}"
    stamp = path.with_name(path.name + ".params")
    if not force and path.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return path
    rate = write(path, records, flavour=flavour, fmt=fmt, seed=seed, data=data, progress=True)
    stamp.write_text(key + "\n")
    print(f"realistic: wrote {records:,} {flavour} records to {path} ({rate:,.0f} records/s)", file=sys.stderr,
          flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--out", help="output file (default: cached under var/bench/ by parameters)")
    parser.add_argument("--format", default="iso2709", choices=("iso2709", "marcxml"))
    parser.add_argument("--flavour", default="MARC21", choices=("MARC21", "UNIMARC"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", help=f"folder of the real collections (default {DEFAULT_DATA})")
    parser.add_argument("--force", action="store_true", help="write even when a cached file matches")
    args = parser.parse_args(argv)
    if not available(args.flavour, args.data):
        print(f"realistic: {data_path(args.flavour, args.data)} not found (give --data)", file=sys.stderr)
        return 2
    path = cached_file(args.records, flavour=args.flavour, fmt=args.format, seed=args.seed, data=args.data,
                       out=args.out, force=args.force)
    print(path)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
