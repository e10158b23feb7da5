"""The authorities search index, heading links and Koha's merge (issue 18), on the real authority
records of ../shared/data and on UNIMARC authorities built here."""

from __future__ import annotations

import itertools

import pymarc
import pytest

from kohaweb import marc
from kohaweb.authorities import Authorities
from kohaweb.authority_links import link_record, linked_biblionumbers
from kohaweb.catalog import Catalog
from kohaweb.models import Biblio
from kohaweb.search import ANCHOR, MASK_ANY, Boolean, Clause, QueryError, SortKey
from kohaweb.search import authority_index as index

AUTHORITY_FILES = ("evergreen-library-system__Evergreen/auth-subset100.mrc",
                   "lcnetdev__marcauth-to-madsrdf/n2015013824.marcxml.xml",
                   "lcnetdev__marcauth-to-madsrdf/no2021084916.marcxml.xml",
                   "lcnetdev__marcauth-to-madsrdf/sh2001011656.marcxml.xml",
                   "pkiraly__qa-catalogue/authority.sample.xml",
                   "ppuffinburger__marc4k/UTF8_auth_record.mrc")


def field(tag: str, *pairs: str, ind: str = "  ") -> pymarc.Field:
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(ind[0], ind[1]),
                        subfields=[pymarc.Subfield(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)])


def record(leader: str, *fields: pymarc.Field) -> pymarc.Record:
    rec = pymarc.Record(leader=leader)
    for f in fields:
        rec.add_field(f)
    return rec


def unimarc_authority(heading: tuple, see_from: tuple = (), tag: str = "200") -> pymarc.Record:
    rec = record("00000nx  a2200000   450 ", field("100", "a", "20240101afrey50      ba0"), field(tag, *heading))
    for form in see_from:
        rec.add_field(field("4" + tag[1:], *form))
    return rec


@pytest.fixture
def real_authorities(dbsession, shared_data):
    """The authority records of ../shared/data/authority (one file of 1,066 left out: its 103/403/503
    headings are not MARC21 headings), stored through the data layer; returns their authids."""
    store = Authorities(dbsession)
    ids = []
    for name in AUTHORITY_FILES:
        for read in marc.read_records(str(shared_data / "authority" / name)):
            if read.record is not None:
                ids.append(store.add(read.record).authid)
    dbsession.commit()
    return ids


def hits(session, node) -> list[int]:
    return index.search(session, node, limit=1000).ids


def test_every_index_answers_on_real_authorities(dbsession, real_authorities):
    assert len(real_authorities) == 31
    assert index.size(dbsession) == 31
    buena = [a for a in real_authorities if Authorities(dbsession).get(a).heading
             == "Buena Vista Mining District (Nev.)"]
    assert len(buena) == 1
    assert hits(dbsession, Clause("heading", "=", "buena vista")) == buena
    assert hits(dbsession, Clause("see-from", "=", "oneota")) == buena  # 451
    assert hits(dbsession, Clause("see-also", "=", "basalt")) == buena  # 551
    assert hits(dbsession, Clause("heading", "=", "oneota")) == []  # a tracing is not the heading
    assert hits(dbsession, Clause("match", "=", "oneota")) == buena  # Match: heading and see-from
    assert hits(dbsession, Clause("heading", "exact", "Buena Vista Mining District (Nev.)")) == buena
    assert hits(dbsession, Clause("heading", "exact", "Buena Vista")) == []
    assert hits(dbsession, Clause("authtype", "=", "GEOGR_NAME")) == sorted(
        a for a in real_authorities if Authorities(dbsession).get(a).authtypecode == "GEOGR_NAME")
    assert len(hits(dbsession, Clause("authtype", "=", "PERSO_NAME"))) == 29
    assert hits(dbsession, Clause("lc-card-number", "=", "no2021084916")) == buena
    assert hits(dbsession, Clause("local-number", "=", str(buena[0]))) == buena  # 001 is the authid
    assert hits(dbsession, Clause("recid", "=", str(buena[0]))) == buena
    assert hits(dbsession, Clause("any", "=", "esmeralda")) == buena  # 370 $e
    prefix = hits(dbsession, Clause("heading-main", "=", "hillen" + MASK_ANY))
    assert len(prefix) == 5  # Hillen, W.; Hillen, W.A.L.M.; Hillenius; Hillenberg; Hillenbrand
    assert hits(dbsession, Clause("heading", "=", ANCHOR + "hillenius")) == hits(
        dbsession, Clause("heading", "=", "hillenius"))
    both = Boolean("and", Clause("heading-main", "=", "hillen" + MASK_ANY), Clause("heading", "=", "tycho"))
    assert len(hits(dbsession, both)) == 1
    assert len(hits(dbsession, Clause("allrecords", "=", ""))) == 31
    with pytest.raises(QueryError):
        index.search(dbsession, Clause("title", "=", "x"))


