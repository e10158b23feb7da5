"""Pytest fixtures for the core's and every plugin's tests (loaded through the ``pytest11``
entry point, so any test directory gets them).

The database comes from ``KOHAWEB_TEST_DATABASE``: ``sqlite`` (default), ``postgresql`` or
``mariadb``. For the server databases a throwaway database is created for the run on
127.0.0.1 (user postgres / root) and dropped afterwards; when the server is unreachable the
tests are skipped with a message, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from . import ids
from .auth import grant, hash_password
from .catalog import Catalog
from .db import make_engine, make_session_factory, mariadb_scheme
from .models import Base, Patron
from .preferences import note_write

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("KOHAWEB_SHARED", HERE.parent.parent / "shared"))
# The official XSDs the tests validate against (published standards, part of the suite)
SCHEMAS = HERE / "testing_schemas"
TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"
SERVER_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/",
    # mysqlclient, the supported driver; PyMySQL where it could not be built (no libmariadb-dev)
    # or where KOHAWEB_TEST_MARIADB_DRIVER=pymysql asks for it
    "mariadb": mariadb_scheme(os.environ.get("KOHAWEB_TEST_MARIADB_DRIVER")) + "://root@127.0.0.1:3306/",
}


def selected_backend() -> str:
    return os.environ.get("KOHAWEB_TEST_DATABASE", "sqlite")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


# a test module naming one of these chooses or creates its database itself
_NAMES_A_DATABASE = re.compile(r"selected_backend|KOHAWEB_TEST_DATABASE|throwaway_database|SERVER_URLS")


def pytest_configure(config: pytest.Config) -> None:
    # Each test builds apps (a Pyramid registry: hundreds of thousands of objects in reference
    # cycles), so the cycle collector's default pace (a young collection every 700 allocations)
    # cost a fifth of a test run's CPU; collecting every 50,000 gives that back for some more
    # memory (measured on the OAI and reports suites: 53-55 s -> 41-42 s, peak 219 -> 254 MB).
    gc.set_threshold(50_000, 10, 10)
    config.addinivalue_line("markers", "every_database: run on every database's pass although the test uses no "
                            "database fixture")
    config.addinivalue_line("markers", "database_independent: run on the SQLite pass only although the test uses "
                            "a database fixture, because nothing it checks depends on the database")


def pytest_collection_finish(session: pytest.Session) -> None:
    # what the run has loaded so far (modules, collected tests) stays: the collector need not
    # walk it again at every full collection
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL and MariaDB passes, skip the tests that cannot depend on the database:
    those that use no database fixture (``database_url`` is not among their fixtures, directly or
    through another) in a module that never names a backend. They parse, render and compare
    without a database, so the SQLite pass proves all they prove; running them again on the other
    passes only costs time. ``@pytest.mark.every_database`` keeps a test on every pass;
    ``@pytest.mark.database_independent`` keeps one that needs a database, but checks nothing that
    depends on which (a browser driving a page, say), on the SQLite pass only."""
    if selected_backend() == "sqlite":
        return
    names_a_database: dict[Path, bool] = {}
    for item in items:
        fixtures = getattr(item, "fixturenames", None)  # None: not a test function
        if fixtures is None or item.get_closest_marker("every_database"):
            continue
        if item.get_closest_marker("database_independent"):
            item.add_marker(pytest.mark.skip(reason="does not depend on the database: run on the SQLite pass only"))
            continue
        if "database_url" in fixtures:
            continue
        path = Path(item.path)
        if path not in names_a_database:
            names_a_database[path] = bool(_NAMES_A_DATABASE.search(path.read_text(errors="replace")))
        if not names_a_database[path]:
            item.add_marker(pytest.mark.skip(reason="uses no database: run on the SQLite pass only"))


@pytest.fixture(autouse=True)
def _cheap_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at its minimum cost (4 instead of 10) while testing: the same code paths and hash
    format (a hash carries its cost, and checking reads it from there), but the suite's thousands
    of hashes and checks (every user a test creates, every first Basic request of an app) do not
    spend two cores, shared by three databases' passes, on key stretching."""
    import bcrypt

    real = bcrypt.gensalt
    monkeypatch.setattr(bcrypt, "gensalt", lambda rounds=12, prefix=b"2b": real(4, prefix))


