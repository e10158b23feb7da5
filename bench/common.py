"""Shared helpers of the benchmarks: throwaway databases, generated catalogues, figures.

The catalogues are realistic by default (bench/realistic.py: the real records of ../shared/data
recombined); ``--generator sample`` gives kohaweb.sampledata's small-vocabulary records instead,
and so does a machine without the real records (with a warning).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text

from kohaweb.db import mariadb_scheme

SERVERS = {
    "postgresql": ("postgresql+psycopg://postgres@127.0.0.1:5432/", "postgres"),
    "mariadb": (mariadb_scheme() + "://root@127.0.0.1:3306/", ""),
}


@contextlib.contextmanager
def database(backend: str, workdir: str = "var/bench", keep: bool = False) -> Iterator[str]:
    """A new migrated database URL for one benchmark run, dropped afterwards unless ``keep`` (then
    it is printed, for other benches' ``--url``)."""

    from kohaweb.migrate import upgrade

    if backend == "sqlite":
        os.makedirs(workdir, exist_ok=True)
        path = os.path.abspath(os.path.join(workdir, f"bench-{uuid.uuid4().hex[:8]}.sqlite"))
        url = f"sqlite:///{path}"
        upgrade(url)
        try:
            yield url
        finally:
            if keep:
                print(f"kept: {url}", flush=True)
            else:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path + suffix)
        return
    server, admin_db = SERVERS[backend]
    name = f"kohaweb_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server + admin_db, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if backend == "mariadb" else "")))
    try:
        upgrade(server + name)
        yield server + name
    finally:
        if keep:
            print(f"kept: {server + name}", flush=True)
        else:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if backend == "postgresql" else "")))
        admin.dispose()


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """--generator and --data, the choice of records every catalogue-loading bench offers."""
    parser.add_argument("--generator", choices=("real", "sample"), default="real",
                        help="real: records recombined from ../shared/data (bench/realistic.py, the default); "
                             "sample: kohaweb.sampledata's generator")
    parser.add_argument("--data", help="folder of the real collections (default ../shared/data)")


def data_choice(args: argparse.Namespace | None, flavour: str = "MARC21") -> tuple[str, str | None]:
    """(generator, data folder) from a bench's arguments: "sample" when asked, or when the real
    records are absent (then with a printed warning)."""
    import realistic

    generator = getattr(args, "generator", "real")
    data = getattr(args, "data", None)
    if generator == "real" and not realistic.available(flavour, data):
        print(f"WARNING: {realistic.data_path(flavour, data)} not found: using kohaweb.sampledata's records "
              f"(give --data PATH for realistic ones)", file=sys.stderr, flush=True)
        return "sample", None
    return generator, data


def catalogue_records(count: int, args: argparse.Namespace | None = None, flavour: str = "MARC21",
                      seed: int = 1) -> Iterator:
    """``count`` generated records (``kohaweb.sampledata.GeneratedRecord``: pymarc record, items)."""
    generator, data = data_choice(args, flavour)
    if generator == "real":
        import realistic

        return realistic.generated_records(count, flavour=flavour, seed=seed, data=data)
    from kohaweb.sampledata import generate_records

    return generate_records(count, seed, flavour)


def load_catalogue(url: str, records: int, flavour: str = "MARC21", seed: int = 1, batch: int = 2000,
                   args: argparse.Namespace | None = None) -> float:
    """Fill a database with generated records (``args``: --generator/--data); returns records/s."""
    from kohaweb.db import make_engine, make_session_factory, transaction
    from kohaweb.sampledata import ensure_reference_data

    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        ensure_reference_data(session)
    started = time.perf_counter()
    pending = []
    for generated in catalogue_records(records, args, flavour, seed):
        pending.append(generated)
        if len(pending) >= batch:
            _store(factory, pending, flavour)
            pending = []
    if pending:
        _store(factory, pending, flavour)
    rate = records / (time.perf_counter() - started)
    engine.dispose()
    return rate


def _store(factory, pending, flavour) -> None:
    from kohaweb.catalog import Catalog
    from kohaweb.db import transaction

    with transaction(factory) as session:
        Catalog(session).add_records([g.record for g in pending], flavour=flavour, items=[g.items for g in pending])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": statistics.median(ordered), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}


def report(title: str, **figures) -> None:
    parts = [f"{k}={v:,.2f}" if isinstance(v, float) and abs(v) < 10 and k.endswith("_ms_per_record")
             else f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()]
    print(f"{title}: " + "  ".join(parts), flush=True)


