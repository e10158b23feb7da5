"""ListRecords / ListIdentifiers / ListSets: paging, selective harvesting, sets, deletions, and
harvests during which the catalogue changes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kohaweb.models import OaiSet, OaiSetBiblio, OaiSetDescription, OaiSetMapping

PREFIX = "oai:library.example.org:"


@pytest.fixture
def app(oai_app):
    return oai_app(**{"oai.max_count": "4"})


def ident(number: int) -> str:
    return f"{PREFIX}{number}"


def numbers_of(headers, NS) -> list[int]:
    return [int(h.findtext("oai:identifier", namespaces=NS).rsplit(":", 1)[1]) for h in headers]


@pytest.mark.parametrize("verb, prefix", [("ListRecords", "marcxml"), ("ListRecords", "oai_dc"),
                                          ("ListIdentifiers", "marcxml")])
def test_paging_cursor_and_complete_list_size(app, oai_get, oai, add_records, clock, verb, prefix):
    ids = add_records(10)
    clock.tick()
    pages, headers = oai.harvest(oai_get, app, verb, metadataPrefix=prefix)
    assert [len(p.findall(f".//oai:{verb}/" + ("oai:record" if verb == "ListRecords" else "oai:header"),
                          oai.NS)) for p in pages] == [4, 4, 2]
    assert sorted(numbers_of(headers, oai.NS)) == ids
    tokens = [oai.token_of(p) for p in pages]
    assert [(t.get("cursor"), t.get("completeListSize")) for t in tokens] == [("0", "10"), ("4", "10"), ("8", "10")]
    assert tokens[0].text and tokens[1].text and tokens[2].text is None  # the last page: an empty token
    assert tokens[2].get("expirationDate") is None
    if verb == "ListRecords":
        assert all(r.find("oai:metadata/*", oai.NS) is not None for p in pages
                   for r in p.iterfind(".//oai:record", oai.NS))


def test_one_page_list_has_no_token(app, oai_get, oai, add_records, clock):
    add_records(3)
    clock.tick()
    assert oai.token_of(oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml")) is None


def test_resumption_is_idempotent(app, oai_get, oai, add_records, clock):
    add_records(9)
    clock.tick()
    token = oai.token_of(oai_get(app, verb="ListRecords", metadataPrefix="marcxml")).text
    first = oai.identifiers(oai_get(app, verb="ListRecords", resumptionToken=token))
    again = oai.identifiers(oai_get(app, verb="ListRecords", resumptionToken=token))
    assert first == again and len(first) == 4


def test_order_is_by_datestamp_then_id_and_from_until_are_inclusive(app, oai_get, oai, add_records,
                                                                     catalog, clock):
    old = add_records(3)                      # 12:00:00
    clock.tick(3600)
    new = add_records(2)              # 13:00:00
    clock.tick(3600)
    catalog.update_record(old[0], catalog.marc(old[0]))  # 14:00:00: old[0] moves to the end
    catalog.session.commit()
    clock.tick(86400)
    _, headers = oai.harvest(oai_get, app, "ListIdentifiers", metadataPrefix="marcxml")
    assert numbers_of(headers, oai.NS) == [old[1], old[2], *new, old[0]]
    assert [h.findtext("oai:datestamp", namespaces=oai.NS) for h in headers][-1] == "2024-03-01T14:00:00Z"

    def listed(**dates):
        root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", **dates)
        if oai.error_codes(root) == ["noRecordsMatch"]:
            return []
        return numbers_of(oai.harvest(oai_get, app, "ListIdentifiers", metadataPrefix="marcxml", **dates)[1], oai.NS)

    assert listed(**{"from": "2024-03-01T13:00:00Z"}) == [*new, old[0]]
    assert listed(**{"from": "2024-03-01T13:00:01Z"}) == [old[0]]
    assert listed(until="2024-03-01T13:00:00Z") == [old[1], old[2], *new]
    assert listed(until="2024-03-01T12:59:59Z") == [old[1], old[2]]
    assert listed(**{"from": "2024-03-01T13:00:00Z", "until": "2024-03-01T13:00:00Z"}) == new
    assert listed(**{"from": "2024-03-01", "until": "2024-03-01"}) == [old[1], old[2], *new, old[0]]
    assert listed(**{"from": "2024-03-02"}) == []
    assert listed(until="2024-02-29") == []


def test_changes_in_the_current_second_wait_for_the_next_harvest(app, oai_get, oai, add_records, clock):
    """A list ends at the second before its first response, so a harvester that passes that
    responseDate as the next `from` gets what changed at or after it, once."""
    first = add_records(2)
    clock.tick()
    late = add_records(1)  # same second as the response
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml")
    assert numbers_of(root.iterfind(".//oai:header", oai.NS), oai.NS) == first
    response_date = root.findtext("oai:responseDate", namespaces=oai.NS)
    clock.tick()
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", **{"from": response_date})
    assert numbers_of(root.iterfind(".//oai:header", oai.NS), oai.NS) == late


def test_item_changes_and_deletions_move_the_datestamp(app, oai_get, oai, add_records, catalog, clock):
    a, b, c = add_records(3)
    clock.tick(600)
    catalog.add_item(a, homebranch="CPL", holdingbranch="CPL", itype="BK", barcode="oai-test-1")
    catalog.delete_record(b)
    catalog.session.commit()
    clock.tick()
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", **{"from": "2024-03-01T12:10:00Z"})
    headers = root.findall(".//oai:header", oai.NS)
    assert numbers_of(headers, oai.NS) == [a, b]
    assert [h.get("status") for h in headers] == [None, "deleted"]
    root = oai_get(app, verb="ListRecords", metadataPrefix="marcxml", **{"from": "2024-03-01T12:10:00Z"})
    records = root.findall(".//oai:record", oai.NS)
    assert records[1].find("oai:metadata", oai.NS) is None
    assert records[0].find("oai:metadata", oai.NS) is not None


def _make_sets(session, specs_and_rules):
    made = {}
    for spec, name, rules in specs_and_rules:
        oai_set = OaiSet(spec=spec, name=name)
        oai_set.descriptions.append(OaiSetDescription(description=f"All about {name} & more"))
        for order, (operator_, field, subfield, value) in enumerate(rules):
            oai_set.mappings.append(OaiSetMapping(rule_order=order, rule_operator=operator_, marcfield=field,
                                                  marcsubfield=subfield, operator="equal", marcvalue=value))
        session.add(oai_set)
        made[spec] = oai_set
    session.commit()
    return made


def test_sets_hierarchy_and_membership(app, oai_get, oai, dbsession, catalog, add_records, clock):
    ids = add_records(6)
    sets = _make_sets(dbsession, [("lang", "Languages", []), ("lang:eng", "English", []),
                                  ("lang:fre", "French", []), ("other", "Other", [])])
    dbsession.add_all([OaiSetBiblio(biblionumber=ids[0], set_id=sets["lang:eng"].id),
                       OaiSetBiblio(biblionumber=ids[0], set_id=sets["lang"].id),
                       OaiSetBiblio(biblionumber=ids[1], set_id=sets["lang:fre"].id),
                       OaiSetBiblio(biblionumber=ids[2], set_id=sets["lang"].id),
                       OaiSetBiblio(biblionumber=ids[3], set_id=sets["other"].id)])
    dbsession.commit()
    clock.tick()

    def in_set(spec):
        root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", set=spec)
        return [] if oai.error_codes(root) else numbers_of(root.findall(".//oai:header", oai.NS), oai.NS)

    assert in_set("lang") == ids[:3]  # the set and its descendants
    assert in_set("lang:eng") == [ids[0]]
    assert in_set("other") == [ids[3]]
    assert in_set("lang:ger") == []   # an unknown set matches nothing (Koha would list everything)
    assert in_set("lan") == []
    root = oai_get(app, verb="GetRecord", metadataPrefix="marcxml", identifier=ident(ids[0]))
    # the header names the fewest sets that say it all: lang is implied by lang:eng
    assert [s.text for s in root.iterfind(".//oai:setSpec", oai.NS)] == ["lang:eng"]
    # deleted records stay in their sets
    clock.tick()
    catalog.delete_record(ids[1])
    catalog.session.commit()
    clock.tick()
    root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", set="lang:fre")
    assert [h.get("status") for h in root.iterfind(".//oai:header", oai.NS)] == ["deleted"]
    assert [s.text for s in root.iterfind(".//oai:setSpec", oai.NS)] == ["lang:fre"]


def test_list_sets_with_paging_and_descriptions(app, oai_get, oai, dbsession):
    _make_sets(dbsession, [(f"s{n}", f"Set {n}", []) for n in range(6)])
    pages, _ = oai.harvest(oai_get, app, "ListSets")
    specs = [s.text for p in pages for s in p.iterfind(".//oai:set/oai:setSpec", oai.NS)]
    assert specs == [f"s{n}" for n in range(6)]
    assert [oai.token_of(p).get("cursor") for p in pages] == ["0", "4"]
    description = pages[0].find(".//oai:set/oai:setDescription/oai_dc:dc/dc:description",
                                {**oai.NS})
    assert description.text == "All about Set 0 & more"


def test_mapped_sets_follow_record_changes(app, oai_get, oai, dbsession, catalog, add_records, clock):
    """Koha's AutoUpdateSets: membership follows the MARC rules as records and items change."""
    _make_sets(dbsession, [("cpl", "At Centerville", [(None, "952", "a", "CPL")]),
                           ("bk-cpl", "Books at Centerville", [(None, "952", "a", "CPL"), ("and", "952", "y", "BK")])])
    a, b = add_records(2)
    clock.tick(10)
    item = catalog.add_item(a, homebranch="CPL", holdingbranch="CPL", itype="BK", barcode="oai-set-1")
    catalog.add_item(b, homebranch="FFL", holdingbranch="FFL", itype="DVD", barcode="oai-set-2")
    catalog.session.commit()
    clock.tick()

    def members(spec):
        root = oai_get(app, verb="ListIdentifiers", metadataPrefix="marcxml", set=spec)
        return [] if oai.error_codes(root) else numbers_of(root.findall(".//oai:header", oai.NS), oai.NS)

    expected_cpl = sorted({a} | {n for n in (a, b) if _holds(catalog, n, "CPL")})
    assert members("cpl") == expected_cpl
    assert a in members("bk-cpl")
    catalog.update_item(item.itemnumber, homebranch="MPL", holdingbranch="MPL")
    catalog.session.commit()
    clock.tick()
    assert a not in members("bk-cpl")


