"""The visibility policy (kohaweb.visibility): Koha's preferences parsed, the stored record state
kept by the data layer, ``apply`` after a preference change, and public searches following it."""

from __future__ import annotations

import datetime as dt

import pytest

from kohaweb import search, visibility
from kohaweb.catalog import Catalog
from kohaweb.models import Biblio
from kohaweb.preferences import set_preference
from kohaweb.search import Clause
from kohaweb.visibility import Policy, PolicyError, Viewer

LIGHTHOUSE = Clause("title", "=", "lighthouse")


def test_hidden_items_yaml_as_koha_writes_it():
    rules = visibility.parse_hidden_items("itype: [REF, DVD]\nlocation:\n  - STAFF\nwithdrawn: [1]\nccode: LOCAL\n")
    assert rules == {"itype": {"REF", "DVD"}, "location": {"STAFF"}, "withdrawn": {"1"}, "ccode": {"LOCAL"}}
    assert visibility.parse_hidden_items("") == {} and visibility.parse_hidden_items("# nothing\n") == {}


@pytest.mark.parametrize("text, message", [
    ("itype: [REF", "not valid YAML"),
    ("- REF", "must map item columns"),
    ("nosuchcolumn: [1]", "not an item column"),
    ("itype: [{a: 1}]", "plain values"),
])
def test_hidden_items_yaml_errors(text, message):
    with pytest.raises(PolicyError, match=message):
        visibility.parse_hidden_items(text)


def test_item_and_record_rules():
    policy = Policy(rules={"withdrawn": frozenset({"1"}), "location": frozenset({"STAFF"})})
    assert policy.item_hidden({"withdrawn": 1, "location": None})
    assert not policy.item_hidden({"withdrawn": 0, "location": None})  # an empty column never matches
    assert policy.record_hidden(False, [{"withdrawn": 1}, {"location": "STAFF"}])
    assert not policy.record_hidden(False, [{"withdrawn": 1}, {"location": "GEN"}])
    assert not policy.record_hidden(False, [])  # no items: never hidden by the item rules
    assert not Policy(rules=policy.rules, hides_record=False).record_hidden(False, [{"withdrawn": 1}])
    assert Policy(hide_lost=True).item_hidden({"itemlost": 2})
    assert policy.record_hidden(True, []) and not Policy(suppression=False).record_hidden(True, [])


def test_preferences_read_like_koha():
    policy = visibility.policy_from_preferences({"opachiddenitemsexceptions": "ST|PT, K", "OpacSuppression": "0",
                                                 "hidelostitems": "1"})
    assert policy.exception_categories == {"ST", "PT", "K"}
    assert not policy.suppression and policy.hide_lost and policy.hides_record
    # an unreadable rule set is ignored (as Koha), except where an administrator applies it
    assert visibility.policy_from_preferences({"OpacHiddenItems": "itype: [REF"}).rules == {}
    with pytest.raises(PolicyError):
        visibility.policy_from_preferences({"OpacHiddenItems": "itype: [REF"}, strict=True)


def test_data_layer_stores_the_public_state(dbsession, hidden_catalogue):
    h = hidden_catalogue
    hidden = {n: dbsession.get(Biblio, n).hidden_from_public for n in (h.open, h.suppressed, h.all_hidden, h.bare)}
    assert hidden == {h.open: False, h.suppressed: True, h.all_hidden: True, h.bare: False}
    public = visibility.public_viewer(dbsession)
    exempt = Viewer(public.policy, category="ST")
    staff = Viewer(public.policy, staff=True)
    all_hidden = dbsession.get(Biblio, h.all_hidden)
    suppressed = dbsession.get(Biblio, h.suppressed)
    assert not public.sees_record(all_hidden) and exempt.sees_record(all_hidden) and staff.sees_record(all_hidden)
    assert not exempt.sees_record(suppressed) and staff.sees_record(suppressed)
    items = dbsession.get(Biblio, h.open).items
    assert [i.itemnumber for i in public.visible_items(items)] == [h.open_shown]
    assert len(exempt.visible_items(items)) == 2


def test_item_changes_move_records_in_and_out_of_public_searches(dbsession, hidden_catalogue):
    h = hidden_catalogue
    catalog = Catalog(dbsession)
    assert search.search(dbsession, LIGHTHOUSE).total == 2
    assert search.search(dbsession, LIGHTHOUSE, public=False).total == 4
    catalog.update_item(h.hidden_items[0], itype="BK")  # one item of all_hidden becomes visible
    dbsession.commit()
    assert not dbsession.get(Biblio, h.all_hidden).hidden_from_public
    assert h.all_hidden in search.search(dbsession, LIGHTHOUSE, limit=10).ids
    catalog.update_item(h.open_shown, location="STAFF")  # open's last visible item is hidden
    dbsession.commit()
    assert dbsession.get(Biblio, h.open).hidden_from_public
    assert sorted(search.search(dbsession, LIGHTHOUSE, limit=10).ids) == [h.all_hidden, h.bare]
    scanned = {t.value: t.count for t in search.scan(dbsession, "title", "lighthouse", count=1)}
    assert scanned == {"lighthouse": 2}
    catalog.delete_item(h.open_hidden)  # open keeps one item, hidden: still hidden
    catalog.delete_item(h.open_shown)  # no items left: visible again
    dbsession.commit()
    assert not dbsession.get(Biblio, h.open).hidden_from_public