def test_sort_by_heading_and_scan(dbsession, real_authorities):
    node = Clause("heading-main", "=", "hillen" + MASK_ANY)
    ordered = index.search(dbsession, node, sort=(SortKey("heading"),)).ids
    headings = [Authorities(dbsession).get(a).heading for a in ordered]
    assert headings == sorted(headings, key=lambda h: h.lower().replace(",", "").replace(".", " "))
    assert index.search(dbsession, node, sort=(SortKey("heading", ascending=False),)).ids == ordered[::-1]
    terms = index.scan(dbsession, "heading", "hillen", count=4)
    assert [t.value for t in terms][:1] == ["hillen"] and terms[0].count == 2
    with pytest.raises(QueryError):
        index.scan(dbsession, "recid", "1")


def test_update_and_delete_keep_the_index_in_step(dbsession, real_authorities):
    store = Authorities(dbsession)
    buena = hits(dbsession, Clause("heading", "=", "buena vista"))[0]
    rec = marc.parse_xml(store.get(buena).marcxml)
    rec.get_fields("151")[0].subfields[0] = pymarc.Subfield("a", "Boa Vista Mining District (Nev.)")
    store.update(buena, rec)
    assert hits(dbsession, Clause("heading", "=", "buena")) == []
    assert hits(dbsession, Clause("heading", "=", "boa vista")) == [buena]
    assert hits(dbsession, Clause("see-from", "=", "oneota")) == [buena]  # unchanged terms stay
    dbsession.commit()
    store.delete(buena)
    dbsession.commit()
    for node in (Clause("heading", "=", "boa"), Clause("see-from", "=", "oneota"), Clause("recid", "=", str(buena))):
        assert hits(dbsession, node) == []
    assert index.size(dbsession) == 30


def test_rebuild_gives_the_same_answers(dbsession, session_factory, real_authorities):
    queries = [Clause("heading", "=", "hillen" + MASK_ANY), Clause("see-from", "=", "oneota"),
               Clause("authtype", "=", "PERSO_NAME"), Clause("any", "=", "nev"), Clause("heading", "exact",
                                                                                       "Hillen, W.")]
    before = [hits(dbsession, q) for q in queries]
    dbsession.commit()
    assert index.rebuild(session_factory, batch=7) == 31
    dbsession.expire_all()
    assert [hits(dbsession, q) for q in queries] == before
    assert index.is_ready(dbsession) and index.size(dbsession) == 31


def test_unimarc_authorities(dbsession):
    store = Authorities(dbsession, marc.UNIMARC)
    hugo = store.add(unimarc_authority(("a", "Hugo", "b", "Victor", "f", "1802-1885"),
                                       (("a", "Hugo", "b", "Victor-Marie"),)))
    paris = store.add(unimarc_authority(("a", "Paris"), (("a", "Lutèce"),), tag="215"))
    assert (hugo.flavour, hugo.authtypecode, paris.authtypecode) == ("UNIMARC", "NP", "SNG")
    assert hits(dbsession, Clause("heading", "=", "victor")) == [hugo.authid]
    assert hits(dbsession, Clause("see-from", "=", "victor marie")) == [hugo.authid]
    assert hits(dbsession, Clause("see-from", "=", "lutece")) == [paris.authid]  # accents folded
    assert hits(dbsession, Clause("authtype", "=", "SNG")) == [paris.authid]
    # a UNIMARC bibliographic 700 links to the person, a 607 to the place
    bib = record("00000nam  2200000   450 ", field("200", "a", "Notre-Dame de Paris"),
                 field("700", "a", "Hugo", "b", "Victor", "f", "1802-1885", "4", "070"),
                 field("607", "a", "Paris"))
    outcome = link_record(dbsession, bib, marc.UNIMARC)
    assert [(h.tag, a) for h, a in outcome.linked] == [("700", hugo.authid), ("607", paris.authid)]
    assert bib.get_fields("700")[0].get_subfields("9") == [str(hugo.authid)]


