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


def _ini(tmp_path, database_url: str, listen: str):
    ini = tmp_path / "serve.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {database_url}\n"
                   f"kohaweb.secret = {TEST_SECRET}\nkohaweb.services = status\n\n"
                   f"[server:main]\nuse = egg:waitress#main\nlisten = {listen}\nthreads = 2\n")
    return ini


def test_serve_announces_the_bound_address_and_its_sign_in_page(tmp_path, database_url, clean_db):
    port = free_port()
    ini = _ini(tmp_path, database_url, f"127.0.0.1:{port}")
    server = subprocess.Popen([sys.executable, "-m", "kohaweb.cli", "-c", str(ini), "serve"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith(f"serving on http://127.0.0.1:{port} ")
        assert f"http://127.0.0.1:{port}/login" in line
        assert b"status" in _get(f"http://127.0.0.1:{port}/")
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_busy_port_is_one_line_naming_the_setting(tmp_path, database_url, clean_db):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        ini = _ini(tmp_path, database_url, f"127.0.0.1:{port}")
        done = subprocess.run([sys.executable, "-m", "kohaweb.cli", "-c", str(ini), "serve"],
                              capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert done.returncode != 0 and "Traceback" not in done.stderr
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"cannot listen on 127.0.0.1:{port}" in message and "listen = host:port" in message
    assert str(ini) in message


def test_pserve_runs_kohawebs_waitress_from_the_server_section(tmp_path, database_url, clean_db):
    """``use = egg:kohaweb`` in [server:main] (as development.ini and production.ini say): pserve
    serves with waitress and kohaweb's connection, the options of the section applied."""
    port = free_port()
    ini = tmp_path / "pserve.ini"
    ini.write_text(f"[app:main]\nuse = egg:kohaweb\nkohaweb.database_url = {database_url}\n"
                   f"kohaweb.secret = {TEST_SECRET}\nkohaweb.services = status\n\n"
                   f"[server:main]\nuse = egg:kohaweb\nlisten = 127.0.0.1:{port}\nthreads = 2\n"
                   f"ident = kohaweb-test\n")
    pserve = os.path.join(os.path.dirname(sys.executable), "pserve")
    server = subprocess.Popen([pserve, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert b"status" in _get(f"http://127.0.0.1:{port}/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.headers["Server"] == "kohaweb-test"  # the section's option reached waitress
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_server_runner_gives_every_listener_kohawebs_connection():
    from waitress.server import create_server

    from kohaweb.serving import _use_channel

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    server = create_server(app, listen=f"127.0.0.1:{free_port()} 127.0.0.1:{free_port()}")
    try:
        _use_channel(server)
        listeners = [d for d in server.map.values() if hasattr(d, "channel_class")]
        assert len(listeners) == 2
        assert all(d.channel_class.__module__ == "kohaweb.serving" for d in listeners)
    finally:
        server.close()


_FAULTS_OF_BIG_ARRAYS = """
import resource, sys
import numpy as np
from kohaweb.serving import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def search():  # as a common word's search: several arrays of megabytes at once, then all freed
    arrays = [np.ones(2_000_000) for _ in range(4)]
    return sum(float(a.sum()) for a in arrays)
search()  # the first time every page is new in any case
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    search()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(how: str, **environment: str) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", _FAULTS_OF_BIG_ARRAYS, how], capture_output=True, text=True,
                          env={**os.environ, **environment}, check=True)
    kept, faults = done.stdout.split()
    return kept, int(faults)


def test_a_serving_process_keeps_the_memory_a_request_frees():
    kept, faults = _faults("keep")
    if kept != "True":
        pytest.skip("this C library has no mallopt (not glibc)")
    # 20 searches of 64 MB: kept, the first one's pages serve all the others
    assert faults < 500, faults
    _, by_default = _faults("default")
    # glibc's default gives back a heap top of more than twice its largest block (here 16 MB),
    # and the next search faults those pages in again (about 1,800 a search here)
    assert by_default > 20 * 500, by_default


def test_glibcs_own_variables_are_left_to_decide():
    kept, _ = _faults("keep", MALLOC_TRIM_THRESHOLD_="131072")
    assert kept == "False"
