"""The term list stored for a record is the same bytes in every process (hash randomisation)."""

from __future__ import annotations

import subprocess
import sys

_PROGRAM = """
import hashlib, pymarc
from kohaweb.search.indexer import entry_for
from kohaweb.search.writer import encode_terms
record = pymarc.Record()
record.add_field(pymarc.Field(tag="001", data="rec-42"))
for isbn in ("9780306406157", "0-306-40615-2", "9781566199094", "1566199093", "9780140449136"):
    record.add_field(pymarc.Field(tag="020", indicators=[" ", " "], subfields=[pymarc.Subfield("a", isbn)]))
record.add_field(pymarc.Field(tag="022", indicators=[" ", " "], subfields=[pymarc.Subfield("a", "0378-5955")]))
record.add_field(pymarc.Field(tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", "Coral reefs")]))
items = [{"barcode": b, "itype": "BK", "homebranch": "CPL"} for b in ("39999000001", "39999000002", "A-17")]
print(hashlib.sha256(encode_terms(entry_for(record, "MARC21", items).terms)).hexdigest())
"""


def _stored_bytes(seed: str) -> str:
    done = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=120,
                          env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_stored_term_list_does_not_depend_on_the_hash_seed():
    assert len({_stored_bytes(seed) for seed in ("1", "2", "3", "4")}) == 1