def test_apply_after_a_preference_change(dbsession, hidden_catalogue):
    h = hidden_catalogue
    before = {n: dbsession.get(Biblio, n).datestamp for n in (h.open, h.suppressed, h.all_hidden, h.bare)}
    later = max(before.values()) + dt.timedelta(minutes=5)
    set_preference(dbsession, "OpacSuppression", "0")
    set_preference(dbsession, "OpacHiddenItems", "itype: [REF]\nlocation: [STAFF]\nbarcode: [VIS-1]\n")
    dry = visibility.apply(dbsession, now=later, dry_run=True)
    assert (dry.hidden, dry.shown, dry.checked) == ([h.open], [h.suppressed], 4)
    assert dbsession.get(Biblio, h.open).datestamp == before[h.open]
    done = visibility.apply(dbsession, now=later)
    dbsession.commit()
    assert (done.hidden, done.shown) == ([h.open], [h.suppressed])
    stamps = {n: dbsession.get(Biblio, n).datestamp for n in before}
    assert stamps[h.open] == later and stamps[h.suppressed] == later
    assert stamps[h.all_hidden] == before[h.all_hidden] and stamps[h.bare] == before[h.bare]
    assert sorted(search.search(dbsession, LIGHTHOUSE, limit=10).ids) == [h.suppressed, h.bare]
    again = visibility.apply(dbsession, now=later + dt.timedelta(minutes=1))
    assert again.hidden == again.shown == []


def test_apply_refuses_unreadable_rules(dbsession, hidden_catalogue):
    set_preference(dbsession, "OpacHiddenItems", "itype: [REF")
    with pytest.raises(PolicyError):
        visibility.apply(dbsession)
    # the data layer goes on without the rules (and says so in the log)
    Catalog(dbsession).update_item(hidden_catalogue.hidden_items[0], itemcallnumber="X")
    assert not dbsession.get(Biblio, hidden_catalogue.all_hidden).hidden_from_public


def test_items_condition_agrees_with_the_python_rules(dbsession, reference_data):
    """The SQL form of the rules (paged item lists) hides exactly what ``sees_item`` hides, for
    text, integer and date columns, lost items and an exempt category."""
    from sqlalchemy import select

    from kohaweb.models import Item

    set_preference(dbsession, "OpacHiddenItems",
                   "itype: [REF]\nnotforloan: [-1, 2, x]\ndateaccessioned: ['2020-01-05']\nccode: [LOCAL]\n")
    set_preference(dbsession, "hidelostitems", "1")
    set_preference(dbsession, "OpacHiddenItemsExceptions", "ST")
    variants = [{}, {"itype": "REF"}, {"notforloan": -1}, {"notforloan": 1}, {"notforloan": 2},
                {"dateaccessioned": dt.date(2020, 1, 5)}, {"dateaccessioned": dt.date(2020, 1, 6)},
                {"ccode": "LOCAL"}, {"ccode": "local"}, {"itemlost": 1}, {"itemlost": -1}]
    record = Catalog(dbsession).add_record(
        "<record xmlns='http://www.loc.gov/MARC21/slim'><leader>00000nam a22000007a 4500</leader>"
        "<datafield tag='245' ind1='0' ind2='0'><subfield code='a'>Variants</subfield></datafield></record>",
        items=[{"barcode": f"V{n}", "homebranch": "CPL", "itype": "BK", **values} for n, values in enumerate(variants)])
    dbsession.commit()
    policy = visibility.load_policy(dbsession)
    for viewer in (Viewer(policy), Viewer(policy, category="ST"), Viewer(policy, staff=True)):
        in_python = [i.barcode for i in viewer.visible_items(record.items)]
        in_sql = list(dbsession.scalars(select(Item.barcode).where(Item.biblionumber == record.biblionumber,
                                                                   viewer.items_condition()).order_by(Item.itemnumber)))
        assert in_sql == in_python
    # letter case does not matter (as under Koha's MariaDB collation), on every database
    assert [i.barcode for i in Viewer(policy).visible_items(record.items)] == ["V0", "V3", "V6", "V10"]
    assert [i.barcode for i in Viewer(policy, category="ST").visible_items(record.items)] == [
        f"V{n}" for n in range(11) if n != 9]
