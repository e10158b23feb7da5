"""bench/realistic.py: records recombined from ../shared/data parse, are unique, carry valid ISBNs,
keep several languages, and load with `kohaweb import`."""

from __future__ import annotations

import io
import os
import sys
from collections import Counter
from pathlib import Path

import pymarc
import pytest
from sqlalchemy import func, select

from kohaweb.models import Biblio, Item
from kohaweb.testing import selected_backend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import realistic  # noqa: E402

database_independent = pytest.mark.skipif(selected_backend() != "sqlite",
                                          reason="no database involved: runs once, under SQLite")


@pytest.fixture(scope="module")
def collections_folder() -> Path:
    if not realistic.available("MARC21") or not realistic.available("UNIMARC"):
        reason = f"real collections not found under {realistic.DEFAULT_DATA}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (required under CI)", pytrace=False)
        pytest.skip(reason)
    return realistic.DEFAULT_DATA


def isbn13_valid(text: str) -> bool:
    """The ISBN-13 check (weights 1,3,1,3...), written out here as the test's own oracle."""
    if len(text) != 13 or not text.isdigit() or not text.startswith("978"):
        return False
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(text)) % 10 == 0


def generate(tmp_path: Path, flavour: str, count: int, seed: int = 1, fmt: str = "iso2709") -> Path:
    path = tmp_path / f"{flavour}-{seed}.{fmt}"
    realistic.write(path, count, flavour=flavour, fmt=fmt, seed=seed)
    return path


@database_independent
def test_marc21_records_parse_unique_with_valid_isbns_and_many_languages(collections_folder, tmp_path):
    path = generate(tmp_path, "MARC21", 200)
    with open(path, "rb") as fh:
        records = list(pymarc.MARCReader(fh, to_unicode=True, force_utf8=False))
    assert len(records) == 200 and all(r is not None for r in records)
    assert len({r["001"].data for r in records}) == 200
    assert all(r.leader[6] not in "zuvxy" for r in records)
    isbns = [f["a"] for r in records for f in r.get_fields("020") if f.get("a")]
    assert len(isbns) > 20  # about half the real MARC21 records have ISBNs
    assert len(set(isbns)) == len(isbns)
    assert all(isbn13_valid(i) for i in isbns), [i for i in isbns if not isbn13_valid(i)]
    languages = Counter(f.data[35:38] for r in records for f in r.get_fields("008"))
    assert len(languages) >= 4 and languages.most_common(1)[0][1] < 200 * 0.9
    assert all(r.get_fields("245") for r in records)
    # biblionumber-free: the import assigns one
    assert not any(r.get_fields("999") for r in records)
    items = [f for r in records for f in r.get_fields("952")]
    assert items and {f["a"] for f in items} <= {"CPL", "FFL", "MPL", "FPL"}


@database_independent
def test_marcxml_and_iso2709_carry_the_same_records_and_seeds_repeat(collections_folder, tmp_path):
    xml = pymarc.parse_xml_to_array(str(generate(tmp_path, "MARC21", 50, seed=4, fmt="marcxml")))
    with open(generate(tmp_path, "MARC21", 50, seed=4), "rb") as fh:
        iso = list(pymarc.MARCReader(fh, to_unicode=True, force_utf8=False))
    assert [r.as_dict()["fields"] for r in xml] == [r.as_dict()["fields"] for r in iso]
    again = generate(tmp_path / "again", "MARC21", 50, seed=4)
    assert again.read_bytes() == (tmp_path / "MARC21-4.iso2709").read_bytes()
    other = generate(tmp_path, "MARC21", 50, seed=5).read_bytes()
    assert other != again.read_bytes()


@database_independent
def test_values_are_recombined_not_copied(collections_folder):
    """Titles mix subfields of several real records: many generated titles are not real ones."""
    source = realistic.load_source("MARC21")
    real = {tuple(sf) for s in source.skeletons for tag, _, _, sf in s.fields if tag == "245"}
    generated = [tuple(sf) for r in realistic.Generator(source, 2).records(300)
                 for tag, _, _, sf in r.fields if tag == "245"]
    assert sum(t not in real for t in generated) > len(generated) / 4


@database_independent
def test_bulk_loaders_marcxml_is_the_core_serialisation(collections_folder):
    """bench_oai's fast_load stores record_xml's text as kohaweb.marc.record_to_xml would."""
    from kohaweb.marc import record_to_xml

    for flavour in ("MARC21", "UNIMARC"):
        for generated in realistic.generated_records(100, flavour=flavour, seed=6):
            assert generated.marcxml == record_to_xml(generated.record).decode("utf-8")


@database_independent
def test_unimarc_records_parse_with_languages_from_101(collections_folder, tmp_path):
    records = pymarc.parse_xml_to_array(io.BytesIO(generate(tmp_path, "UNIMARC", 200, fmt="marcxml").read_bytes()))
    assert len(records) == 200 and len({r["001"].data for r in records}) == 200
    assert all(r.get_fields("200") for r in records)
    languages = {f["a"] for r in records for f in r.get_fields("101") if f.get("a")}
    assert len(languages) >= 3
    isbns = [f["a"] for r in records for f in r.get_fields("010") if f.get("a")]
    assert all(isbn13_valid(i) for i in isbns)


def test_kohaweb_import_accepts_the_records_and_items(collections_folder, tmp_path, reference_data, run_cli,
                                                      dbsession):
    path = generate(tmp_path, "MARC21", 60, seed=3)
    with open(path, "rb") as fh:
        expected_items = sum(len(r.get_fields("952")) for r in pymarc.MARCReader(fh, to_unicode=True))
    status, out, err = run_cli("import", "--batch-size", "25", str(path))
    assert status == 0, err
    assert dbsession.scalar(select(func.count()).select_from(Biblio)) == 60
    assert dbsession.scalar(select(func.count()).select_from(Item)) == expected_items > 0
