"""Transfer benchmark: ci-ml's S3 cache against awscli, s5cmd and DVC, on one local moto server.

Usage: .venv/bin/python benchmarks/transfer.py [--big-gib 1] [--small-count 5000]
       [--small-kib 20] [--repeat 3] [--out benchmarks/results-transfer.json]

Two data sets (one big file; many small files in a directory), three operations each (push to
an empty bucket, a second push with nothing changed, pull into an empty workspace), four tools;
for ci-ml also a second push that checks every object is still there (ci-ml itself does not).
Every client runs in its own process under GNU time, so wall time, CPU time (user + sys of the
client's process tree) and peak RSS are measured the same way for all of them, ci-ml included.
Run it with ci-ml's interpreter: the moto server and ci-ml's side run on it. awscli, s5cmd and
dvc[s3] are installed into .bench/transfer/venv when missing. benchmarks/README.md ("Transfers")
says what the numbers mean and what they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transfer_cases import make_cases
from transfer_measure import TIME, Moto, bench_tool
from transfer_model import Case, Measurement, Settings, log
from transfer_report import render_markdown, render_verdicts, verdicts
from transfer_tools import TOOLS, Dvc, command_output, ensure_peers

ROOT = Path(__file__).resolve().parents[1]


def machine_info(settings: Settings) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    bin_dir = settings.peers / "bin"
    moto = command_output(
        [sys.executable, "-c", "import moto, boto3; print(moto.__version__, boto3.__version__)"]
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "moto_boto3": moto,
        "awscli": command_output([str(bin_dir / "aws"), "--version"]),
        "s5cmd": command_output([str(bin_dir / "s5cmd"), "version"]),
        "dvc": command_output([str(bin_dir / "dvc"), "--version"]),
        "loadavg_start": list(os.getloadavg()),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--big-gib", type=float, default=1.0, help="big file (default: 1)")
    parser.add_argument("--small-count", type=int, default=5000, help="small files (default: 5000)")
    parser.add_argument("--small-kib", type=float, default=20, help="small file size (default: 20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default: 3)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds before a run is killed (default: 300)"
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset (default: all)"
    )
    parser.add_argument("--cases", default="big,small", help="big, small or both (default: both)")
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=0,
        help="network round trip added by a relay in front of moto (default: 0, none)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / ".bench" / "transfer",
        help="work area: data, peers' venv, DVC repos (default: .bench/transfer)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results-transfer.json",
        help="JSON results (default: benchmarks/results-transfer.json)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    if not TIME.exists():
        raise SystemExit(
            f"{TIME} (GNU time) is needed to measure CPU and RSS: apt-get install time"
        )
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    compile_ci_ml()
    peers = ensure_peers(work / "venv")
    cases = make_cases(
        work,
        big=int(args.big_gib * 2**30),
        small_count=args.small_count,
        small_size=int(args.small_kib * 1024),
    )
    cases = [c for c in cases if c.name in args.cases.split(",")]
    server = Moto(work / "moto.log", rtt_ms=args.rtt_ms)
    try:
        settings = Settings(
            work=work,
            repeat=args.repeat,
            timeout_s=args.timeout,
            endpoint=server.client_url,
            peers=peers,
        )
        document = run_all(settings, cases, args.tools.split(","), server, args)
    finally:
        server.stop()
    _write_json(args.out, document)
    print(document["markdown"])
    print()
    print(render_verdicts(document["targets"]))
    return 0


def run_all(
    settings: Settings, cases: Sequence[Case], tools: Sequence[str], server: Moto, args: Any
) -> dict[str, Any]:
    started = time.perf_counter()
    document: dict[str, Any] = {
        "machine": machine_info(settings),
        "args": {k: str(v) for k, v in vars(args).items()},
        "cases": [{**asdict(c), "root": str(c.root)} for c in cases],
    }
    results: list[Measurement] = []
    problems: dict[str, str] = {}
    token = secrets.token_hex(3)
    for case in cases:
        for name in tools:
            tool = TOOLS[name](settings)
            if isinstance(tool, Dvc):
                tool.build(case)
            log(f"{case.label}: {name}")
            found, problem = bench_tool(tool, case, settings=settings, server=server, token=token)
            results += found
            if problem:
                problems[f"{name} {case.name}"] = problem
            document["results"] = [asdict(m) for m in results]
            _write_json(args.out, document)  # partial results survive a crash
    server.fresh_bucket(f"end-{token}")  # frees the server's memory before it stops
    document["results"] = [asdict(m) for m in results]
    document["wrong_data"] = problems
    document["targets"] = verdicts(results)
    document["machine"]["loadavg_end"] = list(os.getloadavg())
    document["total_s"] = round(time.perf_counter() - started, 1)
    document["markdown"] = render_markdown(results, cases)
    return document


def compile_ci_ml() -> None:
    """Write the bytecode of the ci-ml that is measured, as installing a wheel does: an
    editable install under PYTHONDONTWRITEBYTECODE compiles every module on every import
    (the action's venv has it after the first ci-ml command of a job)."""
    import compileall

    import ci_ml

    compileall.compile_dir(Path(ci_ml.__file__).parent, quiet=1)


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
