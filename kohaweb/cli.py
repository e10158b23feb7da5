"""The ``kohaweb`` command. Sub-commands come from the ``register_commands`` hook (the
``kohaweb.commands`` entry points, the core's own included, and ``kohaweb.plugins`` plugins),
so a plugin adds ``kohaweb oai build-sets`` exactly as the core adds
``kohaweb import``. Each sub-command's handler receives the parsed arguments and a ``Cli`` object
that loads the site (ini settings, database) only when asked."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TextIO

from sqlalchemy.exc import DBAPIError

from . import plugins
from .settings import ConfigError


class Cli:
    def __init__(self, config_path: str, out: TextIO | None = None, err: TextIO | None = None):
        self.config_path = config_path
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    @cached_property
    def raw_settings(self) -> dict:
        import plaster

        if not os.path.exists(self.config_path):
            raise ConfigError([f"{self.config_path}: no such configuration file (use -c FILE)"])
        return dict(plaster.get_settings(self.config_path, "app:main"))

    @cached_property
    def site(self):
        from .app import build_site

        return build_site(self.raw_settings)[0]

    def transaction(self):
        from .db import transaction

        return transaction(self.site.session_factory)

    def catalog(self, session):
        from .catalog import Catalog

        return Catalog(session, self.site.core["marcflavour"])

    def progress(self, total: int | None = None, label: str = "records") -> Progress:
        return Progress(self.err, total, label)


class Progress:
    """Progress of a long command: a one-line bar redrawn at most every 0.2 s on a terminal;
    elsewhere (cron, systemd, a pipe) a plain line every ``interval`` seconds with the count, the
    rate and, when the total is known, the estimated time left."""

    def __init__(self, stream: TextIO, total: int | None, label: str, interval: float = 10.0):
        self.stream, self.total, self.label, self.interval = stream, total, label, interval
        self.done = 0
        self.started = self._last = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.tty and now - self._last >= 0.2:
            self._last = now
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif not self.tty and now - self._last >= self.interval:
            self._last = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-9)

    def eta(self) -> str:
        if not self.total or not self.done:
            return ""
        left = max(self.total - self.done, 0) / max(self.rate, 1e-9)
        return f", {int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d} left"

    def line(self) -> str:
        if self.total and self.tty:
            width = 30
            filled = min(int(width * self.done / self.total), width)
            bar = "#" * filled + "-" * (width - filled)
            return f"[{bar}] {self.done}/{self.total} {self.label} {self.rate:,.0f}/s{self.eta()}"
        if self.total:
            return f"{self.done}/{self.total} {self.label} {self.rate:,.0f}/s{self.eta()}"
        return f"{self.done} {self.label} {self.rate:,.0f}/s"

    def finish(self) -> None:
        self.stream.write(("\r" if self.tty else "") + self.line() + "\n")
        self.stream.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kohaweb", description="kohaweb library web services")
    parser.add_argument("-c", "--config", default=os.environ.get("KOHAWEB_INI", "development.ini"),
                        help="ini file (default: $KOHAWEB_INI or development.ini)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    plugins.register_commands(sub)  # the register_commands hook (kohaweb.commands entry points included)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli = Cli(args.config)
    try:
        return args.func(args, cli) or 0
    except ConfigError as exc:
        sys.stderr.write("kohaweb: configuration error\n" + "".join(f"  {p}\n" for p in exc.problems))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except BrokenPipeError:
        # the reader went away (`kohaweb library list | head`): not an error of ours; stdout is
        # pointed at devnull so the interpreter's final flush does not complain again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except DBAPIError as exc:
        from .limits import database_unavailable, database_unreachable, error_reason

        # the first error may be hidden behind what failed after it: SQLite rolls a transaction
        # back by itself when its disk is full, so the savepoint's own rollback then fails too
        cause = next((e for e in _chain(exc) if database_unavailable(e)), None)
        if cause is not None:
            what = "cannot be reached" if database_unreachable(cause) else "cannot be used just now"
            sys.stderr.write(f"kohaweb: the database {what} ({error_reason(cause)}); "
                             f"what was committed before stays\n")
            return 1
        if _not_migrated(cli):
            sys.stderr.write("kohaweb: the database is not migrated: run kohaweb db upgrade (or kohaweb init)\n")
            return 1
        raise
    except CommandError as exc:
        sys.stderr.write(f"kohaweb: {exc}\n")
        return 1


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, first one last."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return chain


def _not_migrated(cli: Cli) -> bool:
    """Whether the database lacks the installed migrations (a command's SQL then fails on missing
    tables or columns, which deserves one line, not a traceback)."""
    from .views.health import readiness

    try:
        return readiness(cli.site)["migrations"] != "ok"
    except Exception:  # noqa: BLE001  (the original error is the one worth showing)
        return False


class CommandError(Exception):
    """A failure a command reports in one line (exit status 1)."""


if __name__ == "__main__":
    # `python -m kohaweb.cli`: run the imported module's main, so that the commands' CommandError
    # (kohaweb.cli.CommandError) is the class this main catches, not a second __main__ copy
    from kohaweb.cli import main as imported_main

    raise SystemExit(imported_main())
