"""OAI set membership when an item changes: the sets' rules are loaded only when one reads items."""

from __future__ import annotations

from sqlalchemy import event, select

from kohaweb.models import OaiSet, OaiSetBiblio, OaiSetMapping
from kohaweb.sampledata import generate_records


class Statements:
    """The statements run on ``engine`` while listening."""

    def __init__(self, engine):
        self.engine = engine
        self.seen: list[str] = []

    def _note(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self.seen

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)


def _with_item(catalog, seed: int = 21) -> tuple[int, int]:
    generated = next(iter(generate_records(1, seed=seed)))
    biblio = catalog.add_record(generated.record, items=[{"barcode": f"S{seed}", "homebranch": "CPL",
                                                          "holdingbranch": "CPL", "itype": "BK"}])
    return biblio.biblionumber, biblio.items[0].itemnumber


def test_an_item_change_loads_no_set_when_no_rule_reads_items(catalog, dbsession, reference_data):
    """A loan changes an item: with sets whose rules read only the record, the rules are not
    loaded (one narrow statement says which fields the rules read) and membership stays."""
    biblionumber, itemnumber = _with_item(catalog)
    dbsession.add(OaiSet(spec="all", name="All", mappings=[
        OaiSetMapping(marcfield="000", marcsubfield="", operator="notequal", marcvalue="no such leader")]))
    dbsession.commit()
    with Statements(dbsession.get_bind()) as seen:
        catalog.update_item(itemnumber, onloan="2030-01-01", issues=1)
        dbsession.commit()
    assert not [s for s in seen if "FROM oai_sets " in s + " "]  # no set loaded
    assert len([s for s in seen if "oai_sets_mappings" in s]) == 1
    assert not [s for s in seen if "oai_sets_biblios" in s]
    with Statements(dbsession.get_bind()) as seen:
        catalog.update_item(itemnumber, onloan=None)  # once per transaction: the fields are kept
        catalog.update_item(itemnumber, issues=2)
        dbsession.commit()
    assert len([s for s in seen if "oai_sets_mappings" in s]) == 1


def test_an_item_change_with_no_set_rule_costs_one_narrow_statement(catalog, dbsession, reference_data):
    _, itemnumber = _with_item(catalog, seed=22)
    dbsession.commit()
    with Statements(dbsession.get_bind()) as seen:
        catalog.update_item(itemnumber, onloan="2030-01-01")
        dbsession.commit()
    touching = [s for s in seen if "oai_sets" in s]
    assert len(touching) == 1 and "oai_sets_mappings" in touching[0], touching


def test_a_rule_reading_items_keeps_membership_on_item_changes(catalog, dbsession, reference_data):
    """A rule on 952 (MARC21 items), added in the same transaction, decides at the next item
    change: the item leaves the set's library and the record the set."""
    biblionumber, itemnumber = _with_item(catalog, seed=23)
    dbsession.commit()
    catalog.update_item(itemnumber, datelastseen="2024-01-01")  # the fields read: none yet
    dbsession.add(OaiSet(spec="cpl", name="At CPL", mappings=[
        OaiSetMapping(marcfield="952", marcsubfield="a", operator="equal", marcvalue="CPL")]))
    dbsession.flush()
    catalog.update_item(itemnumber, issues=3)
    members = set(dbsession.scalars(select(OaiSetBiblio.biblionumber)))
    assert members == {biblionumber}
    catalog.update_item(itemnumber, homebranch="FFL")
    assert set(dbsession.scalars(select(OaiSetBiblio.biblionumber))) == set()
    dbsession.commit()