def test_linking_real_headings_and_merge_on_update_and_delete(dbsession, real_authorities, shared_data):
    catalog = Catalog(dbsession)
    bibs = [r.record for r in itertools.islice(
        (r for r in marc.read_records(str(shared_data / "marc21-collection.xml"))
         if r.record is not None and str(r.record.leader)[6] in "acdgijkmt"), 40)]
    numbers = [getattr(b, "biblionumber", b) for b in catalog.add_records(bibs, items=[[] for _ in bibs])]
    # a real heading of the authorities as a 100 and a 600 (relator $e and $4 are not part of it)
    dalai = hits(dbsession, Clause("heading", "exact", "Bstan-ʼdzin-rgya-mtsho, Dalai Lama XIV, 1935-"))
    assert len(dalai) == 1
    target = catalog.marc(numbers[0])
    target.remove_fields("100", "600")
    target.add_ordered_field(field("100", "a", "Bstan-ʼdzin-rgya-mtsho,", "c", "Dalai Lama XIV,", "d", "1935-",
                                   "e", "author.", ind="0 "))
    target.add_ordered_field(field("600", "a", "Bstan-ʼdzin-rgya-mtsho,", "c", "Dalai Lama XIV,", "d", "1935-",
                                   "x", "Teachings.", ind="00"))
    target.add_ordered_field(field("651", "a", "Buena Vista Mining District (Nev.)", ind=" 0"))
    target.add_ordered_field(field("650", "a", "Buena Vista Mining District (Nev.)", ind=" 0"))  # not a topic
    catalog.update_record(numbers[0], target)
    dbsession.commit()
    buena = hits(dbsession, Clause("heading", "=", "buena vista"))[0]

    record_ = catalog.marc(numbers[0])
    outcome = link_record(dbsession, record_, marc.MARC21)
    linked = {(h.tag, a) for h, a in outcome.linked}
    assert linked == {("100", dalai[0]), ("651", buena)}  # 600 has $x Teachings: no such authority
    assert {h.tag for h in outcome.unmatched} >= {"600", "650"}
    catalog.update_record(numbers[0], record_)
    before = dbsession.get(Biblio, numbers[1]).datestamp
    dbsession.commit()
    assert linked_biblionumbers(dbsession, buena) == [numbers[0]]
    assert link_record(dbsession, catalog.marc(numbers[0]), marc.MARC21).linked == []  # already linked

    # editing the authority's heading rewrites the linked heading (loose: $e stays) in the same transaction
    store = Authorities(dbsession)
    auth = marc.parse_xml(store.get(dalai[0]).marcxml)
    auth.get_fields("100")[0].subfields = [pymarc.Subfield("a", "Tenzin Gyatso,"), pymarc.Subfield("c", "Dalai Lama XIV,"),
                                           pymarc.Subfield("d", "1935-")]
    stamp = dbsession.get(Biblio, numbers[0]).datestamp
    store.update(dalai[0], auth)
    changed = catalog.marc(numbers[0]).get_fields("100")[0]
    assert [(s.code, s.value) for s in changed.subfields] == [
        ("a", "Tenzin Gyatso,"), ("c", "Dalai Lama XIV,"), ("d", "1935-"), ("e", "author."), ("9", str(dalai[0]))]
    assert dbsession.get(Biblio, numbers[0]).datestamp >= stamp
    assert dbsession.get(Biblio, numbers[1]).datestamp == before  # records not linked are not touched
    from kohaweb import search
    assert numbers[0] in search.search(dbsession, Clause("author", "=", "tenzin gyatso"), limit=50).ids
    dbsession.commit()

    # deleting an authority removes the fields linked to it (Koha's merge without a target)
    topics = len(catalog.marc(numbers[0]).get_fields("650"))
    places = len(catalog.marc(numbers[0]).get_fields("651"))
    store.delete(buena)
    assert len(catalog.marc(numbers[0]).get_fields("651")) == places - 1
    assert not any(str(buena) in f.get_subfields("9") for f in catalog.marc(numbers[0]).get_fields("651"))
    assert len(catalog.marc(numbers[0]).get_fields("650")) == topics  # unlinked: untouched
    dbsession.commit()