def _holds(catalog, number, branch) -> bool:
    return any(i.homebranch == branch for i in catalog.require(number).items)


def test_harvest_while_records_change(app, oai_get, oai, add_records, catalog, clock):
    """Between pages records are edited (already sent and not yet sent), deleted, and added: no
    record is sent twice, every unchanged record is sent once, and the harvest that starts from
    the first responseDate gets exactly the changes (spec 3.5.1)."""
    ids = add_records(20)
    clock.tick(60)
    root = oai_get(app, verb="ListRecords", metadataPrefix="marcxml")
    response_date = root.findtext("oai:responseDate", namespaces=oai.NS)
    seen = numbers_of(root.iterfind(".//oai:header", oai.NS), oai.NS)
    assert seen == ids[:4]
    clock.tick()
    catalog.update_record(ids[1], catalog.marc(ids[1]))        # already sent
    catalog.update_record(ids[10], catalog.marc(ids[10]))      # not yet sent
    catalog.delete_record(ids[2])                                # already sent
    catalog.delete_record(ids[15])                               # not yet sent
    [added] = add_records(1)
    catalog.session.commit()
    clock.tick()
    token = oai.token_of(root).text
    while token:
        root = oai_get(app, verb="ListRecords", resumptionToken=token)
        seen += numbers_of(root.iterfind(".//oai:header", oai.NS), oai.NS)
        catalog.update_record(seen[-1], catalog.marc(seen[-1]))  # edit what was just sent
        catalog.session.commit()
        clock.tick()
        token = oai.token_of(root).text
    assert len(seen) == len(set(seen)), "no record is sent twice"
    changed = {ids[1], ids[10], ids[2], ids[15], added}
    assert set(ids) - changed <= set(seen), "every unchanged record is sent"
    assert not {ids[10], ids[15], added} & set(seen[:4])
    # the next incremental harvest starts at the first responseDate and brings every change once
    clock.tick()
    _, headers = oai.harvest(oai_get, app, "ListIdentifiers", metadataPrefix="marcxml", **{"from": response_date})
    following = numbers_of(headers, oai.NS)
    assert len(following) == len(set(following))
    assert changed <= set(following)
    status = {int(h.findtext("oai:identifier", namespaces=oai.NS).rsplit(":", 1)[1]): h.get("status")
              for h in headers}
    assert status[ids[2]] == status[ids[15]] == "deleted"
    assert set(seen) | set(following) == set(ids) | {added}


