"""`kohaweb serve --workers N`: several waitress processes on one socket, supervised."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from kohaweb.testing import TEST_SECRET, free_port

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}


def _get(url: str) -> bytes:
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_serve_with_two_workers_restarts_a_dead_one_and_stops_on_sigterm(tmp_path, database_url, clean_db):
    if not os.path.exists("/proc/self/task"):
        pytest.skip("needs /proc to see the worker processes")
    port = free_port()
    ini = tmp_path / "serve.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {database_url}\n"
                   f"kohaweb.secret = {TEST_SECRET}\nkohaweb.services = status\n\n"
                   f"[server:main]\nuse = egg:waitress#main\nlisten = 127.0.0.1:{port}\nthreads = 2\n")
    server = subprocess.Popen([sys.executable, "-m", "kohaweb.cli", "-c", str(ini), "serve", "--workers", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _get(f"http://127.0.0.1:{port}/")
        workers = _children(server.pid)
        assert len(workers) == 2
        os.kill(next(iter(workers)), signal.SIGKILL)
        for _ in range(50):
            now = _children(server.pid)
            if len(now) == 2 and now != workers:
                break
            time.sleep(0.1)
        assert len(now) == 2 and now != workers  # the dead worker was replaced
        _get(f"http://127.0.0.1:{port}/")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        for pid in now:
            assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
