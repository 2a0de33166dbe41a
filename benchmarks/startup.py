"""Start-up benchmark: `ci-ml --version`, `--help` and `plan --help` against a bare interpreter.

Usage: .venv/bin/python benchmarks/startup.py [--runs 11] [--ci-ml .venv/bin/ci-ml]

Runs each command `--runs` times, interleaved, and prints the median wall time and how much
it adds to `python -c pass` (the same interpreter). The target is at most 0.15 s more.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--ci-ml", type=Path, default=ROOT / ".venv" / "bin" / "ci-ml")
    args = parser.parse_args()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "ci-ml --version": [str(args.ci_ml), "--version"],
        "ci-ml --help": [str(args.ci_ml), "--help"],
        "ci-ml plan --help": [str(args.ci_ml), "plan", "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, cwd="/")
            times[name].append(time.perf_counter() - start)
    bare = statistics.median(times["python -c pass"])
    print("| command | median wall | over `python -c pass` | target |")
    print("|---|---:|---:|---|")
    for name, runs in times.items():
        median = statistics.median(runs)
        verdict = (
            "" if name.startswith("python") else ("pass" if median - bare <= TARGET_S else "FAIL")
        )
        print(f"| `{name}` | {median:.3f} s | +{median - bare:.3f} s | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