def test_default_linker_leaves_several_matches_alone(dbsession):
    store = Authorities(dbsession)
    first = store.add(record("00000nz  a2200000n  4500", field("100", "a", "Smith, John,", "d", "1900-1980.")))
    second = store.add(record("00000nz  a2200000n  4500", field("100", "a", "Smith, John,", "d", "1900-1980")))
    store.add(record("00000nz  a2200000n  4500", field("150", "a", "Smith, John")))  # a topic: another type
    bib = record("00000nam a2200000 a 4500", field("245", "a", "A title"),
                 field("700", "a", "Smith, John,", "d", "1900-1980,", "e", "editor."))
    assert link_record(dbsession, bib, marc.MARC21).multiple[0][1] == [first.authid, second.authid]
    assert link_record(dbsession, bib, marc.MARC21, linker="last").linked[0][1] == second.authid
    bib.get_fields("700")[0].delete_subfield("9")
    assert link_record(dbsession, bib, marc.MARC21, linker="first").linked[0][1] == first.authid
    with pytest.raises(ValueError):
        link_record(dbsession, bib, marc.MARC21, linker="best")


def test_concurrent_writers_of_one_block_lose_nothing(session_factory):
    """Two transactions index authorities sharing a term in the same block: the second queues on the
    block row and then reads what the first committed (without the queue: a duplicate key, or a
    lost posting)."""
    import threading
    import time

    from sqlalchemy import select

    from kohaweb.models import Authority
    from kohaweb.testing import selected_backend

    if selected_backend() == "sqlite":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE)")
    first, second = session_factory(), session_factory()
    try:
        second.execute(select(Authority.authid)).all()  # the second transaction's snapshot starts here
        Authorities(first).add(record("00000nz  a2200000n  4500", field("100", "a", "Smith, Anne")))
        errors: list[BaseException] = []

        def add_second() -> None:
            try:
                Authorities(second).add(record("00000nz  a2200000n  4500", field("100", "a", "Smith, Bob")))
                second.commit()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        worker = threading.Thread(target=add_second)
        worker.start()
        time.sleep(0.5)  # let the second writer reach the block row the first one holds
        first.commit()
        worker.join(60)
        assert not errors and not worker.is_alive()
    finally:
        first.close()
        second.close()
    with session_factory() as session:
        assert len(hits(session, Clause("heading", "=", "smith"))) == 2


def test_a_longer_heading_leaves_the_positions_of_later_fields_as_they_were():
    """As in the bibliographic index (posting_format.next_field_start): fields start at stride
    boundaries, so an edit of one field changes only that field's keys."""
    from kohaweb.search.posting_format import FIELD_GAP, FIELD_STRIDE, next_field_start

    def entry(heading: str):
        rec = record("00000nz  a2200000n  4500", field("100", "a", heading),
                     field("400", "a", "Smith, John Q."), field("670", "a", "Encyclopedia of reefs"))
        return index.entry_for(rec, "MARC21", "PERSO_NAME").terms

    short, longer = entry("Smith, John"), entry("Smith, John Quincy, 1901-1977")
    assert short[("any", "encyclopedia")] == longer[("any", "encyclopedia")]
    assert short[("see-from", "smith")] == longer[("see-from", "smith")]
    assert ("any", "quincy") not in short and longer[("any", "quincy")] == [2]
    assert all(next_field_start(end) % FIELD_STRIDE == 0 and next_field_start(end) >= end + FIELD_GAP for end in range(200))
