"""kohaweb authorities link | reindex | status, and REST authority writes that rewrite linked records
(issue 18)."""

from __future__ import annotations

import pymarc
import pytest

from kohaweb import marc
from kohaweb.authorities import Authorities
from kohaweb.catalog import Catalog
from kohaweb.models import Biblio
from kohaweb.search import Clause, authority_index
from kohaweb.testing import basic_auth, see_other_writers

MARCXML = "application/marcxml+xml"


def field(tag: str, *pairs: str, ind: str = "  ") -> pymarc.Field:
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(ind[0], ind[1]),
                        subfields=[pymarc.Subfield(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)])


def authority(tag: str, *pairs: str) -> pymarc.Record:
    record = pymarc.Record(leader="00000nz  a2200000n  4500")
    record.add_field(field(tag, *pairs))
    return record


def bib(title: str, *fields: pymarc.Field) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(field("245", "a", title))
    for f in fields:
        record.add_field(f)
    return record


@pytest.fixture
def linked_catalogue(dbsession):
    """Two authorities and three records: one heading matches once, one twice (two authorities of the
    same heading would be ambiguous), one not at all."""
    store = Authorities(dbsession)
    darwin = store.add(authority("100", "a", "Darwin, Charles,", "d", "1809-1882")).authid
    reefs = store.add(authority("150", "a", "Coral reefs", "x", "Ecology")).authid
    catalog = Catalog(dbsession)
    numbers = [getattr(b, "biblionumber", b) for b in catalog.add_records([
        bib("On the origin of species", field("100", "a", "Darwin, Charles,", "d", "1809-1882,", "e", "author.",
                                              ind="1 "),
            field("650", "a", "Coral reefs", "x", "Ecology.", ind=" 0")),
        bib("Voyage", field("700", "a", "Darwin, Charles,", "d", "1809-1882", ind="1 ")),
        bib("Unrelated", field("100", "a", "Nobody, A."))], items=[[], [], []])]
    dbsession.commit()
    return darwin, reefs, numbers


def links(session, number: int) -> list[tuple[str, list[str]]]:
    record = Catalog(session).marc(number)
    return [(f.tag, f.get_subfields("9")) for f in record.fields if not f.is_control_field() and f.tag >= "100"
            and f.tag != "245"]


def test_link_command_dry_run_then_link(run_cli, dbsession, session_factory, linked_catalogue):
    darwin, reefs, numbers = linked_catalogue
    status, out, _ = run_cli("authorities", "link", "--dry-run", "--verbose")
    assert status == 0
    assert "would be changed: 2" in out and "headings would be linked: 3" in out and "no authority: 1" in out
    assert links(dbsession, numbers[0]) == [("100", []), ("650", [])]  # nothing written
    stamps = {n: dbsession.get(Biblio, n).datestamp for n in numbers}
    status, out, _ = run_cli("authorities", "link", "--batch-size", "2")
    assert status == 0 and "changed: 2" in out
    see_other_writers(dbsession)
    with session_factory() as fresh:  # a session of its own: nothing it holds predates the command
        assert links(fresh, numbers[0]) == [("100", [str(darwin)]), ("650", [str(reefs)])]
        assert links(fresh, numbers[1]) == [("700", [str(darwin)])]
        assert links(fresh, numbers[2]) == [("100", [])]
        assert fresh.get(Biblio, numbers[2]).datestamp == stamps[numbers[2]]
    status, out, _ = run_cli("authorities", "link")
    assert "changed: 0" in out and "already linked: 3" in out
    status, out, _ = run_cli("authorities", "link", "--batch-size", "0")
    assert status != 0


def test_reindex_and_status(run_cli, dbsession, linked_catalogue):
    status, out, _ = run_cli("authorities", "reindex")
    assert status == 0 and "indexed 2 authorities" in out
    status, out, _ = run_cli("index", "rebuild", "--authorities")
    assert status == 0 and "indexed 2 authorities" in out
    status, out, _ = run_cli("authorities", "status")
    assert "status: ready" in out and "authorities indexed: 2" in out
    see_other_writers(dbsession)
    assert authority_index.search(dbsession, Clause("heading", "=", "darwin")).total == 1