CHROMIUM = os.environ.get("KOHAWEB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def chromium():
    """Playwright's sync API bound to the system Chromium (``KOHAWEB_CHROMIUM``); never downloads
    a browser. Skipped where either is missing, a failure under CI."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def throwaway_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A new empty database URL for this run, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / 'kohaweb-test.sqlite'}"
        return
    if backend not in SERVER_URLS:
        raise pytest.UsageError(f"KOHAWEB_TEST_DATABASE={backend}: use sqlite, postgresql or mariadb")
    name = f"kohaweb_test_{uuid.uuid4().hex[:10]}"
    server = SERVER_URLS[backend]
    try:
        admin = create_engine(server + ("postgres" if backend == "postgresql" else ""),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
            else:
                conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    except Exception as exc:  # noqa: BLE001  (any connection failure means "server absent")
        _unavailable(f"{backend} server at {server} is unreachable: {exc.__class__.__name__}")
    try:
        yield server + name
    finally:
        from .search.compactor import wait_for_compaction

        wait_for_compaction()  # a fold under way holds a connection to the database
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A migrated, empty catalogue database for the whole test session."""
    from .migrate import upgrade

    with throwaway_database(selected_backend(), tmp_path_factory.mktemp("db")) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url, local_files=True)  # as the site's (kohaweb.app)
    yield engine
    engine.dispose()


def clean_database(engine: Engine) -> None:
    """Delete every row of every table (children first) and reset id counters, once the folds
    of the search index the last test's writes started are done (they would write rows back)."""
    from .search.compactor import wait_for_compaction

    wait_for_compaction()
    with engine.begin() as conn:
        if engine.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        extra = [t for t in _extra_tables(conn) if t not in Base.metadata.tables and t != "alembic_version"]
        for name in extra:
            conn.execute(text(f"DELETE FROM {name}"))
        if engine.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
        if engine.dialect.name != "sqlite":  # the loan and hold ids start again too
            for sequence in ids.SEQUENCES.values():
                conn.execute(text(f"ALTER SEQUENCE IF EXISTS {sequence.name} RESTART WITH 1"))
    from .search.staging import build_key_apart

    build_key_apart(engine)  # a test that left a load unfinished leaves the next one its key
    note_write()  # the preferences are gone: caches of them (kohaweb.search.state) read them again


def _extra_tables(conn) -> list[str]:
    """Tables created by migrations outside the models (e.g. the search index)."""
    from sqlalchemy import inspect

    names = inspect(conn).get_table_names()
    # SQLite FTS shadow tables are maintained by their virtual table
    return [n for n in names if not any(n.endswith(s) for s in ("_data", "_idx", "_docsize", "_config", "_content"))]


@pytest.fixture
def clean_db(engine) -> Iterator[Engine]:
    """The test database, emptied after the test."""
    yield engine
    clean_database(engine)


@pytest.fixture
def session_factory(clean_db):
    return make_session_factory(clean_db)


