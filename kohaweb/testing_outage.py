"""Test support: a database outage on demand, on SQLite, PostgreSQL and MariaDB alike.

``with outage_engine(database_url, tmp_path) as (engine, cut, restore):`` gives an engine on the
test database whose database can be taken away (``cut()``) and given back (``restore()``), for
tests of what services answer while it is away and that they recover without a restart.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from .db import make_engine


def _backend() -> str:
    return os.environ.get("KOHAWEB_TEST_DATABASE", "sqlite")


class TcpProxy:
    """A loopback TCP proxy to the database server that can be cut (every connection dropped,
    new ones refused) and restored on the same port: a database outage seen from the app."""

    def __init__(self, host: str, port: int):
        self.upstream = (host, port)
        self.port = 0
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.connections += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread: the port stops listening
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for sock in self.connections:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.connections.clear()

    def stop(self) -> None:
        self.cut()


@contextmanager
def outage_engine(database_url: str,
                  tmp_path: Path) -> Iterator[tuple[Engine, Callable[[], None], Callable[[], None]]]:
    """An engine on the test database whose database can be taken away and given back:
    ``(engine, cut, restore)``. PostgreSQL/MariaDB go through a TCP proxy that is cut; SQLite
    works on a copy of the database whose file disappears (every open connection closed first)."""
    url = make_url(database_url)
    if _backend() == "sqlite":
        copy = tmp_path / "outage.sqlite"
        source, target = sqlite3.connect(url.database), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        engine = make_engine(f"sqlite:///{copy}", creator=lambda: sqlite3.connect(
            f"file:{copy}?mode=rw", uri=True, check_same_thread=False, timeout=5))

        def cut():
            engine.dispose()
            os.rename(copy, tmp_path / "away.sqlite")

        def restore():
            os.rename(tmp_path / "away.sqlite", copy)

        try:
            yield engine, cut, restore
        finally:
            engine.dispose()
        return
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or (5432 if _backend() == "postgresql" else 3306))
    engine = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        yield engine, proxy.cut, proxy.start
    finally:
        engine.dispose()
        proxy.stop()
