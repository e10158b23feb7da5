"""Serving with waitress in one or several processes.

One Python process runs one thread of Python at a time, so a busy site on a multi-core machine
serves from several processes. They share one listening socket, opened before forking; each
process builds its own application (and so its own database connections) after the fork. The
parent only supervises: it restarts a process that died and stops them all on SIGTERM/SIGINT.

Stopping is graceful, so a deployment or a restart drops no request: on SIGTERM (or SIGINT) a
process stops accepting connections, finishes the requests it has received and sends their
answers, closes its idle keep-alive connections and exits; after ``grace`` seconds it exits
anyway. The parent closes its copy of the listening socket first, so the kernel refuses new
connections at once (the load balancer sends them to another instance) instead of queueing them
for nobody.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

# glibc's malloc (mallopt's parameter numbers, from malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc takes on 64-bit systems
TRIM_THRESHOLD = 256 * 1024 * 1024
_MALLOC_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory a request frees for the next request, rather than
    hand it back to the system and fault it in again.

    A search of a common word allocates arrays of megabytes (its posting lists, scores for every
    hit) and frees them when it answers. By default glibc returns such blocks to the system
    (``munmap``, or trimming the heap's top), so the next such search takes every page again as
    a fresh zeroed page: on 1M realistic records a ranked common word caused 3,800 page faults
    (15 MB) and spent half of its ranking time in them (15 -> 7 ms with the memory kept). Blocks
    up to ``MMAP_THRESHOLD`` now come from the heap, and up to ``TRIM_THRESHOLD`` of free heap
    is kept: a serving process's memory stays at its busiest level (within that much), as
    most long-running servers' does. Left to the environment when it sets glibc's own
    variables for these (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``); nothing is
    done where the C library has no ``mallopt`` (macOS) or refuses it. Returns whether both
    were set."""
    if any(name in os.environ for name in _MALLOC_ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    # both or neither: setting one stops glibc adjusting the other by itself, which then stays
    # at its small default (measured: either alone faulted as many pages, or twice as many)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


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


def serve(make_app: Callable[[], Any], sock: socket.socket, *, workers: int = 1, grace: float = 30.0,
          **waitress_options: Any) -> None:
    """Serve ``make_app()`` on ``sock`` with waitress in ``workers`` processes (1: this one),
    each stopping gracefully (within ``grace`` seconds) on SIGTERM/SIGINT."""
    if workers <= 1:
        _serve_until_stopped(make_app(), sock, grace, waitress_options)
        return
    children: dict[int, int] = {}  # pid -> slot
    stopping = False

    def start(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: its own app, connections and signal handling
            try:
                _serve_until_stopped(make_app(), sock, grace, waitress_options)
            finally:
                os._exit(0)
        children[pid] = slot

    def stop(signum, frame) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            sock.close()  # new connections are refused from now on, not queued
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


def _serve_until_stopped(app: Any, sock: socket.socket, grace: float, options: dict[str, Any]) -> None:
    """waitress on ``sock`` until SIGTERM/SIGINT, then the graceful stop described above."""
    import logging

    from waitress import wasyncore
    from waitress.server import create_server

    logging.basicConfig()  # as waitress.serve: its own messages reach stderr when nothing else is set up
    keep_freed_memory()
    server = create_server(app, sockets=[sock], **options)
    _use_channel(server)
    stopping = threading.Event()

    def stop_accepting() -> None:  # runs in the server's loop thread (waitress's trigger)
        # the listener leaves the loop and this process's copy of the socket is closed
        # (the dispatcher's own close: waitress's server.close() would close the trigger too)
        wasyncore.dispatcher.close(server)

    def drain() -> None:
        _in_loop(server, stop_accepting)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _working(server):
            time.sleep(0.05)
        _in_loop(server, lambda: _leave_loop(server))

    def on_signal(signum, frame) -> None:
        # only a flag and a thread here: the handler may interrupt the loop while it holds the
        # trigger's lock, so the trigger is pulled from the drain thread
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=drain, name="kohaweb-drain", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.print_listen("Serving on http://{}:{}")
    server.run()  # returns once the loop has no channel left
    # requests still being answered (past the grace period) end before the trigger they pull closes
    server.task_dispatcher.shutdown(timeout=grace)
    try:
        server.trigger.close()
    except OSError:
        pass


def _channel_class() -> type:
    """waitress's connection, except that the loop thread leaves it alone while a task thread is
    writing to it.

    waitress's loop asks each connection whether it has output to send (``writable``) before each
    ``select``. A task thread writes an answer under the connection's output lock and sends it
    itself (``write_soon``); meanwhile the output is pending and the socket writable, so the
    loop's ``select`` returned at once, found the lock taken, and went round again: about 80
    turns per SRU answer, each taking the GIL the writing thread was waiting for. That was 0.4
    to 0.6 ms of CPU per request (of 1.6 to 1.9 ms for a one-record search) and stalls of a few
    ms for some answers. Here, while a task runs and its lock is held, the connection is not
    writable; the task thread wakes the loop (waitress's trigger) when it leaves output it
    could not send (a slow client), and at the end of every task as before. Above the
    high-water mark the loop flushes as before, since the task thread waits for it then."""
    from waitress.channel import HTTPChannel

    class Channel(HTTPChannel):
        def writable(self):
            if (self.requests and not self.will_close and not self.close_when_flushed
                    and self.total_outbufs_len <= self.adj.outbuf_high_watermark):
                if not self.outbuf_lock.acquire(False):
                    return False  # a task thread is writing; it sends what it writes
                self.outbuf_lock.release()
            return super().writable()

        def write_soon(self, data):
            written = super().write_soon(data)
            if self.total_outbufs_len and self.connected:
                self.server.pull_trigger()  # output left unsent: the loop sends it when it can
            return written

    return Channel


def _use_channel(server) -> None:
    """Make ``server`` (waitress's, one socket or several) open connections of ``_channel_class``."""
    from waitress.server import BaseWSGIServer

    listeners = [server] if isinstance(server, BaseWSGIServer) else [
        d for d in server.map.values() if isinstance(d, BaseWSGIServer)]
    channel = _channel_class()
    for listener in listeners:
        listener.channel_class = channel


def paste_server(app: Any, global_conf: Any = None, **options: Any) -> int:
    """PasteDeploy server runner: ``use = egg:kohaweb`` in ``[server:main]``, what ``pserve``
    runs. waitress with its options from that section, in this process, with kohaweb's connection
    (``_channel_class``). ``kohaweb serve`` reads the same section and adds worker processes and
    the graceful stop."""
    import logging

    from waitress.server import create_server

    logging.basicConfig()  # as waitress.serve
    keep_freed_memory()
    server = create_server(app, **options)
    _use_channel(server)
    server.print_listen("Serving on http://{}:{}")
    server.run()
    return 0


def _in_loop(server, thunk: Callable[[], None]) -> None:
    """Run ``thunk`` in the server's loop thread (waitress's trigger); nothing if the loop is gone."""
    try:
        server.trigger.pull_trigger(thunk)
    except OSError:
        pass


def _leave_loop(server) -> None:
    """Close every connection and take the trigger out of the loop, which then ends. The trigger's
    descriptors stay open until the worker threads are done, so a late answer can still pull it."""
    for channel in _channels(server):
        try:
            channel.handle_close()
        except OSError:
            pass
    server.trigger.del_channel()


def _channels(server) -> list:
    return [c for c in list(server._map.values()) if c is not server and c is not server.trigger]


def _working(server) -> bool:
    """Whether a request is queued or being answered, or an answer is not yet sent."""
    dispatcher = server.task_dispatcher
    with dispatcher.lock:
        if dispatcher.active_count or dispatcher.queue:
            return True
    return any(_busy(c) for c in _channels(server))


def _busy(channel) -> bool:
    """A connection with a request received or being answered (an idle keep-alive one is not)."""
    return bool(getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0)
                or getattr(channel, "request", None) is not None)
