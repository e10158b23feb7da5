"""Misbehaving OAI-PMH sources for the harvester's limit tests: real TCP servers in threads that
answer Identify properly, then misbehave on ListRecords (say nothing, send without end, trickle,
announce a huge body)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

OAI = "http://www.openarchives.org/OAI/2.0/"
IDENTIFY = (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="{OAI}"><responseDate>2026-11-01T10:00:00Z'
            '</responseDate><request verb="Identify">http://hostile/oai</request><Identify><repositoryName>Hostile'
            '</repositoryName><baseURL>http://hostile/oai</baseURL><protocolVersion>2.0</protocolVersion>'
            '<adminEmail>a@example.org</adminEmail><earliestDatestamp>2000-01-01T00:00:00Z</earliestDatestamp>'
            '<deletedRecord>no</deletedRecord><granularity>YYYY-MM-DDThh:mm:ssZ</granularity></Identify>'
            '</OAI-PMH>').encode()
LIST_HEAD = (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="{OAI}"><responseDate>2026-11-01T10:00:00Z'
             '</responseDate><request verb="ListRecords">http://hostile/oai</request><ListRecords>').encode()
RECORD = (b"<record><header><identifier>oai:hostile:1</identifier><datestamp>2026-01-01T00:00:00Z</datestamp>"
          b"</header></record>")


def http_head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: text/xml; charset=utf-8", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class HostileSource:
    """``with HostileSource(on_list) as url:`` — ``on_list(conn, stopped)`` answers ListRecords."""

    def __init__(self, on_list: Callable[[socket.socket, threading.Event], None]):
        self.on_list = on_list
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)  # accept() wakes up to see the end of the test
        self.stopped = threading.Event()
        self.connections: list[socket.socket] = []
        self.list_requests = 0
        self.sent = 0  # body bytes sent to ListRecords requests
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> str:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self.threads.append(thread)
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/oai"

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.threads[0].join(timeout=5)
        self.listener.close()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            if b"verb=Identify" in head:
                conn.sendall(http_head(Content_Length=str(len(IDENTIFY))) + IDENTIFY)
                return
            self.list_requests += 1
            self.on_list(conn, self.stopped)
        except OSError:  # the harvester hung up: what these tests expect
            return

    # --- behaviours ---------------------------------------------------------------------------

    @classmethod
    def silent(cls) -> HostileSource:
        """Accepts the connection, reads the request, never answers."""
        return cls(lambda conn, stopped: stopped.wait())

    @classmethod
    def endless(cls) -> HostileSource:
        """A well-formed beginning, then records without end (no Content-Length)."""
        def send(conn, stopped):
            conn.sendall(http_head() + LIST_HEAD)
            block = RECORD * 500
            while not stopped.is_set():
                conn.sendall(block)
                source.sent += len(block)

        source = cls(send)
        return source

    @classmethod
    def trickle(cls, interval: float = 0.05) -> HostileSource:
        """Answers at once, then one byte of whitespace at a time, never ending."""
        def send(conn, stopped):
            conn.sendall(http_head() + LIST_HEAD)
            while not stopped.wait(interval):
                conn.sendall(b" ")

        return cls(send)

    @classmethod
    def announces(cls, length: int) -> HostileSource:
        """Announces a body of ``length`` bytes, then waits."""
        def send(conn, stopped):
            conn.sendall(http_head(Content_Length=str(length)) + LIST_HEAD)
            stopped.wait()

        return cls(send)


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> bool:
    """Poll ``condition`` (for work done by other threads); the caller asserts on the result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
