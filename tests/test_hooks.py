"""The plugin hooks (kohaweb.hookspecs): catalogue changes in the transaction and after commit,
authentication and permissions, settings, REST paths under /api/v1/contrib/<plugin>/, commands,
search backends and the record-change outbox."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest
from sqlalchemy import select

from kohaweb import plugins
from kohaweb.app import build_site
from kohaweb.catalog import Catalog
from kohaweb.models import RecordChangeOutbox
from kohaweb.plugin_api import ApiService, Identity, InvalidCredentials, Setting, hookimpl
from kohaweb.sampledata import generate_records
from kohaweb.search import Clause, SearchResult, count_rows
from kohaweb.search.backend import drain_all, pending
from kohaweb.settings import ConfigError
from kohaweb.testing import make_settings

ping = ApiService("hooktest.ping", "/contrib/hooktest/ping", tag="hooktest")
secret = ApiService("hooktest.secret", "/contrib/hooktest/secret", tag="hooktest")
astray = ApiService("hooktest.astray", "/contrib/elsewhere/ping", tag="hooktest")


@ping.operation("GET", permission=None, summary="A plugin's REST path", responses={200: {"type": "object"}})
def ping_view(request):
    return {"greeting": request.registry.kohaweb.settings["hooktest"]["greeting"]}


@secret.operation("GET", permission="catalogue", summary="Needs catalogue", responses={200: {"type": "object"}})
def secret_view(request):
    return {"patron_id": request.kohaweb_identity.patron_id}


class Recorder:
    """A test plugin: remembers every catalogue hook call."""

    def __init__(self):
        self.calls: list[tuple[str, str, int]] = []
        self.committed: list[list] = []
        self.in_transaction: list[bool] = []

    @hookimpl
    def record_changed(self, session, change):
        self.calls.append(("record_changed", change.action, change.biblionumber))
        self.in_transaction.append(session.in_transaction())
        assert change.record().leader  # parsed on demand

    @hookimpl
    def record_deleted(self, session, change):
        self.calls.append(("record_deleted", change.action, change.biblionumber))

    @hookimpl
    def item_changed(self, session, change):
        self.calls.append(("item_changed", change.action, change.itemnumber))

    @hookimpl
    def item_deleted(self, session, change):
        self.calls.append(("item_deleted", change.action, change.itemnumber))

    @hookimpl
    def changes_committed(self, changes):
        self.committed.append([(type(c).__name__, c.action) for c in changes])


class TestPlugin:
    """Settings, a REST path, an authentication method and a permission rule."""

    @hookimpl
    def register_settings(self):
        return [Setting("hooktest.greeting", "str", "hello", "What the ping answers.")]

    @hookimpl
    def register_rest_services(self, site):
        return [ping, secret]

    @hookimpl
    def authenticate(self, request, scheme, credentials):
        if scheme != "x-test":
            return None
        if credentials != "let-me-in":
            raise InvalidCredentials("wrong test token")
        return Identity(int(request.headers["X-Patron"]), None, frozenset({"catalogue"}), "x-test")

    @hookimpl
    def permission_allowed(self, request, identity, permission):
        if request.headers.get("X-Deny") == "yes":
            return False
        return None


def _site(database_url, engine, **overrides):
    return build_site(make_settings(database_url, [], **overrides), engine=engine)[0]


def test_catalogue_hooks_fire_in_the_transaction_and_after_commit(with_plugins, database_url, clean_db, reference_data):
    recorder = Recorder()
    with_plugins(recorder=recorder)
    site = _site(database_url, clean_db)
    generated = list(generate_records(1, seed=3))[0]
    with site.session_factory() as session:
        catalog = Catalog(session)  # the site's hooks come with its sessions
        biblio = catalog.add_record(generated.record, items=[])
        item = catalog.add_item(biblio.biblionumber, homebranch="CPL", holdingbranch="CPL", itype="BK",
                                barcode="hook-1")
        catalog.update_item(item.itemnumber, itemcallnumber="X 1")
        assert recorder.committed == []
        session.commit()
        number = biblio.biblionumber
    assert recorder.calls == [("record_changed", "added", number), ("item_changed", "added", item.itemnumber),
                              ("record_changed", "items", number), ("item_changed", "updated", item.itemnumber),
                              ("record_changed", "items", number)]
    assert all(recorder.in_transaction)
    assert recorder.committed == [[("RecordChange", "added"), ("ItemChange", "added"), ("RecordChange", "items"),
                                   ("ItemChange", "updated"), ("RecordChange", "items")]]
    recorder.calls.clear()
    with site.session_factory() as session:
        Catalog(session).delete_record(number)
        session.rollback()  # rolled back: nothing is reported after commit
    assert recorder.committed == [recorder.committed[0]]
    assert ("record_deleted", "deleted", number) in recorder.calls
    assert ("item_deleted", "deleted", item.itemnumber) in recorder.calls
    with site.session_factory() as session:
        Catalog(session).delete_record(number)
        session.commit()
    assert recorder.committed[-1] == [("ItemChange", "deleted"), ("RecordChange", "deleted")]


def test_the_built_in_listeners_keep_the_index_through_the_hooks(database_url, clean_db, reference_data):
    site = _site(database_url, clean_db)
    generated = list(generate_records(1, seed=5))[0]
    with site.session_factory() as session:
        number = Catalog(session).add_record(generated.record, items=[]).biblionumber
        session.commit()
    with site.session_factory() as session:
        found = site.search.search(session, Clause("recid", "=", str(number)), public=False)
        assert found.ids == [number]
        assert site.search.sort(session, [number], ()) == [number]
        Catalog(session).delete_record(number)
        session.commit()
    with site.session_factory() as session:
        assert site.search.search(session, Clause("recid", "=", str(number)), public=False).total == 0
        assert site.search.is_ready(session)


class ExternalBackend:
    """A search backend outside the database: it learns of changes through the outbox only."""

    name = "external"
    transactional = False

    def __init__(self):
        self.indexed: list[int] = []
        self.removed: list[int] = []

    def index(self, session, change):
        assert change.record_with_items().leader
        self.indexed.append(change.biblionumber)

    def remove(self, session, biblionumber):
        self.removed.append(biblionumber)

    def search(self, session, query, **kw):
        return SearchResult(0, [])

    def scan(self, session, index, term, **kw):
        return []

    def sort(self, session, biblionumbers, keys):
        return sorted(biblionumbers)

    def is_ready(self, session):
        return self.ready

    ready = True


class ExternalBackendPlugin:
    def __init__(self):
        self.backend = ExternalBackend()

    @hookimpl
    def register_search_backends(self):
        return {"external": lambda site: self.backend}


def test_a_backend_outside_the_database_is_fed_through_the_outbox(with_plugins, database_url, clean_db,
                                                                  reference_data):
    plugin = ExternalBackendPlugin()
    with_plugins(external=plugin)
    site = _site(database_url, clean_db, **{"kohaweb.search.backend": "external"})
    assert site.search is plugin.backend
    records = list(generate_records(3, seed=7))
    with site.session_factory() as session:
        catalog = Catalog(session)
        numbers = [catalog.add_record(g.record, items=[]).biblionumber for g in records]
        catalog.update_record(numbers[0], records[0].record)
        session.commit()
    with site.session_factory() as session:
        catalog = Catalog(session)
        catalog.delete_record(numbers[1])
        session.commit()
        assert pending(session) == 5
        assert count_rows(session) == 0  # the SQL index was not written
    assert plugin.backend.indexed == []
    taken = drain_all(site.session_factory, site.search, batch=2)
    assert taken == 5
    assert sorted(set(plugin.backend.indexed)) == sorted([numbers[0], numbers[2]])
    assert set(plugin.backend.removed) == {numbers[1]}  # once per batch that named it
    with site.session_factory() as session:
        assert pending(session) == 0


def test_the_outbox_is_filled_beside_the_sql_index_when_asked(database_url, clean_db, reference_data):
    site = _site(database_url, clean_db, **{"kohaweb.search.outbox": "true"})
    with site.session_factory() as session:
        number = Catalog(session).add_record(list(generate_records(1, seed=9))[0].record, items=[]).biblionumber
        session.rollback()
    with site.session_factory() as session:
        assert pending(session) == 0  # rolled back with the change
        number = Catalog(session).add_record(list(generate_records(1, seed=9))[0].record, items=[]).biblionumber
        session.commit()
    with site.session_factory() as session:
        rows = session.execute(select(RecordChangeOutbox.biblionumber, RecordChangeOutbox.action)).all()
        assert [tuple(r) for r in rows] == [(number, "changed")]
        assert count_rows(session) == 1


def test_an_unknown_backend_or_setting_stops_start_up(with_plugins, database_url, clean_db):
    with pytest.raises(ConfigError) as caught:
        _site(database_url, clean_db, **{"kohaweb.search.backend": "nosuch"})
    assert "kohaweb.search.backend: no backend 'nosuch' is installed (installed: sql)" in caught.value.problems
    with_plugins(hooktest=TestPlugin())
    with pytest.raises(ConfigError) as caught:
        _site(database_url, clean_db, **{"hooktest.grieting": "typo"})
    assert any(p.startswith("hooktest.grieting: unknown setting") for p in caught.value.problems)


def test_plugin_settings_rest_paths_authentication_and_permissions(with_plugins, make_app, staff_user):
    with_plugins(hooktest=TestPlugin())
    _, _, patron_id = staff_user("hooky", "catalogue")
    app = make_app(**{"hooktest.greeting": "kia ora"})
    assert app.get("/api/v1/contrib/hooktest/ping").json == {"greeting": "kia ora"}
    assert "/contrib/hooktest/ping" in app.get("/api/v1/").json["paths"]
    app.get("/api/v1/contrib/hooktest/secret", status=401)
    headers = {"Authorization": "X-Test let-me-in", "X-Patron": str(patron_id)}
    assert app.get("/api/v1/contrib/hooktest/secret", headers=headers).json == {"patron_id": patron_id}
    app.get("/api/v1/contrib/hooktest/secret", headers={**headers, "Authorization": "X-Test wrong"}, status=401)
    app.get("/api/v1/contrib/hooktest/secret", headers={**headers, "X-Deny": "yes"}, status=403)
    # without kohaweb-apikeys nobody takes bearer tokens
    app.get("/api/v1/contrib/hooktest/secret", headers={"Authorization": "Bearer nope"}, status=401)


def test_a_rest_path_outside_the_plugins_prefix_stops_start_up(with_plugins, make_app):
    class Astray:
        @hookimpl
        def register_rest_services(self, site):
            return [astray]

    with_plugins(astray_plugin=Astray())
    with pytest.raises(ConfigError) as caught:
        make_app()
    assert "not under /api/v1/contrib/astray_plugin/" in caught.value.problems[0]


def test_commands_come_through_the_hook(with_plugins, clean_db):
    from kohaweb.cli import build_parser

    class Greeter:
        @hookimpl
        def register_commands(self, subparsers):
            subparsers.add_parser("greet").set_defaults(func=lambda args, cli: 0)

    with_plugins(greeter=Greeter())
    parser = build_parser()
    assert parser.parse_args(["greet"]).func(None, None) == 0
    assert parser.parse_args(["outbox", "status"]).outbox_action == "status"
    assert parser.parse_args(["db", "upgrade"]).command == "db"  # a kohaweb.commands entry point


def test_a_hook_that_does_not_exist_stops_start_up():
    @hookimpl
    def record_chanegd(session, change):
        pass

    service = types.SimpleNamespace(record_chanegd=record_chanegd, SETTINGS=[])
    with pytest.raises(ConfigError) as caught:
        plugins.build_hooks({"misspelt": service}, installed_plugins=False)
    assert "record_chanegd" in caught.value.problems[0]


def test_no_manager_is_built_at_import_time():
    code = ("import kohaweb.app, kohaweb.catalog, kohaweb.plugin_api, kohaweb.plugins as p; "
            "assert p._default is None; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_outbox_drain_and_status_commands(run_cli, ini_file, database_url, clean_db, reference_data):
    ini_file.write_text(ini_file.read_text() + "kohaweb.search.outbox = true\n")
    site = _site(database_url, clean_db, **{"kohaweb.search.outbox": "true"})
    with site.session_factory() as session:
        Catalog(session).add_records([g.record for g in generate_records(2, seed=11)])
        session.commit()
    status, out, _ = run_cli("outbox", "status")
    assert status == 0 and "backend: sql\nchanges waiting: 2\n" in out
    status, out, _ = run_cli("outbox", "drain", "--batch-size", "1")
    assert status == 0 and "sent 2 changes to the sql backend" in out
    assert run_cli("outbox", "status")[1].endswith("changes waiting: 0\n")
    status, _, err = run_cli("outbox", "drain", "--batch-size", "0")
    assert status == 1 and "--batch-size must be positive" in err


def test_readiness_asks_a_backend_outside_the_database(with_plugins, database_url, clean_db):
    from kohaweb.views.health import readiness

    plugin = ExternalBackendPlugin()
    with_plugins(external=plugin)
    site = _site(database_url, clean_db, **{"kohaweb.search.backend": "external"})
    assert readiness(site)["search_index"] == "ok"
    plugin.backend.ready = False
    assert readiness(site)["search_index"] == "the external search backend is not ready"


def test_set_membership_follows_a_rule_added_in_the_same_transaction(catalog, dbsession, reference_data):
    from kohaweb.models import OaiSet, OaiSetBiblio, OaiSetMapping

    generated = list(generate_records(2, seed=13))
    first = catalog.add_record(generated[0].record, items=[]).biblionumber  # sets loaded: none yet
    dbsession.add(OaiSet(spec="everything", name="Everything", mappings=[
        OaiSetMapping(marcfield="000", marcsubfield="", operator="notequal", marcvalue="no such leader")]))
    dbsession.flush()
    second = catalog.add_record(generated[1].record, items=[]).biblionumber
    members = set(dbsession.scalars(select(OaiSetBiblio.biblionumber)))
    assert members == {second}, (first, second)
