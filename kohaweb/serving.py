"""Serving with waitress in one or several processes.

One Python process runs one thread of Python at a time, so a busy site on a multi-core machine
serves from several processes. They share one listening socket, opened before forking; each
process builds its own application (and so its own database connections) after the fork. The
parent only supervises: it restarts a process that died and stops them all on SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any


def listening_socket(listen: str) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (``[::1]:port`` for IPv6)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock


def serve(make_app: Callable[[], Any], sock: socket.socket, *, workers: int = 1, **waitress_options: Any) -> None:
    """Serve ``make_app()`` on ``sock`` with waitress in ``workers`` processes (1: this one)."""
    from waitress import serve as waitress_serve

    if workers <= 1:
        waitress_serve(make_app(), sockets=[sock], **waitress_options)
        return
    children: dict[int, int] = {}  # pid -> slot
    stopping = False

    def start(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: default signal handling, its own app and connections
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                waitress_serve(make_app(), sockets=[sock], **waitress_options)
            finally:
                os._exit(0)
        children[pid] = slot

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(workers):
        start(slot)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot = children.pop(pid, None)
        if slot is not None and not stopping:
            print(f"kohaweb: worker {pid} exited ({status}); starting another", file=sys.stderr, flush=True)
            time.sleep(1)  # a worker that dies at start-up must not spin
            start(slot)
