"""Run every benchmark in bench/ with its default (small) size and print the figures.

Each bench_*.py is a standalone script with --help; use it directly for larger catalogues.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    failures = 0
    for script in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        print(f"== {os.path.basename(script)}", flush=True)
        failures += subprocess.call([sys.executable, script]) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