def server_cpu_seconds(url: str) -> float | None:
    """CPU seconds the database server has used so far (with PostgreSQL's backends and helper
    processes, live or ended), read from /proc when the server runs on this machine; None for
    SQLite or a server elsewhere."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                folder = conn.execute(text("SHOW data_directory")).scalar()
                pid_file = os.path.join(folder, "postmaster.pid")
            elif engine.dialect.name in ("mysql", "mariadb"):
                pid_file = conn.execute(text("SELECT @@pid_file")).scalar()
            else:
                return None
    finally:
        engine.dispose()
    try:
        with open(pid_file) as f:
            pid = int(f.readline())
        own = _proc_stat(pid)
    except (OSError, ValueError):
        return None
    ticks = 0
    for entry in os.listdir("/proc"):  # PostgreSQL's live backends and helpers: its children
        if entry.isdigit() and entry != str(pid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = _proc_stat(int(entry))
                if int(fields[1]) == pid:
                    ticks += int(fields[11]) + int(fields[12])
    ticks += sum(int(v) for v in own[11:15])  # utime, stime, and the ended children's
    return ticks / os.sysconf("SC_CLK_TCK")


def database_reads(url: str) -> int | None:
    """Pages the database server has read from outside its own cache so far: on MariaDB
    ``Innodb_buffer_pool_reads`` (the whole server's; InnoDB reads with ``O_DIRECT`` by default,
    so each is a read from the disk), on PostgreSQL this database's ``blks_read`` (from the
    system's page cache or the disk); None on SQLite. The difference over a timed run tells
    whether its figures include waiting for the disk."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return int(conn.execute(text(
                    "SELECT blks_read FROM pg_stat_database WHERE datname = current_database()")).scalar() or 0)
            if engine.dialect.name in ("mysql", "mariadb"):
                row = conn.execute(text("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")).first()
                return int(row[1]) if row else None
            return None
    finally:
        engine.dispose()


def row_lock_waits(url: str) -> tuple[int, float] | None:
    """How many times transactions have waited for another's row lock so far, and the
    milliseconds they waited, on MariaDB (``Innodb_row_lock_waits``, ``Innodb_row_lock_time``:
    the whole server's); None elsewhere. What serialises concurrent writers shows here."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        if engine.dialect.name not in ("mysql", "mariadb"):
            return None
        with engine.connect() as conn:
            status = dict(conn.execute(text(
                "SHOW GLOBAL STATUS WHERE variable_name IN ('Innodb_row_lock_waits', 'Innodb_row_lock_time')")).all())
    finally:
        engine.dispose()
    return int(status["Innodb_row_lock_waits"]), float(status["Innodb_row_lock_time"])


def _proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (state first, then ppid...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


INDEX_TABLES = ("search_postings", "search_records", "search_record_terms", "search_blocks", "search_segments",
                "search_reversed_terms")


def index_size_mb(url: str) -> float:
    """Disk space of the search index's tables (rows and their B-trees), in MB: what stands beside
    Zebra's register. The records themselves (biblio_metadata) are the catalogue, not counted."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                total = sum(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": t}).scalar() or 0
                            for t in INDEX_TABLES)
            elif engine.dialect.name in ("mysql", "mariadb"):
                conn.execute(text("ANALYZE TABLE " + ", ".join(INDEX_TABLES)))
                total = conn.execute(text(
                    "SELECT SUM(data_length + index_length) FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_name IN :names").bindparams(
                        __import__("sqlalchemy").bindparam("names", expanding=True)),
                    {"names": list(INDEX_TABLES)}).scalar() or 0
            else:  # SQLite: pages of the tables and of their indexes (the dbstat table)
                names = ", ".join(f"'{t}'" for t in INDEX_TABLES)
                total = conn.execute(text(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master "
                    f"WHERE tbl_name IN ({names}))")).scalar() or 0
    finally:
        engine.dispose()
    return int(total) / 1e6


def folder_size_mb(folder: str, prefixes: tuple[str, ...] = ()) -> float:
    """Size of the files in a folder (those whose names start with one of ``prefixes``, if given)."""
    total = 0
    for name in os.listdir(folder):
        if not prefixes or name.startswith(prefixes):
            total += os.path.getsize(os.path.join(folder, name))
    return total / 1e6
