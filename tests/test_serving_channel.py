"""The waitress connection `kohaweb serve` uses: its loop leaves a connection alone while a task
thread writes to it, and output a slow client could not take yet still reaches it."""

from __future__ import annotations

import socket
import threading
import time

from waitress.adjustments import Adjustments
from waitress.server import create_server

from kohaweb.serving import _channel_class
from kohaweb.testing import free_port


class _Server:
    """What a connection asks of its server here: to be woken."""

    def __init__(self):
        self.pulls = 0
        self.active_channels = {}

    def pull_trigger(self, thunk=None):
        self.pulls += 1

    def add_task(self, channel):
        pass


def _connection(**adjustments):
    ours, theirs = socket.socketpair()
    server = _Server()
    channel = _channel_class()(server, ours, ("127.0.0.1", 0), Adjustments(**adjustments), map={})
    return channel, server, theirs


def _held_elsewhere(lock):
    """A thread holds ``lock`` until the returned event is set."""
    taken, done = threading.Event(), threading.Event()

    def hold():
        with lock:
            taken.set()
            done.wait(10)

    threading.Thread(target=hold, daemon=True).start()
    assert taken.wait(10)
    return done


def test_a_connection_a_task_is_writing_to_is_not_writable_for_the_loop():
    channel, _, theirs = _connection()
    try:
        channel.requests = [object()]  # a task is answering
        channel.total_outbufs_len = 370  # and has written output the loop could send
        release = _held_elsewhere(channel.outbuf_lock)
        try:
            assert not channel.writable()  # waitress's own: True, and its loop spun on it
        finally:
            release.set()
        time.sleep(0.05)
        assert channel.writable()  # the lock is free: the loop sends what is left
    finally:
        channel.total_outbufs_len = 0
        channel.close()
        theirs.close()


def test_above_the_high_water_mark_or_when_closing_the_loop_flushes_as_waitress_does():
    channel, _, theirs = _connection(outbuf_high_watermark=1000)
    try:
        channel.requests = [object()]
        channel.total_outbufs_len = 5000  # the task thread waits for the loop to flush
        release = _held_elsewhere(channel.outbuf_lock)
        try:
            assert channel.writable()
            channel.total_outbufs_len = 10
            channel.close_when_flushed = True
            assert channel.writable()
        finally:
            release.set()
    finally:
        channel.total_outbufs_len = 0
        channel.close()
        theirs.close()


def test_output_left_unsent_wakes_the_loop():
    channel, server, theirs = _connection()
    try:
        theirs.setblocking(False)
        channel.requests = [object()]
        written = channel.write_soon(b"x" * 10)  # sent at once: nothing to wake the loop for
        assert written == 10 and channel.total_outbufs_len == 0 and server.pulls == 0
        big = b"y" * (8 << 20)  # more than the socket takes: some is left for the loop
        channel.write_soon(big)
        assert channel.total_outbufs_len > 0
        assert server.pulls >= 1
    finally:
        channel.requests = []
        channel.close()
        theirs.close()


def test_a_slow_reader_gets_a_long_streamed_answer_whole():
    """The task writes much more than the socket holds, then waits until the client has read it
    all before finishing: only the loop can send the rest meanwhile, so the answer would stall
    if the loop were not woken (the loop's own timeout is made long so it cannot rescue it)."""
    first = b"a" * (6 << 20)
    client_has_first = threading.Event()
    finished_in_time = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(first) + 3))])
        yield first
        finished_in_time.append(client_has_first.wait(20))
        yield b"end"

    port = free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=2, asyncore_loop_timeout=60)
    server.channel_class = _channel_class()
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            received = bytearray()
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                received += chunk
                if not client_has_first.is_set() and received.count(b"a") >= len(first):
                    client_has_first.set()
                time.sleep(0.001)  # a slow reader: the socket fills up
        assert received.endswith(b"a" * 1000 + b"end")
        assert finished_in_time == [True]
    finally:
        client_has_first.set()
        server.close()
