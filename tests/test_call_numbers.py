"""Call number sort keys as Koha's C4::ClassSortRoutine (Dewey, LCC with Library::CallNumber::LC
0.23, Generic) computes them; each expected key was worked out by hand from those rules, and the
data layer stores them as Koha's Item->store does."""

from __future__ import annotations

import pytest

from kohaweb.call_numbers import call_number_sort_key
from kohaweb.models import Item


@pytest.mark.parametrize(("source", "callnumber", "key"), [
    # Dewey: prefix set apart, decimals right-padded to 15 digits, a lone number gets a zero group
    ("ddc", "823.914 ABC", "823_914000000000000_ABC"),
    ("ddc", "823 ABC", "823_000000000000000_ABC"),
    ("ddc", "Fic 823.9 Smi", "FIC_823_900000000000000_SMI"),
    ("ddc", "823 ABC 1999", "823_000000000000000_ABC_1999"),  # second number not next to the first
    ("ddc", "005.133/PYT", "005_133000000000000_PYT"),  # a slash separates like a space
    # LCC: class number padded to 4 digits, cutters, the rest with numbers padded to 5 digits
    ("lcc", "A 123.4 .c11", "A01234 C11"),
    ("lcc", "B11 .c13 .d11", "B0011 C13 D11"),
    ("lcc", "QA76.73 .P98 2001", "QA007673 P98  02001"),
    ("lcc", "HF5726 .B27 1980", "HF5726 B27  01980"),
    ("lcc", "DVD-ROM PN1997 .G63 2004", "PN1997 G63  02004"),
    ("lcc", "823.914 ABC", ""),  # not an LC call number: Koha stores an empty key
    # Generic: other sources, an unknown one, or none
    ("z", "j Fic  Smi", "J_FIC_SMI"),
    ("udc", "R 973.2 / Bro", "R_9732__BRO"),
    ("nosuchsource", "R 973.2 / Bro", "R_9732__BRO"),
    (None, "823.914 ABC", "823914_ABC"),
    ("ddc", None, ""),
])
def test_sort_keys_follow_kohas_rules(source, callnumber, key):
    assert call_number_sort_key(source, callnumber) == key


def test_keys_file_in_shelf_order():
    """What the keys are for: 823.9 files before 823.914 and 823.914 before 824."""
    shelf = ["823 ABC", "823.9 ABC", "823.914 ABC", "824 ABC"]
    assert sorted(shelf[::-1], key=lambda cn: call_number_sort_key("ddc", cn)) == shelf


def test_keys_are_cut_to_the_column():
    assert len(call_number_sort_key("z", "A" * 300)) == 255


def test_data_layer_stores_the_key(catalog, dbsession, sample_records):
    (biblio_id,) = sample_records(1)
    item = catalog.add_item(biblio_id, homebranch="CPL", itype="BK", itemcallnumber="823.914 ABC", cn_source="ddc",
                            cn_sort="ignored")
    assert item.cn_sort == "823_914000000000000_ABC"
    catalog.update_item(item.itemnumber, cn_sort="KEPT")  # neither number nor source changed
    assert item.cn_sort == "KEPT"
    catalog.update_item(item.itemnumber, cn_source="lcc")  # the source changes: the key is made again
    assert item.cn_sort == ""
    catalog.update_item(item.itemnumber, itemcallnumber="B11 .c13 .d11", cn_sort="ignored")
    dbsession.commit()
    dbsession.expunge_all()
    assert dbsession.get(Item, item.itemnumber).cn_sort == "B0011 C13 D11"
    plain = catalog.add_item(biblio_id, homebranch="CPL", itype="BK", cn_sort="given")
    assert plain.cn_sort == "given"  # no call number and no source: nothing to compute
