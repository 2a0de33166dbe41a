"""Planning benchmark: `ci-ml plan --base HEAD~1 --json` against `dvc status`.

Usage: python benchmarks/plan.py [--sizes 10,100,1000,10000] [--dvc-sizes 10,100,1000]
       [--data-gib 2] [--out benchmarks/results-plan.json]

Generated repositories, DVC's virtual environment and DVC's state live under `.bench/`
(gitignored). See benchmarks/README.md for what is measured and the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gen_pipeline as gen
import plan_report as report
from plan_measure import (
    Tools,
    ci_ml_env,
    compile_ci_ml,
    drop_page_cache,
    dvc_env,
    ensure_dvc,
    machine_info,
    measure,
    plan_cmd,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL_DATA = 200 << 20
DATA_STAGES, DATA_FILES = 10, 1000

# -- checks: is the answer right? ------------------------------------------------------------


def check_plan(repo: Path, spec: gen.RepoSpec, tools: Tools) -> list[str]:
    """Problems with ci-ml's plan. The changed stage and its downstream closure must be
    `affected` and `will_run`, nothing else affected, the changed stage alone `changed` (with
    the param as its reason). A stage outside the closure may be will_run only with a
    "needed" reason (its outputs feed a running stage and no cache holds them)."""
    proc = subprocess.run(
        plan_cmd(tools), cwd=repo, env=ci_ml_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return [f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"]
    stages = {s["name"]: s for s in json.loads(proc.stdout)["stages"]}
    expected = {gen.stage_name(n) for n in gen.downstream_closure(spec, spec.changed_stage)}
    changed = gen.stage_name(spec.changed_stage)
    problems = []
    if len(stages) != spec.stages:
        problems.append(f"{len(stages)} stages in the plan, expected {spec.stages}")
    problems += _set_problem("affected", _names(stages, "affected"), expected)
    will_run = _names(stages, "will_run")
    needed = {n for n in will_run - expected if _has_reason(stages[n], "needed")}
    problems += _set_problem("will_run", will_run - needed, expected)
    problems += _set_problem("changed", _names(stages, "changed"), {changed})
    reasons = [r["text"] for r in stages.get(changed, {}).get("reasons", [])]
    if not any(spec.changed_param in text for text in reasons):
        problems.append(f"{changed} reasons {reasons} do not name {spec.changed_param}")
    return problems


def _names(stages: Mapping[str, Mapping[str, Any]], flag: str) -> set[str]:
    return {name for name, s in stages.items() if s[flag]}


def _has_reason(stage: Mapping[str, Any], kind: str) -> bool:
    return any(r["kind"] == kind for r in stage["reasons"])


def _set_problem(what: str, got: set[str], expected: set[str]) -> list[str]:
    if got == expected:
        return []
    missing, extra = sorted(expected - got), sorted(got - expected)
    return [f"{what}: missing {missing[:10]}, extra {extra[:10]} ({len(got)} vs {len(expected)})"]


def check_dvc(stdout: Path, spec: gen.RepoSpec) -> list[str]:
    """`dvc status` should report exactly the stage whose param changed."""
    text = stdout.read_text(encoding="utf-8", errors="replace") if stdout.exists() else ""
    reported = re.findall(r"^(\S+):\s*$", text, flags=re.MULTILINE)
    expected = [gen.stage_name(spec.changed_stage)]
    return [] if reported == expected else [f"dvc status reported {reported[:10]}"]


# -- the two benchmarks ----------------------------------------------------------------------


def bench_stages(
    work: Path,
    size: int,
    *,
    files: int,
    with_ci: bool,
    with_dvc: bool,
    tools: Tools,
    dir_deps: bool = False,
) -> dict[str, Any]:
    spec = gen.RepoSpec(stages=size, files=files, dir_deps=dir_deps)
    repo = work / (f"dirs-{size}" if dir_deps else f"stages-{size}")
    _build(repo, spec, tools)
    row: dict[str, Any] = {"stages": size, "files": files, "repo": str(repo), "dir_deps": dir_deps}
    if with_ci:
        row["ci_ml_problems"] = check_plan(repo, spec, tools)
        row["ci_ml"] = asdict(measure(plan_cmd(tools), cwd=repo, env=ci_ml_env(), tools=tools))
        _log(f"{size} stages: ci-ml {row['ci_ml']['walls_s']} {row['ci_ml_problems'] or 'ok'}")
    if with_dvc:
        gen.clear_dvc_state(repo)  # every size starts from the same (cold) DVC state
        status_out = work / f"stages-{size}.dvc-status.txt"
        row["dvc"] = asdict(
            measure(
                [str(tools.dvc), "status"],
                cwd=repo,
                env=dvc_env(repo),
                tools=tools,
                stdout=status_out,
            )
        )
        row["dvc_problems"] = [] if row["dvc"]["timed_out"] else check_dvc(status_out, spec)
        _log(f"{size} stages: dvc {row['dvc']['walls_s']} {row['dvc_problems'] or 'ok'}")
    row["ratio"] = _ratio(row.get("dvc"), row.get("ci_ml"))
    return row


def bench_data(work: Path, data_bytes: int, tools: Tools) -> dict[str, Any]:
    """First plan on a fresh checkout (no digest cache, page cache dropped where allowed)
    vs DVC's status with its state cleared; then both again over unchanged data."""
    spec = gen.RepoSpec(stages=DATA_STAGES, files=DATA_FILES, data_bytes=data_bytes)
    repo = work / f"data-{data_bytes >> 20}mib"
    _build(repo, spec, tools)
    state = repo / ".ci-ml"

    def fresh_ci(*, cold: bool) -> Callable[[], None]:
        def reset() -> None:
            shutil.rmtree(state, ignore_errors=True)  # an empty digest cache
            if cold:
                drop_page_cache()

        return reset

    def fresh_dvc(*, cold: bool) -> Callable[[], None]:
        def reset() -> None:
            gen.clear_dvc_state(repo)
            if cold:
                drop_page_cache()

        return reset

    cmd, dvc = plan_cmd(tools), [str(tools.dvc), "status"]
    row: dict[str, Any] = {"data_mib": data_bytes >> 20, "repo": str(repo)}
    row["ci_ml_problems"] = check_plan(repo, spec, tools)
    for label, cold in (("cold", True), ("warm", False)):
        if cold and not tools.can_drop_caches:
            continue
        row[f"ci_ml_first_{label}"] = asdict(
            measure(cmd, cwd=repo, env=ci_ml_env(), tools=tools, before=fresh_ci(cold=cold))
        )
        row[f"dvc_fresh_{label}"] = asdict(
            measure(dvc, cwd=repo, env=dvc_env(repo), tools=tools, before=fresh_dvc(cold=cold))
        )
    row["ci_ml_second"] = asdict(measure(cmd, cwd=repo, env=ci_ml_env(), tools=tools))
    row["dvc_second"] = asdict(measure(dvc, cwd=repo, env=dvc_env(repo), tools=tools))
    _log(
        f"data {row['data_mib']} MiB: "
        + ", ".join(f"{k} {v['walls_s']}" for k, v in row.items() if isinstance(v, dict))
    )
    return row


