"""Reading files of records: ISO 2709 and MARCXML, whole (``read_records``) or cut into raw
records for worker processes to parse (``read_raw_records``, ``read_one``), with the checks a
record must pass before it is stored (``validate``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import IO

import pymarc
from lxml import etree

from .records import MARC_NS, MarcError, element_to_record


@dataclass
class ReadResult:
    """One record read from a file: its 1-based position and either the record or the error."""

    position: int
    record: pymarc.Record | None
    error: str | None = None



def read_records(source: str | IO[bytes]) -> Iterator[ReadResult]:
    """Every record of an ISO 2709 or MARCXML file, in order; bad records come back as errors
    with their position instead of stopping the read. MARC-8 and UTF-8 are both decoded."""
    stream = open(source, "rb") if isinstance(source, str) else source
    try:
        head = stream.read(512)
        stream.seek(0)
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            yield from _read_marcxml(stream)
        else:
            yield from _read_iso2709(stream)
    finally:
        if isinstance(source, str):
            stream.close()


def _read_iso2709(stream: IO[bytes]) -> Iterator[ReadResult]:
    reader = pymarc.MARCReader(stream, to_unicode=True, force_utf8=False, utf8_handling="replace",
                               permissive=True)
    position = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except Exception as exc:  # pymarc raises for unrecoverable framing; stop there
            position += 1
            yield ReadResult(position, None, f"unreadable data: {exc}")
            return
        position += 1
        if record is None:
            yield ReadResult(position, None, _describe(reader.current_exception))
            continue
        problem = validate(record)
        yield ReadResult(position, None if problem else record, problem)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unreadable record"
    return f"{type(exc).__name__}: {exc}".strip()


def _read_marcxml(stream: IO[bytes]) -> Iterator[ReadResult]:
    position = 0
    try:
        for _, el in etree.iterparse(stream, events=("end",), recover=False, huge_tree=True):
            if not isinstance(el.tag, str) or etree.QName(el).localname != "record":
                continue
            parent = el.getparent()
            if parent is not None and etree.QName(parent).localname not in ("collection",) and \
                    etree.QName(el).namespace != MARC_NS and parent.getparent() is not None:
                continue  # a <record> wrapper of another vocabulary (e.g. OAI), not MARC
            position += 1
            try:
                record = element_to_record(el)
                problem = validate(record)
                yield ReadResult(position, None if problem else record, problem)
            except (MarcError, ValueError) as exc:
                yield ReadResult(position, None, str(exc))
            el.clear(keep_tail=True)
    except etree.XMLSyntaxError as exc:
        yield ReadResult(position + 1, None, f"invalid XML: {exc}")


def validate(record: pymarc.Record) -> str | None:
    """Why ``record`` cannot be stored (a leader that is not 24 characters, a malformed tag or
    subfield code, no fields at all), or None."""
    leader = str(record.leader)
    if len(leader) != 24:
        return f"leader has {len(leader)} characters instead of 24"
    for field in record.fields:
        if not re.fullmatch(r"[0-9A-Za-z]{3}", field.tag or ""):
            return f"invalid tag {field.tag!r}"
        if not field.is_control_field():
            for sub in field.subfields:
                if not sub.code or len(sub.code) != 1:
                    return f"invalid subfield code {sub.code!r} in field {field.tag}"
    if not record.fields:
        return "record has no fields"
    return None


def read_raw_records(source: str | IO[bytes]) -> Iterator[tuple[int, bytes | None, str | None]]:
    """The records of an ISO 2709 or MARCXML file as raw bytes, one record each, in order, with
    their 1-based position: cut out without being parsed (``read_one`` parses them, possibly in
    another process). A piece that cannot be cut out comes back as (position, None, error)."""
    stream = open(source, "rb") if isinstance(source, str) else source
    try:
        head = stream.read(512)
        stream.seek(0)
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            yield from _raw_marcxml(stream)
        else:
            yield from _raw_iso2709(stream)
    finally:
        if isinstance(source, str):
            stream.close()


def _raw_iso2709(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None, str | None]]:
    # cut as pymarc's reader does (by the length in the leader), so that positions and errors
    # are the ones ``read_records`` reports
    position = 0
    while True:
        head = stream.read(5)
        if not head:
            return
        position += 1
        if len(head) < 5 or not head.isdigit() or int(head) < 5:
            yield position, None, f"unreadable data: record length {head!r} is not a number"
            return
        yield position, head + stream.read(int(head) - 5), None


def _raw_marcxml(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None, str | None]]:
    position = 0
    try:
        for _, el in etree.iterparse(stream, events=("end",), tag="{*}record",
                                     recover=False, huge_tree=True):
            parent = el.getparent()
            if parent is not None and etree.QName(parent).localname != "collection" and \
                    etree.QName(el).namespace != MARC_NS and parent.getparent() is not None:
                continue  # a <record> wrapper of another vocabulary, not MARC
            position += 1
            yield position, etree.tostring(el), None
            el.clear(keep_tail=True)
            if parent is not None:  # drop what was read, so memory stays flat on huge files
                while el.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        yield position + 1, None, f"invalid XML: {exc}"


def read_one(data: bytes) -> pymarc.Record:
    """One record from the raw bytes ``read_raw_records`` gives; ``MarcError`` says why not."""
    record = _read_plain_utf8(data)
    if record is not None:
        return record
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        try:
            record = element_to_record(etree.fromstring(data))
        except etree.XMLSyntaxError as exc:
            raise MarcError(f"invalid XML: {exc}") from None
    else:
        results = list(_read_iso2709(io.BytesIO(data)))
        if not results:
            raise MarcError("empty record")
        if results[0].record is None:
            raise MarcError(results[0].error or "unreadable record")
        return results[0].record  # validated by the reader
    problem = validate(record)
    if problem:
        raise MarcError(problem)
    return record


# a directory of well-formed entries (tag, 4-digit length, 5-digit offset): anything else is
# read by pymarc (which says what is wrong with it)
_DIRECTORY = re.compile(r"(?:[0-9A-Za-z]{3}[0-9]{9})+")
_ENTRY = re.compile(r"(...)(....)(.....)")
# pymarc.Field's attributes, which ``_read_plain_utf8`` sets as its constructor does (for the
# 20-odd fields of every imported record: a fifth of the reader's time otherwise); another
# pymarc's Field leaves every record to pymarc's reader
_FIELD_SLOTS = ("tag", "data", "_indicators", "subfields", "__pos", "control_field")
_BARE_FIELDS = getattr(pymarc.Field, "__slots__", None) == _FIELD_SLOTS
_INDICATORS: dict[str, pymarc.Indicators] = {}  # two ASCII characters -> their Indicators


def _read_plain_utf8(data: bytes) -> pymarc.Record | None:
    """An ISO 2709 record in UTF-8 (leader/09 a) without any irregularity, read at a third of
    pymarc's cost into the very record pymarc's reader makes of it (``_read_iso2709``), and valid.
    None for anything else (MARC-8, odd indicators, bad framing, invalid data, MARCXML): the general
    path then reads it and says what is wrong."""
    if len(data) < 26 or data[9] != 0x61 or data[-1] != 0x1D or not data[:5].isdigit() or not _BARE_FIELDS:
        return None
    try:
        leader = data[:24].decode("ascii")
        base = int(data[12:17])
        if int(data[:5]) != len(data) or not 24 < base < len(data):
            return None
        directory = data[24:base - 1].decode("ascii")
        if _DIRECTORY.fullmatch(directory) is None:
            return None
        fields = []
        field = pymarc.Field
        bare = field.__new__
        subfield = pymarc.Subfield
        pairs_of = _INDICATORS
        for tag, length, offset in _ENTRY.findall(directory):
            start = base + int(offset)
            chunk = data[start:start + int(length) - 1]
            if tag < "010" and tag.isdigit():
                text = chunk.decode("utf-8")
                made = bare(field)
                made.tag, made.data, made._indicators, made.subfields, made.control_field = tag, text, None, [], True
                fields.append(made)
                continue
            # decoded whole: the same text as decoding each subfield apart, the separators being
            # ASCII (an invalid sequence ends at one either way); indicators and codes must be
            # ASCII, as pymarc's reader wants them
            subs = chunk.decode("utf-8", "replace").split("\x1f")
            ind = subs[0]
            if len(ind) != 2 or not ind.isascii():  # pymarc warns and repairs: leave that to it
                return None
            indicators = pairs_of.get(ind)
            if indicators is None:  # a few dozen pairs in all: each made once, then shared (a tuple)
                indicators = pairs_of[ind] = pymarc.Indicators(ind[0], ind[1])
            subs = [sub for sub in subs[1:] if sub]
            codes = [sub[0] for sub in subs]
            if not "".join(codes).isascii():
                return None
            # Subfield tuples made by tuple.__new__ (what the named tuple's own __new__ calls)
            pairs = list(map(tuple.__new__, repeat(subfield), zip(codes, [sub[1:] for sub in subs], strict=True)))
            made = bare(field)
            made.tag, made.data, made._indicators, made.subfields, made.control_field = (
                tag, None, indicators, pairs, False)
            fields.append(made)
    except (ValueError, UnicodeDecodeError):
        return None
    record = pymarc.Record()
    record.leader = pymarc.Leader(leader)
    record.fields = fields
    return record


def read_bytes(data: bytes) -> list[ReadResult]:
    return list(read_records(io.BytesIO(data)))