@pytest.fixture
def dbsession(session_factory) -> Iterator[Session]:
    """A session on the emptied database; the test commits what it wants others to see."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()


def see_other_writers(session: Session) -> None:
    """Let ``session`` read afresh what another writer committed (the app through webtest, a live
    server, a CLI command, another session): end its transaction and forget the objects it loaded.

    ``session.rollback()`` alone is not enough: when no transaction is open (after a commit, say)
    it is a no-op, and sessions are made with ``expire_on_commit=False``, so the objects it still
    holds (kept alive by a variable, or by their reference cycles until the cycle collector runs)
    are not expired and a ``get()`` or attribute read is answered from memory, stale.
    """
    session.rollback()
    session.expire_all()


@pytest.fixture
def catalog(dbsession) -> Catalog:
    return Catalog(dbsession)


@pytest.fixture
def reference_data(dbsession):
    """Libraries, item types, categories and circulation rules of the sample catalogue."""
    from .sampledata import ensure_reference_data

    ensure_reference_data(dbsession)
    dbsession.commit()


@pytest.fixture
def sample_records(dbsession, reference_data) -> Callable[..., list[int]]:
    """``sample_records(n, flavour="MARC21", seed=1)`` stores n generated records, returns their ids."""
    from .sampledata import generate_records

    def load(count: int, flavour: str = "MARC21", seed: int = 1) -> list[int]:
        generated = list(generate_records(count, seed, flavour))
        biblios = Catalog(dbsession).add_records([g.record for g in generated], flavour=flavour,
                                                 items=[g.items for g in generated])
        dbsession.commit()
        return [b.biblionumber for b in biblios]

    return load


def make_settings(database_url: str, services: list[str] | tuple[str, ...] = (), **overrides: Any) -> dict:
    settings = {
        "kohaweb.services": " ".join(services),
        "kohaweb.database_url": database_url,
        "kohaweb.secret": TEST_SECRET,
        "kohaweb.library_name": "Test library",
    }
    settings.update({k.replace("__", "."): v for k, v in overrides.items()})
    return settings


@pytest.fixture
def make_app(clean_db, database_url) -> Callable[..., Any]:
    """``make_app(services=[...], **{"oai.max_count": "10"})`` -> a webtest.TestApp on the test
    database (settings keys may also be passed with ``__`` for dots)."""
    import webtest

    from .app import make_app as build

    def factory(services=(), settings: dict | None = None, **overrides):
        raw = make_settings(database_url, services, **overrides)
        raw.update(settings or {})
        return webtest.TestApp(build(raw, engine=clean_db))

    return factory


@pytest.fixture
def with_plugins(monkeypatch) -> Callable[..., None]:
    """``with_plugins(name=obj, ...)``: every site built in the test registers these plugin
    objects (hook implementations) too, as if they were installed."""
    from . import plugins

    def install(**extra: Any) -> None:
        original = plugins.build_hooks

        def build(services=None, **kw):
            hooks = original(services, **kw)
            for name, obj in extra.items():
                hooks.manager.register(obj, name=name)
            return hooks

        monkeypatch.setattr(plugins, "build_hooks", build)

    return install


@pytest.fixture
def staff_user(dbsession, reference_data) -> Callable[..., tuple[str, str, int]]:
    """``staff_user("alice", "reports")`` creates a patron with those permissions;
    returns (userid, password, borrowernumber)."""

    def create(userid: str = "staff", *permissions: str, password: str = "correct horse battery"):
        patron = Patron(userid=userid, cardnumber=f"c-{userid}", surname=userid.title(), branchcode="CPL",
                        categorycode="S", password=hash_password(password))
        dbsession.add(patron)
        grant(dbsession, patron, *permissions)
        dbsession.commit()
        return userid, password, patron.borrowernumber

    return create


def basic_auth(userid: str, password: str) -> dict[str, str]:
    import base64

    token = base64.b64encode(f"{userid}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(wsgi_app, threads: int = 4) -> Iterator[str]:
    """Serve a WSGI app with waitress on a free loopback port; yields the base URL."""
    from waitress.server import create_server

    # the port is bound here, before the thread starts, so the URL answers at once
    server = create_server(wsgi_app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Close the listener and idle keep-alive connections inside the server's own loop thread
        # (waitress's trigger runs thunks there), so the loop ends without waiting for clients.
        def stop() -> None:
            for channel in list(server._map.values()):
                try:
                    if channel is server:
                        server.close()
                    elif channel is not server.trigger:
                        channel.handle_close()
                except OSError:
                    pass  # already closed
            with suppress(OSError):
                server.trigger.close()

        try:
            server.trigger.pull_trigger(stop)
        except OSError:
            # the trigger's descriptor is gone (the loop ended on a descriptor closed under it):
            # nothing runs the thunk any more, so close what is left from here
            stop()
        server.task_dispatcher.shutdown(timeout=5)
        thread.join(timeout=5)


@pytest.fixture
def live_server(clean_db, database_url):
    """``with live_server(services=[...], **settings) as base_url:`` real HTTP via waitress."""
    from .app import make_app as build

    @contextmanager
    def start(services=(), settings: dict | None = None, **overrides):
        raw = make_settings(database_url, services, **overrides)
        raw.update(settings or {})
        with serve(build(raw, engine=clean_db)) as url:
            yield url

    return start


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real MARC files and server samples, not part of the repository): skipped where
    absent, with a reason saying so; a failure under CI (``CI`` set), where the suite must be whole."""
    path = SHARED / "data"
    if not path.is_dir():
        _unavailable(f"needs the real records of ../shared/data, not found at {path} (set KOHAWEB_SHARED)")
    return path


@pytest.fixture(scope="session")
def xml_schema() -> Callable[..., Any]:
    """``xml_schema("OAI-PMH", "oai_dc")`` -> an lxml XMLSchema that imports all the named schemas,
    resolved offline from the official XSDs shipped with the suite (``kohaweb/testing_schemas``,
    provenance in its SOURCES.md), so every clone runs every validation."""
    from lxml import etree

    folder = SCHEMAS
    cache: dict[tuple[str, ...], Any] = {}

    def load(*names: str):
        if names in cache:
            return cache[names]
        parser = etree.XMLParser(no_network=True)
        parser.resolvers.add(_SchemaResolver(folder))
        imports = []
        for name in names:
            path = folder / (name if name.endswith(".xsd") else name + ".xsd")
            if not path.is_file():
                raise LookupError(f"no schema {path.name} in {folder}: copy the official XSD there")
            ns = etree.parse(str(path), parser).getroot().get("targetNamespace")
            imports.append(f'<xs:import namespace="{ns}" schemaLocation="{path.as_uri()}"/>')
        driver = ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">' + "".join(imports) + "</xs:schema>")
        schema = etree.XMLSchema(etree.fromstring(driver.encode(), parser, base_url=str(folder) + "/"))
        cache[names] = schema
        return schema

    return load