def _build(repo: Path, spec: gen.RepoSpec, tools: Tools) -> None:
    if gen.is_built(repo, spec):
        return
    start = time.perf_counter()
    gen.build_repo(repo, spec, dvc=tools.dvc)
    _log(f"built {repo.name} in {time.perf_counter() - start:.1f} s")


def _ratio(dvc: Mapping[str, Any] | None, ci: Mapping[str, Any] | None) -> float | None:
    if not dvc or not ci or not dvc["median_s"] or not ci["median_s"]:
        return None
    return round(float(dvc["median_s"]) / float(ci["median_s"]), 1)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10,100,1000,10000", help="stage counts for ci-ml (default: %(default)s)"
    )
    parser.add_argument(
        "--dvc-sizes",
        default="10,100,1000",
        help="stage counts for dvc status ('' for none; default: %(default)s)",
    )
    parser.add_argument(
        "--data-gib",
        type=float,
        default=2.0,
        help="untracked data file in GiB (0 skips that part; default: 2)",
    )
    parser.add_argument(
        "--files",
        type=int,
        default=100_000,
        help="tracked data files per stage repo (default: 100000)",
    )
    parser.add_argument(
        "--dir-sizes",
        default="100",
        help="stage counts of repositories whose stages read whole directories, for ci-ml and "
        "dvc status ('' for none; default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (default: 3)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="per-command timeout in seconds (default: 600)"
    )
    parser.add_argument(
        "--work", type=Path, default=ROOT / ".bench", help="work area (default: .bench)"
    )
    parser.add_argument(
        "--ci-ml",
        type=Path,
        default=None,
        help="the ci-ml executable (default: .venv/bin/ci-ml, else on PATH)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results-plan.json",
        help="JSON results (default: benchmarks/results-plan.json)",
    )
    return parser.parse_args(argv)


def _find_ci_ml(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    local = ROOT / ".venv" / "bin" / "ci-ml"
    found = local if local.exists() else shutil.which("ci-ml")
    if found is None:
        raise SystemExit("ci-ml not found: install it (pip install -e .) or pass --ci-ml")
    return Path(found)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    tools = Tools(
        ci_ml=_find_ci_ml(args.ci_ml),
        dvc=ensure_dvc(work / "dvc-venv"),
        timeout_s=args.timeout,
        runs=args.runs,
        can_drop_caches=drop_page_cache(),
    )
    compile_ci_ml(tools.ci_ml)
    sizes, dvc_sizes = set(gen.iter_sizes(args.sizes)), set(gen.iter_sizes(args.dvc_sizes))
    results: dict[str, Any] = {
        "machine": machine_info(tools),
        "args": {k: str(v) for k, v in vars(args).items()},
        "stages": [],
        "data": [],
        "targets": [],
    }
    for size in sorted(sizes | dvc_sizes):
        results["stages"].append(
            bench_stages(
                work,
                size,
                files=args.files,
                with_ci=size in sizes,
                with_dvc=size in dvc_sizes,
                tools=tools,
            )
        )
        _write_json(args.out, results)
    for size in sorted(gen.iter_sizes(args.dir_sizes)):
        results["stages"].append(
            bench_stages(
                work,
                size,
                files=args.files,
                with_ci=True,
                with_dvc=True,
                tools=tools,
                dir_deps=True,
            )
        )
        _write_json(args.out, results)
    big = int(args.data_gib * 2**30)
    if big:
        for data_bytes in sorted({0, SMALL_DATA, big}):
            results["data"].append(bench_data(work, data_bytes, tools))
            _write_json(args.out, results)
    by_size = {r["stages"]: r for r in results["stages"] if not r["dir_deps"]}
    by_dir_size = {r["stages"]: r for r in results["stages"] if r["dir_deps"]}
    by_data = {r["data_mib"] << 20: r for r in results["data"]}
    results["targets"] = [
        report.correctness_verdict(results["stages"] + results["data"]),
        *report.stage_verdicts(by_size, tools.timeout_s, by_dir_size),
        *(report.data_verdicts(by_data, big=big, small=SMALL_DATA) if big else []),
    ]
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["markdown"] = report.render_markdown(results)
    _write_json(args.out, results)
    print(results["markdown"])
    return 0


def _write_json(path: Path, results: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
