"""The WSGI application factory: core configuration, then each enabled service plugin."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyramid.config import Configurator
from pyramid.interfaces import IRequestExtensions, IRequestFactory, IRoutesMapper
from pyramid.request import Request
from pyramid.session import BaseCookieSessionFactory
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import db, plugins, signing, transactions
from .routing import FirstSegmentRoutesMapper
from .settings import CORE_SETTINGS, ConfigError, parse_settings

log = logging.getLogger(__name__)


@dataclass
class Site:
    """Everything a service needs from the core, at ``request.registry.kohaweb``."""

    settings: dict[str, dict[str, Any]]  # prefix -> typed settings ("kohaweb", "oai", ...)
    engine: Engine
    session_factory: sessionmaker[Session]
    services: list[str]
    formats: Any = None  # kohaweb.formats.FormatRegistry
    extras: dict[str, Any] = field(default_factory=dict)  # a service's own state, under its name
    hooks: Any = None  # kohaweb.plugins.Hooks: the plugin manager (hooks.hook.<name>) and the search backend

    @property
    def search(self) -> Any:
        """The search backend chosen by ``kohaweb.search.backend`` (kohaweb.search.backend)."""
        return self.hooks.search

    @property
    def core(self) -> dict[str, Any]:
        return self.settings["kohaweb"]

    def new_session(self, write: bool = False) -> Session:
        """A session of its own; ``write=True`` when it will write (SQLite then takes the write
        lock when its transaction begins, so it waits for other writers instead of failing)."""
        return db.new_session(self.session_factory, write)


def build_site(raw: Mapping[str, Any], engine: Engine | None = None) -> tuple[Site, dict[str, Any]]:
    """Load the enabled services and the installed plugins into the site's hook manager, parse
    and check every setting they declare (``register_settings``), pick the search backend;
    create the engine. Returns the site and the loaded service modules. Raises ConfigError
    listing every problem."""
    problems: list[str] = []
    parsed: dict[str, dict[str, Any]] = {}
    services = raw.get("kohaweb.services", "")
    if isinstance(services, str):
        services = services.replace(",", " ").split()
    modules: dict[str, Any] = {}
    for name in services:
        try:
            modules[name] = plugins.load_service(name)
        except ConfigError as exc:
            problems.extend(exc.problems)
    try:
        hooks = plugins.build_hooks(modules)
        declared = hooks.settings()
    except ConfigError as exc:
        problems.extend(exc.problems)
        hooks, declared = None, {"kohaweb": CORE_SETTINGS}
    for prefix in dict.fromkeys(["kohaweb", *modules, *declared]):
        try:
            parsed[prefix] = parse_settings(raw, prefix, declared.get(prefix, []))
        except ConfigError as exc:
            problems.extend(exc.problems)
            parsed.setdefault(prefix, {})
    backends = hooks.search_backends() if hooks else {}
    backend_name = parsed["kohaweb"].get("search.backend", "sql")
    if hooks and backend_name not in backends:
        problems.append(f"kohaweb.search.backend: no backend {backend_name!r} is installed "
                        f"(installed: {', '.join(sorted(backends))})")
    if not problems and not parsed["kohaweb"]["secret"]:
        problems.append("kohaweb.secret: required (a long random string; `env:NAME` reads it "
                        "from the environment)")
    if problems:
        raise ConfigError(problems)
    engine = engine or db.make_engine(parsed["kohaweb"]["database_url"], local_files=True)
    site = Site(parsed, engine, db.make_session_factory(engine), list(modules))
    hooks.search = backends[backend_name](site)
    plugins.attach(site, hooks, outbox=parsed["kohaweb"]["search.outbox"])
    return site, modules


def make_app(raw: Mapping[str, Any], engine: Engine | None = None):
    """Build the WSGI app from settings (raises ConfigError); used by tests and ``main``."""
    site, modules = build_site(raw, engine)
    config = Configurator(settings=dict(raw))
    config.registry.kohaweb = site
    # before any route is added: Pyramid then adds them all to this mapper (kohaweb.routing)
    config.registry.registerUtility(FirstSegmentRoutesMapper(), IRoutesMapper)
    config.include(_core)
    for module in modules.values():
        if hasattr(module, "includeme"):  # a service may work through hooks alone
            config.include(module)
    config.commit()
    router = router_with_request_class(config)
    log.info("kohaweb started with services: %s", ", ".join(modules) or "(none)")
    return reject_undecodable_paths(router)


def router_with_request_class(config: Configurator):
    """``config.make_wsgi_app()``, whose requests are of a class that has the request methods and
    properties (``request_class_with_extensions``), so that the router does not apply them to each
    request again. The registry keeps them for scripts and tests that prepare a request themselves
    (``pyramid.scripting.prepare``, ``apply_request_extensions``)."""
    built_in = request_class_with_extensions(config.registry)
    router = config.make_wsgi_app()
    if built_in:
        router.request_extensions = None  # read once by the router, when it is made
    return router


def request_class_with_extensions(registry) -> bool:
    """Make the request methods and properties of ``config.add_request_method`` (``dbsession``,
    ``read_dbsession``, ``tm``...) attributes of the request class, once, instead of Pyramid's
    extensions applied to each request: Pyramid makes a new class per request for its properties
    (60 µs, 2-3% of a rare-word SRU request's CPU, and classes only the cyclic garbage
    collector frees). Requests behave the same: the attributes are the very descriptors and functions
    Pyramid would have attached. Call after the last ``add_request_method`` (the configuration
    committed) and before the WSGI app is made (``router_with_request_class``); a request factory that is not a class is left
    as it is, with its extensions. Returns whether the class now has them (the router then need
    not apply them)."""
    extensions = registry.queryUtility(IRequestExtensions)
    factory = registry.queryUtility(IRequestFactory, default=Request)
    if extensions is None or not isinstance(factory, type):
        return False
    attributes = {"__module__": factory.__module__, **extensions.methods, **extensions.descriptors}
    registry.registerUtility(type(factory.__name__, (factory,), attributes), IRequestFactory)
    return True


def reject_undecodable_paths(app):
    """WSGI middleware: a path that is not UTF-8 once percent-decoded gets 400, not a traceback
    (Pyramid decodes the path before any view or tween could turn the error into a response)."""

    def middleware(environ, start_response):
        try:
            environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        except UnicodeError:
            body = b"Bad request: the URL path is not valid UTF-8\n"
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"),
                                               ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    middleware.registry = app.registry  # webtest and pshell reach the registry through the app
    return middleware


def main(global_config: Mapping[str, Any], **settings: Any):
    """PasteDeploy entry point (``pserve development.ini``): configuration errors end start-up
    with one line per problem instead of a traceback."""
    try:
        return make_app(settings)
    except ConfigError as exc:
        sys.stderr.write("kohaweb: configuration error\n" + "".join(f"  {p}\n" for p in exc.problems))
        raise SystemExit(2) from None


def _core(config: Configurator) -> None:
    site: Site = config.registry.kohaweb
    core = site.core
    config.set_session_factory(BaseCookieSessionFactory(
        signing.CookieSerializer(signing.site_secrets(core)), cookie_name="kohaweb_session", httponly=True,
        samesite="Lax", secure=core["session.secure"], max_age=core["session.max_age"],
        timeout=core["session.max_age"], reissue_time=600))
    config.add_request_method(_dbsession, "dbsession", reify=True)
    config.add_request_method(_catalog, "catalog", reify=True)
    config.include("kohaweb.transactions")  # request.dbsession's transaction: pyramid_tm + pyramid_retry
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".html")
    config.add_jinja2_search_path("kohaweb:templates", name=".html")
    config.include("kohaweb.auth")
    config.include("kohaweb.formats")
    config.include("kohaweb.views")
    config.include("kohaweb.api")
    config.include("kohaweb.limits")
    config.include("kohaweb.access_log")
    config.include("kohaweb.metrics")
    config.include("kohaweb.replicas")


def _dbsession(request: Request) -> Session:
    write = request.method not in SAFE_METHODS or request.environ.get(WRITER_RETRY, False)
    request.environ[USED_PRIMARY] = True  # kohaweb.replicas: a write request that did is a writer
    return transactions.join(request, request.registry.kohaweb.new_session(write=write))


def _catalog(request: Request):
    from .catalog import Catalog

    return Catalog(request.dbsession, request.registry.kohaweb.core["marcflavour"])


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
WRITER_RETRY = "kohaweb.db.writer"  # environ flag: run this request's transaction as a writer
USED_PRIMARY = "kohaweb.db.used"  # environ flag: the request opened request.dbsession

