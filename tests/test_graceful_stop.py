"""Stopping a server drops no request: on SIGTERM it stops accepting, answers what it received
and exits (kohaweb.serving), in one process and in several."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from kohaweb.testing import free_port

# what this checks does not depend on the database: run once, on the SQLite pass of the suite
pytestmark = pytest.mark.skipif(os.environ.get("KOHAWEB_TEST_DATABASE", "sqlite") != "sqlite",
                                reason="independent of the database: checked on the SQLite pass")

SERVER = """
import sys, time
from kohaweb.serving import listening_socket, serve


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(environ["QUERY_STRING"] or 2))
    body = b"done " + environ["PATH_INFO"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

sock = listening_socket("127.0.0.1:" + sys.argv[1])
print("ready", flush=True)
serve(lambda: app, sock, workers=int(sys.argv[2]), grace=float(sys.argv[3]), threads=4)
print("stopped", flush=True)
"""


def _start(tmp_path: Path, workers: int, grace: float = 30) -> tuple[subprocess.Popen, str]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    process = subprocess.Popen([sys.executable, str(script), str(port), str(workers), str(grace)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout.readline().strip() == "ready"
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # the workers build their app after the fork
        try:
            urllib.request.urlopen(base + "/ping", timeout=5).read()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return process, base


def _get_later(url: str, results: list) -> threading.Thread:
    def get() -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                results.append((response.status, response.read()))
        except OSError as exc:
            results.append(exc)

    thread = threading.Thread(target=get)
    thread.start()
    return thread


@pytest.mark.parametrize("workers", [1, 2])
def test_requests_in_flight_are_answered_and_new_ones_refused(tmp_path, workers):
    process, base = _start(tmp_path, workers)
    try:
        results: list = []
        threads = [_get_later(f"{base}/slow?1.5", results) for _ in range(3)]
        time.sleep(0.5)  # the requests have arrived and are being answered
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        assert results == [(200, b"done /slow")] * 3, results
        output = process.communicate(timeout=30)[0]
        assert process.returncode == 0 and output.strip().endswith("stopped"), output
        assert "Traceback" not in output, output
        with pytest.raises(OSError):  # nobody listens any more
            urllib.request.urlopen(base + "/ping", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()


def test_a_request_longer_than_the_grace_period_is_cut(tmp_path):
    process, base = _start(tmp_path, 1, grace=1)
    try:
        results: list = []
        thread = _get_later(f"{base}/slow?20", results)
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        thread.join(30)
        assert time.monotonic() - started < 15  # bounded by the grace period, not the request
        assert results and isinstance(results[0], Exception)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