def test_a_record_that_cannot_be_rendered_does_not_end_the_list(app, oai_get, oai, add_records, clock):
    ids = add_records(3)
    clock.tick()
    registry = app.app.registry.kohaweb.formats
    fmt = registry.oai("marcxml")
    original = type(fmt).render_bytes

    from kohaweb.formats import RenderError

    def render_bytes(self, source):
        if source.biblionumber == ids[1]:
            raise RenderError("broken record for the test")
        return original(self, source)

    try:
        type(fmt).render_bytes = render_bytes
        root = oai_get(app, verb="ListRecords", metadataPrefix="marcxml")
    finally:
        type(fmt).render_bytes = original
    records = root.findall(".//oai:record", oai.NS)
    assert numbers_of([r.find("oai:header", oai.NS) for r in records], oai.NS) == ids
    broken = records[1]
    assert broken.find("oai:metadata", oai.NS) is None
    assert "broken record for the test" in "".join(broken.find("oai:about", oai.NS).itertext())
    assert records[2].find("oai:metadata", oai.NS) is not None


def test_set_membership_rows(dbsession, add_records):
    """Sanity of the fixture data used above: rows exist as written."""
    ids = add_records(1)
    sets = _make_sets(dbsession, [("x", "X", [])])
    dbsession.add(OaiSetBiblio(biblionumber=ids[0], set_id=sets["x"].id))
    dbsession.commit()
    assert dbsession.scalars(select(OaiSetBiblio.biblionumber)).all() == ids
