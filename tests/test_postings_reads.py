"""Reading posting lists in one piece: rows that only add records (what imports write, one
segment per batch) are decoded together; any other rows are folded row by row. Both must give
what the fold gives, for records, occurrences, ranges and phrases."""

from __future__ import annotations

import numpy as np
import pymarc
from sqlalchemy import select

from kohaweb import search
from kohaweb.search import Clause, indexer, posting_folds, posting_format, postings, tables

EDGE = posting_format.BLOCK


def _entry(title: str, year: int = 1999):
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field(tag="008", data=f"240101s{year}    xx            000 0 eng d"))
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", title)]))
    record.add_field(pymarc.Field(tag="260", indicators=pymarc.Indicators(" ", " "),
                                  subfields=[pymarc.Subfield("c", str(year))]))
    return indexer.entry_for(record, "MARC21", [])


def _folded(session, idx: str, term: str) -> tuple[np.ndarray, np.ndarray]:
    """The row-by-row fold, the reference."""
    p = tables.postings
    query = select(p.c.term, p.c.block, p.c.docs, p.c.positions, p.c.dels).where(
        p.c.idx == idx, p.c.term == term).order_by(p.c.block, p.c.seg)
    rows = session.execute(query).all()
    docs = [posting_folds.fold_docs([(r[2], r[4]) for r in group]) + (block << posting_format.BLOCK_BITS)
            for block, group in _by_block(rows)]
    keys = [posting_folds.fold_keys([(r[2], r[3], r[4]) for r in group]) + (block << (posting_format.BLOCK_BITS + posting_format.POSITION_BITS))
            for block, group in _by_block(rows)]
    return (np.concatenate(docs) if docs else posting_format.EMPTY), (np.concatenate(keys) if keys else posting_format.EMPTY)


def _by_block(rows):
    blocks: dict[int, list] = {}
    for row in rows:
        blocks.setdefault(row[1], []).append(row)
    return sorted(blocks.items())


def _rows(session, term: str) -> list:
    p = tables.postings
    return session.execute(select(p.c.term, p.c.block, p.c.docs, p.c.positions, p.c.dels).where(
        p.c.idx == "title", p.c.term == term).order_by(p.c.block, p.c.seg)).all()


def _segments(session, idx: str, term: str) -> int:
    p = tables.postings
    return len(session.execute(select(p.c.seg).where(p.c.idx == idx, p.c.term == term)).all())


def test_rows_that_only_add_records_read_as_their_fold(dbsession):
    numbers = [1, 2, 40, EDGE - 1, EDGE, EDGE + 7, 2 * EDGE + 3, 2 * EDGE + 4]
    years = {}
    for start in range(0, len(numbers), 2):  # one transaction per pair: a segment each, numbers ascending
        batch = numbers[start:start + 2]
        for n in batch:
            years[n] = 1990 + n % 7
        indexer.apply(dbsession, {n: _entry(f"coral reef coral {n}", years[n]) for n in batch})
        dbsession.commit()
    assert _segments(dbsession, "title", "coral") >= 4  # several rows, none removing anything
    assert posting_folds._appended_rows(_rows(dbsession, "coral")) is not None  # read in one piece
    docs, keys = postings.docs_and_keys(dbsession, "title", ["coral"])
    want_docs, want_keys = _folded(dbsession, "title", "coral")
    assert docs.tolist() == want_docs.tolist() == numbers
    together, _ = postings.docs_and_keys_of(dbsession, [("title", "coral"), ("title", "reef"), ("any", "absent")])
    assert together["title", "coral"][0].tolist() == numbers and together["title", "coral"][1].tolist() == keys.tolist()
    assert together["title", "reef"][1].tolist() == postings.keys(dbsession, "title", ["reef"]).tolist()
    assert len(together["any", "absent"][0]) == len(together["any", "absent"][1]) == 0
    assert keys.tolist() == want_keys.tolist() == postings.keys(dbsession, "title", ["coral"]).tolist()
    assert postings.docs(dbsession, "title", ["coral", "reef"]).tolist() == numbers
    low, high = posting_format.number_term(1991), posting_format.number_term(1994)
    term = tables.postings.c.term
    _, ranged = postings.docs_where(dbsession, posting_format.number_space("date"), term >= low, term <= high)
    assert ranged.tolist() == sorted(n for n, y in years.items() if 1991 <= y <= 1994)
    found = search.search(dbsession, Clause("title", "=", "reef coral"), limit=100, rank=True).ids
    assert sorted(found) == numbers


