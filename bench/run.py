"""Run every benchmark in bench/ at a small size and print the figures (a few minutes in all).

Each bench_*.py is a standalone script with --help; use it directly for larger catalogues, or
``run.py --full`` to run each with its own defaults. The catalogues are realistic records
(bench/realistic.py) wherever ../shared/data is present; ``run.py --generator sample`` (passed on
to the benches that load catalogues) uses kohaweb.sampledata's instead.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Small sizes for the quick run; benches not listed run with their own (small) defaults.
QUICK = {
    "bench_import.py": ["--records", "2000", "--backends", "sqlite"],
    "bench_oai.py": ["--records", "2000"],
    "bench_harvest.py": ["--records", "1000"],
    "bench_sru.py": ["--records", "2000", "--per-kind", "5", "--sample", "2000"],
    "bench_edits.py": ["--records", "2000", "--edits", "50"],
    "bench_writers.py": ["--base", "2000", "--each", "1000", "--backends", "sqlite"],
}
LOADS_CATALOGUES = {"bench_import.py", "bench_oai.py", "bench_harvest.py", "bench_sru.py"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="each bench's own default sizes")
    parser.add_argument("--generator", choices=("real", "sample"), help="records of the catalogue benches")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed to each bench")
    args = parser.parse_args()
    failures = 0
    for script in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        name = os.path.basename(script)
        extra = [] if args.full else QUICK.get(name, [])
        if args.generator and name in LOADS_CATALOGUES:
            extra = [*extra, "--generator", args.generator]
        print(f"== {name} {' '.join(extra)}".rstrip(), flush=True)
        try:
            failures += subprocess.call([sys.executable, script, *extra], timeout=args.timeout) != 0
        except subprocess.TimeoutExpired:
            print(f"!! {name} did not finish in {args.timeout} s", flush=True)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
