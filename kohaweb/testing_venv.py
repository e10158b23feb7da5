"""Virtualenvs for the packaging tests: the distributions built as wheels from this tree (not the
editable install, which hides files missing from a wheel), installed in a fresh virtualenv, and
a site served from it as an administrator runs one.

Building is the slow part. ``pip wheel`` with build isolation makes a new build environment for
every project, installing setuptools and wheel ten times over; :class:`BuildBackend` installs the
build requirements the projects declare (``[build-system] requires``) once, in a folder of their
own, and builds every wheel against it (``--no-build-isolation``): the declared backend, one install.
The virtualenv is made without pip (seconds rather than the tens ensurepip takes); this
environment's pip installs into it (``pip --python``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# what a build leaves next to its sources, and what a wheel never holds
IGNORED = shutil.ignore_patterns(".venv", ".git", "build", "var", "*.egg-info", "__pycache__", "plugins",
                                 "tests", "bench", "docs")


def run(*args: str | os.PathLike, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """Run a command (with no PYTHONPATH of ours unless ``env`` gives one); its stdout, or an
    AssertionError showing both outputs when it fails."""
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": "",
                                 **(env or {})})
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET",
          data: bytes | None = None) -> tuple[int, str]:
    """(status, body) of an HTTP request, error statuses included."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def copy_sources(source: Path, target: Path) -> Path:
    """A clean copy of a project to build from (a build writes build/ and *.egg-info next to its
    sources, and a stale build/lib could slip deleted modules into a wheel). Files that vanish
    while being copied (an editor's temporary file in a shared checkout) are left out."""

    def copy_if_present(src: str, dst: str) -> None:
        try:
            shutil.copy2(src, dst)
        except FileNotFoundError:
            pass

    shutil.copytree(source, target, ignore=IGNORED, copy_function=copy_if_present)
    return target


def build_requirements(projects: Iterable[Path]) -> set[str]:
    """The ``[build-system] requires`` of the projects' pyproject.toml files, together."""
    requirements: set[str] = set()
    for project in projects:
        pyproject = project / "pyproject.toml"
        declared = tomllib.loads(pyproject.read_text())["build-system"]["requires"] if pyproject.is_file() else []
        requirements.update(declared or ["setuptools>=40.8.0"])  # pip's default without a pyproject.toml
    return requirements


@dataclass
class BuildBackend:
    """A folder holding the build requirements (installed with ``pip install --target``), put on
    PYTHONPATH for ``pip wheel --no-build-isolation``; requirements are added as projects need them."""

    folder: Path
    installed: set[str] = field(default_factory=set)

    def build_wheels(self, projects: Sequence[Path], wheelhouse: Path) -> list[Path]:
        """One wheel per project, built into ``wheelhouse``; returns their paths."""
        missing = build_requirements(projects) - self.installed
        if missing:
            run(sys.executable, "-m", "pip", "install", "-q", "--target", self.folder, *sorted(self.installed | missing),
                cwd=self.folder.parent)
            self.installed |= missing
        before = set(wheelhouse.glob("*.whl"))
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheelhouse,
            *projects, cwd=wheelhouse.parent, env={"PYTHONPATH": str(self.folder)})
        built = sorted(set(wheelhouse.glob("*.whl")) - before)
        assert len(built) == len(projects), [p.name for p in built]
        return built


def new_virtualenv(path: Path, *site_dirs: Path) -> Path:
    """A fresh virtualenv without pip; returns its python. ``site_dirs`` (site-packages folders of
    other environments) are added after its own, in that order, through a .pth file."""
    run(sys.executable, "-m", "venv", "--without-pip", path, cwd=path.parent)
    python = path / "bin" / "python"
    if site_dirs:
        lines = "".join(f"import site; site.addsitedir({str(d)!r})\n" for d in site_dirs)
        (site_packages(python) / "kohaweb_layered_packages.pth").write_text(lines)
    return python


def site_packages(python: Path) -> Path:
    """The site-packages folder of the environment ``python`` belongs to."""
    return Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=python.parent)
                .strip())


def this_site_packages() -> Path:
    """This environment's site-packages (pytest and the other tools of the suite)."""
    return Path(sysconfig.get_paths()["purelib"])


def pip_install(python: Path, *requirements: str | os.PathLike, deps: bool = True) -> None:
    """Install into the environment of ``python`` with this environment's pip."""
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", *([] if deps else ["--no-deps"]),
        *requirements, cwd=python.parent)


@dataclass
class InstalledWheels:
    """A virtualenv holding the wheels of the core and every plugin, with their dependencies."""

    venv: Path
    python: Path
    wheels: list[Path]
    backend: BuildBackend


def install_core_and_plugins(root: Path, work: Path) -> InstalledWheels:
    """Build the wheels of the checkout at ``root`` (the core and plugins/*) from clean copies under
    ``work`` and install them, dependencies resolved by pip, in a fresh virtualenv there."""
    sources = [copy_sources(root, work / "src" / "kohaweb")]
    for plugin in sorted(p.parent for p in root.glob("plugins/*/setup.cfg")):
        sources.append(copy_sources(plugin, work / "src" / plugin.name))
    wheelhouse = work / "wheelhouse"
    wheelhouse.mkdir()
    (work / "build-backend").mkdir()
    backend = BuildBackend(work / "build-backend")
    wheels = backend.build_wheels(sources, wheelhouse)
    python = new_virtualenv(work / "venv")
    pip_install(python, *wheels)
    return InstalledWheels(work / "venv", python, wheels, backend)


@dataclass
class ServerProcess:
    """A ``kohaweb serve`` process; ``output`` is what it printed, once it has stopped."""

    process: subprocess.Popen
    base_url: str
    output: str = ""


@contextmanager
def serving(command: Sequence[str | os.PathLike], cwd: Path, base_url: str,
            timeout: float = 60) -> Iterator[ServerProcess]:
    """Start ``command`` (a server listening at ``base_url``), wait until /status/health answers
    200, and stop it (SIGTERM) afterwards."""
    process = subprocess.Popen([str(a) for a in command], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": ""})
    server = ServerProcess(process, base_url)
    deadline = time.monotonic() + timeout
    while not _healthy(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(server)
            raise AssertionError(f"the server did not start:\n{server.output}")
        time.sleep(0.1)
    try:
        yield server
    finally:
        _stop(server)


def _healthy(base_url: str) -> bool:
    try:
        return fetch(f"{base_url}/status/health")[0] == 200
    except OSError:
        return False


def _stop(server: ServerProcess) -> None:
    if server.process.poll() is None:
        server.process.terminate()
    try:
        server.output = server.process.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.output = server.process.communicate()[0]