def test_blocks_of_one_row_beside_edited_blocks_read_as_their_fold(dbsession):
    # one row per block for most blocks, several rows (with removals) in the edited ones: runs of
    # one-row blocks are decoded in one piece, the others folded; the answer is the fold's
    numbers = [1, 3, EDGE + 1, 2 * EDGE + 1, 2 * EDGE + 5, 3 * EDGE + 2, 4 * EDGE + 1, 5 * EDGE + 9]
    indexer.apply(dbsession, {n: _entry(f"coral coral reef {n}") for n in numbers})
    dbsession.commit()
    indexer.apply(dbsession, {2 * EDGE + 1: _entry("reef only"), 4 * EDGE + 1: _entry("reef coral again")})
    dbsession.commit()
    rows = _rows(dbsession, "coral")
    blocks = [row[1] for row in rows]
    assert {blocks.count(b) for b in set(blocks)} == {1, 2}  # lone rows and edited blocks
    assert posting_folds._appended_rows(rows) is None
    want_docs, want_keys = _folded(dbsession, "title", "coral")
    assert want_docs.tolist() == [n for n in numbers if n != 2 * EDGE + 1]
    docs, keys = postings.docs_and_keys(dbsession, "title", ["coral"])
    assert docs.tolist() == want_docs.tolist() and keys.tolist() == want_keys.tolist()
    together, _ = postings.docs_and_keys_of(dbsession, [("title", "coral"), ("title", "reef")])
    assert together["title", "coral"][0].tolist() == want_docs.tolist()
    assert together["title", "coral"][1].tolist() == want_keys.tolist()
    assert together["title", "reef"][0].tolist() == numbers
    ranked = search.search(dbsession, Clause("title", "=", "coral"), limit=3, rank=True).ids
    assert ranked == [1, 3, EDGE + 1]  # "coral" twice in each, ties by record number
    assert search.search(dbsession, Clause("title", "=", "coral"), limit=100).total == len(numbers) - 1


def test_a_record_set_again_without_removals_is_folded(dbsession):
    indexer.apply(dbsession, {5: _entry("coral reef"), 6: _entry("coral lagoon")})
    dbsession.commit()
    indexer.apply(dbsession, {7: _entry("coral atoll")})
    dbsession.commit()
    # the same words in another order: record 5 is set again for "coral" and "reef", nothing removed
    indexer.apply(dbsession, {5: _entry("reef coral")})
    dbsession.commit()
    p = tables.postings
    rows = dbsession.execute(select(p.c.dels).where(p.c.idx == "title", p.c.term == "coral")).all()
    assert len(rows) == 3 and not any(row[0] for row in rows)
    assert posting_folds._appended_rows(_rows(dbsession, "coral")) is None  # 5 comes again: folded
    docs, keys = postings.docs_and_keys(dbsession, "title", ["coral"])
    want_docs, want_keys = _folded(dbsession, "title", "coral")
    assert docs.tolist() == want_docs.tolist() == [5, 6, 7]
    together = postings.docs_and_keys_of(dbsession, [("title", "coral")])[0]["title", "coral"]
    assert together[0].tolist() == [5, 6, 7] and together[1].tolist() == want_keys.tolist()
    assert keys.tolist() == want_keys.tolist() == postings.keys(dbsession, "title", ["coral"]).tolist()
    assert postings.docs(dbsession, "title", ["coral"]).tolist() == [5, 6, 7]
    assert search.search(dbsession, Clause("title", "=", "reef coral"), limit=10).ids == [5]
    assert search.search(dbsession, Clause("title", "=", "coral reef"), limit=10).ids == []


def test_removals_are_applied_when_rows_are_read_together(dbsession):
    indexer.apply(dbsession, {5: _entry("coral reef", 1995), 6: _entry("coral lagoon", 1996)})
    dbsession.commit()
    indexer.apply(dbsession, {7: _entry("coral atoll", 1997)})
    dbsession.commit()
    indexer.apply(dbsession, {6: _entry("lagoon", 1998)})  # 6 loses "coral" and 1996
    dbsession.commit()
    assert postings.docs(dbsession, "title", ["coral", "atoll"]).tolist() == [5, 7]
    term = tables.postings.c.term
    _, ranged = postings.docs_where(dbsession, posting_format.number_space("date"),
                                    term >= posting_format.number_term(1995), term <= posting_format.number_term(1997))
    assert ranged.tolist() == [5, 7]