def test_rest_update_rewrites_and_delete_removes_linked_headings(make_app, staff_user, dbsession,
                                                                 linked_catalogue, run_cli):
    darwin, reefs, numbers = linked_catalogue
    run_cli("authorities", "link")
    api = make_app(**{"kohaweb.auth.basic": "true"})
    headers = basic_auth(*staff_user("cataloguer", "catalogue", "editauthorities")[:2])
    new = authority("100", "a", "Darwin, Charles Robert,", "d", "1809-1882")
    api.put(f"/api/v1/authorities/{darwin}", marc.record_to_xml(new), headers={**headers, "Content-Type": MARCXML})
    see_other_writers(dbsession)
    first = Catalog(dbsession).marc(numbers[0]).get_fields("100")[0]
    assert [(s.code, s.value) for s in first.subfields] == [
        ("a", "Darwin, Charles Robert,"), ("d", "1809-1882"), ("e", "author."), ("9", str(darwin))]
    assert Catalog(dbsession).marc(numbers[1]).get_fields("700")[0].get_subfields("a") == ["Darwin, Charles Robert,"]
    from kohaweb import search
    assert set(search.search(dbsession, Clause("author", "=", "charles robert")).ids) == set(numbers[:2])
    api.delete(f"/api/v1/authorities/{reefs}", headers=headers, status=204)
    see_other_writers(dbsession)
    assert Catalog(dbsession).marc(numbers[0]).get_fields("650") == []
    assert links(dbsession, numbers[0]) == [("100", [str(darwin)])]


def test_see_from_forms_find_records_under_the_authorised_heading(dbsession):
    from kohaweb import search
    from kohaweb.preferences import set_preference
    from kohaweb.search import see_from

    store = Authorities(dbsession)
    twain = authority("100", "a", "Twain, Mark,", "d", "1835-1910")
    twain.add_field(field("400", "a", "Clemens, Samuel Langhorne,", "d", "1835-1910"))
    store.add(twain)
    topic = authority("150", "a", "Clemens")  # a subject spelt like the variant: not a name
    store.add(topic)
    catalog = Catalog(dbsession)
    number = [getattr(b, "biblionumber", b) for b in catalog.add_records(
        [bib("Huckleberry Finn", field("100", "a", "Twain, Mark,", "d", "1835-1910.", ind="1 "))], items=[[]])][0]
    dbsession.commit()
    query = Clause("author", "=", "clemens samuel")
    assert not see_from.enabled(dbsession)
    assert search.search(dbsession, query).ids == []
    assert see_from.expand(dbsession, Clause("title", "=", "clemens")) == Clause("title", "=", "clemens")
    expanded = see_from.expand(dbsession, query)
    assert expanded == search.Boolean("or", query, Clause("author", "adj", "Twain, Mark, 1835-1910"))
    assert search.search(dbsession, expanded).ids == [number]
    both = see_from.expand(dbsession, search.Boolean("and", query, Clause("title", "=", "finn")))
    assert search.search(dbsession, both).ids == [number]
    assert see_from.expand(dbsession, Clause("topical", "=", "clemens")) == Clause("topical", "=", "clemens")
    set_preference(dbsession, "IncludeSeeFromInSearches", "1", "YesNo")
    assert see_from.enabled(dbsession)


def test_merge_touches_only_changed_headings_in_fields_of_the_authority_type(dbsession, linked_catalogue, run_cli):
    darwin, reefs, numbers = linked_catalogue
    status, out, err = run_cli("authorities", "link")
    assert status == 0 and "changed: 2" in out, (out, err)
    see_other_writers(dbsession)
    catalog = Catalog(dbsession)
    assert links(dbsession, numbers[1]) == [("700", [str(darwin)])]
    # a stray $9 in a field another type controls (a topic pointing at the person) is not Koha's to merge
    record = catalog.marc(numbers[1])
    record.add_field(field("650", "a", "Evolution", "9", str(darwin), ind=" 0"))
    catalog.update_record(numbers[1], record)
    dbsession.commit()
    stamps = {n: dbsession.get(Biblio, n).datestamp for n in numbers}
    store = Authorities(dbsession)
    note = marc.parse_xml(store.get(darwin).marcxml)
    note.add_field(field("670", "a", "On the origin of species, 1859"))
    store.update(darwin, note)  # the heading is unchanged: no linked record is read or touched
    assert {n: dbsession.get(Biblio, n).datestamp for n in numbers} == stamps
    renamed = marc.parse_xml(store.get(darwin).marcxml)
    renamed.get_fields("100")[0].subfields[0] = pymarc.Subfield("a", "Darwin, C.")
    store.update(darwin, renamed)
    voyage = catalog.marc(numbers[1])
    assert voyage.get_fields("700")[0].get_subfields("a") == ["Darwin, C."]
    assert voyage.get_fields("650")[-1].get_subfields("a") == ["Evolution"]
    dbsession.commit()