def assert_valid(schema, document) -> None:
    """Validate bytes or an element, failing with the schema's messages."""
    from lxml import etree

    root = etree.fromstring(document) if isinstance(document, (bytes, str)) else document
    if not schema.validate(root):
        errors = "\n".join(str(e) for e in list(schema.error_log)[:10])
        raise AssertionError(f"XML not valid against schema:\n{errors}")


def _SchemaResolver(folder: Path):
    """Maps remote schema URLs to the local copies; anything else stays unresolved (offline)."""
    from lxml import etree

    class Resolver(etree.Resolver):
        def resolve(self, url, pubid, context):
            if url.startswith(("http://", "https://")):
                local = folder / url.rsplit("/", 1)[-1]
                if local.exists():
                    return self.resolve_filename(str(local), context)
            return None

    return Resolver()


# The sample formats file of Koha's manual and of Koha::OAI::Server::Repository's POD, with its
# marc21 entry and its 'marxml' typo (tests of the formats registry and of the OAI plugin use it).
KOHA_SAMPLE_FORMATS_CONF = """\
format:
  vs:
    metadataPrefix: vs
    metadataNamespace: http://veryspecial.tamil.fr/vs/format-pivot/1.1/vs
    schema: http://veryspecial.tamil.fr/vs/format-pivot/1.1/vs.xsd
    xsl_file: {vs_xsl}
  marc21:
    metadataPrefix: marc21
    metadataNamespace: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim
    schema: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd
    include_items: 1
  marcxml:
    metadataPrefix: marxml
    metadataNamespace: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim
    schema: http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd
    include_items: 1
  oai_dc:
    metadataPrefix: oai_dc
    metadataNamespace: http://www.openarchives.org/OAI/2.0/oai_dc/
    schema: http://www.openarchives.org/OAI/2.0/oai_dc.xsd
    xsl_file: /usr/local/koha/koha-tmpl/intranet-tmpl/xslt/UNIMARCslim2OAIDC.xsl
"""


def koha_sample_formats_conf(vs_xsl: str) -> str:
    """Koha's sample formats file with ``vs_xsl`` as the path of the 'vs' stylesheet."""
    return KOHA_SAMPLE_FORMATS_CONF.format(vs_xsl=vs_xsl)


# --- a catalogue for the visibility policy (kohaweb.visibility), shared by every service's tests ---

HIDDEN_ITEMS_RULES = "itype: [REF]\nlocation: [STAFF]\n"


@pytest.fixture
def hidden_catalogue(dbsession, reference_data):
    """Four records that all contain the word "lighthouse", under OpacSuppression on,
    OpacHiddenItems ``HIDDEN_ITEMS_RULES``, OpacHiddenItemsHidesRecord on and category ST exempt
    from the rules: ``open`` (items ``open_shown`` BK and ``open_hidden`` REF), ``suppressed``
    (opac_suppressed, one BK item), ``all_hidden`` (items REF and STAFF) and ``bare`` (no items).
    The public sees ``open`` (one item) and ``bare``. Returns a namespace of the ids."""
    from types import SimpleNamespace

    import pymarc

    from .preferences import set_preference

    for name, value in (("OpacSuppression", "1"), ("OpacHiddenItems", HIDDEN_ITEMS_RULES),
                        ("OpacHiddenItemsHidesRecord", "1"), ("OpacHiddenItemsExceptions", "ST")):
        set_preference(dbsession, name, value)
    catalog = Catalog(dbsession)

    def record(title: str) -> pymarc.Record:
        rec = pymarc.Record(leader="00000nam a22000007a 4500")
        rec.add_field(pymarc.Field(tag="008", data="240101s2020    xxu           000 0 eng d"))
        rec.add_field(pymarc.Field(tag="245", indicators=["0", "0"],
                                   subfields=[pymarc.Subfield("a", f"{title} of the lighthouse")]))
        return rec

    def item(barcode: str, itype: str = "BK", location: str = "GEN") -> dict:
        return {"barcode": barcode, "homebranch": "CPL", "holdingbranch": "CPL", "itype": itype,
                "location": location, "itemcallnumber": f"CALL {barcode}"}

    open_, suppressed, all_hidden, bare = catalog.add_records(
        [record("Alpha"), record("Bravo"), record("Charlie"), record("Delta")],
        items=[[item("VIS-1"), item("VIS-2", itype="REF")], [item("SUP-1")],
               [item("HID-1", itype="REF"), item("HID-2", location="STAFF")], []])
    catalog.set_suppressed(suppressed.biblionumber)
    dbsession.commit()
    return SimpleNamespace(
        open=open_.biblionumber, suppressed=suppressed.biblionumber, all_hidden=all_hidden.biblionumber,
        bare=bare.biblionumber, open_shown=open_.items[0].itemnumber, open_hidden=open_.items[1].itemnumber,
        suppressed_item=suppressed.items[0].itemnumber,
        hidden_items=[i.itemnumber for i in all_hidden.items])