def test_masked_words_are_narrowed_by_the_database_then_matched_exactly(dbsession):
    from kohaweb.search import MASK_ANY, MASK_ONE
    from kohaweb.search.query import _like

    titles = {1: "history", 2: "prehistory", 3: "story", 4: "histories", 5: "mystery", 6: "storeys"}
    indexer.apply(dbsession, {n: _entry(t) for n, t in titles.items()})
    dbsession.commit()

    def ids(word: str) -> list[int]:
        return search.search(dbsession, Clause("title", "=", word), limit=10).ids

    assert ids(f"{MASK_ANY}story") == [1, 2, 3]  # left truncation: no prefix, LIKE '%story'
    assert ids(f"{MASK_ANY}st{MASK_ONE}ry") == [1, 2, 3, 5]
    assert ids(f"{MASK_ANY}stor{MASK_ANY}") == [1, 2, 3, 4, 6]
    assert ids(f"h{MASK_ONE}stor{MASK_ANY}") == [1, 4]
    # LIKE's own wildcards and the escape character stand for themselves
    assert _like(f"a%b_c\\{MASK_ANY}d{MASK_ONE}") == "a\\%b\\_c\\\\%d_"


def test_left_truncation_reads_the_reversed_terms_every_write_path_lists(dbsession):
    from kohaweb.search import MASK_ANY, MASK_ONE, vocabulary
    from kohaweb.search.writer import append_new, new_record_rows

    indexer.apply(dbsession, {1: _entry("ballistics"), 2: _entry("statistics")}, fresh=True)  # whole new block
    indexer.apply(dbsession, {3: _entry("linguistics")})  # a delta
    append_new(dbsession, new_record_rows({EDGE + 1: _entry("logistics"), EDGE + 2: _entry("mystics")}))  # import
    dbsession.commit()
    indexer.apply(dbsession, {1: _entry("ballistics forensics")})  # an edit gives record 1 a new term
    indexer.apply(dbsession, {2: _entry("economics")})  # record 2 loses its only "…istics"
    dbsession.commit()

    def ids(word: str) -> list[int]:
        return search.search(dbsession, Clause("title", "=", word), limit=10).ids

    def listed() -> set[tuple[str, str]]:
        v = tables.reversed_terms
        return {tuple(row) for row in dbsession.execute(select(v.c.idx, v.c.term_reversed))}

    assert ids(f"{MASK_ANY}istics") == [1, 3, EDGE + 1]
    assert ids(f"{MASK_ANY}ics") == [1, 2, 3, EDGE + 1, EDGE + 2]
    assert ids(f"{MASK_ANY}ensics") == [1]
    assert ids(f"{MASK_ONE}ystics") == [EDGE + 2]
    assert ids(f"l{MASK_ANY}istics") == [3, EDGE + 1]  # a longer ending than beginning: read reversed too
    assert ids(f"{MASK_ANY}ist{MASK_ANY}") == [1, 3, EDGE + 1]  # no literal end: the whole list, by LIKE
    # only word indexes are listed, each term once, written backwards; a term whose records are
    # gone stays listed (it finds nothing)
    before = listed()
    assert ("title", "scitsitats") in before and ("any", "scisnerof") in before and ("date", "9991") not in before
    assert not [key for key in before if not vocabulary.listed(key[0])]
    assert len({k for k in before if k[0] == "title"}) == 7

    # the list is what the search reads: emptied, nothing ends so; filled from the postings (an
    # index built before the list existed), the same answers
    dbsession.execute(tables.reversed_terms.delete())
    assert ids(f"{MASK_ANY}istics") == []
    assert vocabulary.fill(dbsession.connection(), batch=3) == len(before)
    assert listed() == before
    assert ids(f"{MASK_ANY}istics") == [1, 3, EDGE + 1]


def test_record_number_lookups_read_only_their_blocks_and_answer_exactly(dbsession):
    numbers = [3, EDGE - 1, EDGE, 2 * EDGE + 1, 3 * EDGE + 9]
    indexer.apply(dbsession, {n: _entry(f"coral {n}") for n in numbers})
    dbsession.commit()

    def ids(relation: str, term: str) -> list[int]:
        return search.search(dbsession, Clause("recid", relation, term), limit=10).ids

    assert ids("=", str(EDGE)) == [EDGE]
    assert ids("=", str(EDGE + 1)) == []
    assert ids("<", str(EDGE)) == [3, EDGE - 1]
    assert ids(">=", str(EDGE)) == [EDGE, 2 * EDGE + 1, 3 * EDGE + 9]
    assert ids("within", f"{EDGE - 1} {2 * EDGE + 1}") == [EDGE - 1, EDGE, 2 * EDGE + 1]


def test_rows_with_removals_read_together_as_their_fold(dbsession):
    import random

    rng = random.Random(11)
    words = ["coral", "reef", "atoll", "lagoon"]
    numbers = [1, 2, 3, 4, EDGE - 2, EDGE - 1, EDGE, EDGE + 1, 2 * EDGE + 3]
    model: dict[int, tuple[str, int]] = {}
    for _ in range(14):  # a segment per transaction: adds, edits that drop words, deletions
        changes = {}
        for number in rng.sample(numbers, 4):
            if number in model and rng.random() < 0.3:
                model.pop(number)
                changes[number] = None
            else:
                model[number] = (" ".join(rng.sample(words, rng.randint(1, 3))), 1990 + rng.randint(0, 5))
                changes[number] = _entry(*model[number])
        indexer.apply(dbsession, changes)
        dbsession.commit()
        for pair in (["coral"], ["coral", "reef"], words):
            want = sorted(n for n, (title, _) in model.items() if set(pair) & set(title.split()))
            assert postings.docs(dbsession, "title", pair).tolist() == want, pair
        # several pairs and the index's size in one statement (on MariaDB its rows come unordered
        # and are put in block and segment order after the read): as each pair read alone
        pairs = [("title", "coral"), ("any", "reef"), ("title", "atoll"), ("any", "lagoon")]
        with_keys, size = postings.docs_and_keys_of(dbsession, pairs, sized=True)
        only_docs, same_size = postings.docs_of(dbsession, pairs, sized=True)
        assert size == same_size == postings.size(dbsession) == len(model)
        for idx, word in pairs:
            docs, keys = postings.docs_and_keys(dbsession, idx, [word])
            assert with_keys[idx, word][0].tolist() == docs.tolist() == only_docs[idx, word].tolist()
            assert with_keys[idx, word][1].tolist() == keys.tolist()
            assert docs.tolist() == sorted(n for n, (title, _) in model.items() if word in title.split())
        term = tables.postings.c.term
        _, ranged = postings.docs_where(dbsession, posting_format.number_space("date"),
                                        term >= posting_format.number_term(1991), term <= posting_format.number_term(1993))
        assert ranged.tolist() == sorted(n for n, (_, year) in model.items() if 1991 <= year <= 1993)
    assert dbsession.execute(select(tables.postings.c.dels).where(tables.postings.c.dels.is_not(None))).first()


def test_a_batch_run_lists_again_what_a_rolled_back_savepoint_listed(dbsession):
    """The import's protocol (kohaweb.commands.records._store): a batch skips the terms of the
    run's last committed batch; what a rolled-back savepoint listed is not taken as listed."""
    from kohaweb.search import MASK_ANY, vocabulary
    from kohaweb.search.writer import append_new, new_record_rows

    run = vocabulary.BatchRun()
    dbsession.info[vocabulary.RUN] = run

    def batch(number: int, title: str) -> None:
        append_new(dbsession, new_record_rows({number: _entry(title)}))

    batch(1, "ballistics")
    dbsession.commit()
    run.committed()
    savepoint = dbsession.begin_nested()
    batch(2, "forensics")  # listed, then rolled back with its savepoint
    savepoint.rollback()
    run.rolled_back()
    batch(3, "ballistics")  # not listed again: batch 1 did
    dbsession.commit()
    run.committed()
    batch(4, "forensics")
    dbsession.commit()
    run.committed()
    del dbsession.info[vocabulary.RUN]

    def ids(word: str) -> list[int]:
        return search.search(dbsession, Clause("title", "=", word), limit=10).ids

    assert ids(f"{MASK_ANY}ensics") == [4]
    assert ids(f"{MASK_ANY}istics") == [1, 3]


def test_a_read_left_unordered_is_put_in_block_and_segment_order(dbsession, monkeypatch):
    """MariaDB's read of several pairs with the index's size has no ORDER BY (it would sort a
    temporary table for it): the rows are put in order after the read, whatever order they came
    in. Here every database takes MariaDB's form, and the rows come back reversed."""
    for number, title in enumerate(["coral reef", "coral lagoon", "reef atoll", "coral atoll"], start=1):
        indexer.apply(dbsession, {number: _entry(title), EDGE + number: _entry(title)})  # two blocks
        dbsession.commit()  # a segment each
    indexer.apply(dbsession, {2: _entry("lagoon")})  # 2 loses "coral": a removal in a later segment
    dbsession.commit()
    pairs = [("title", "coral"), ("any", "reef"), ("title", "atoll")]
    separately = {pair: postings.docs_and_keys(dbsession, pair[0], [pair[1]]) for pair in pairs}
    assert separately["title", "coral"][0].tolist() == [1, 4, EDGE + 1, EDGE + 2, EDGE + 4]
    read = postings.read_rows
    monkeypatch.setattr(postings, "ranges_in_one_select", lambda session: True)
    monkeypatch.setattr(postings, "read_rows", lambda *args: read(*args)[::-1])
    together, size = postings.docs_and_keys_of(dbsession, pairs, sized=True)
    assert size == 8
    for pair in pairs:
        assert together[pair][0].tolist() == separately[pair][0].tolist(), pair
        assert together[pair][1].tolist() == separately[pair][1].tolist(), pair
