"""The action's "Install ci-ml" step, cold, per job kind, for one or more commits of action.yml.

Usage: .venv/bin/python benchmarks/install.py --rev OLD --rev NEW [--runs 3] [--python PATH]
           [--job plan --job run --job report]

Each commit is exported with `git archive` (`--rev WORKTREE`: the files git lists in the working
tree) and its step is run as the runner runs it: `bash -eo pipefail`, with RUNNER_TEMP,
RUNNER_TOOL_CACHE and GITHUB_ACTION_PATH set, the step's `env:` resolved for the job's command,
and pip's and uv's caches empty (PIP_NO_CACHE_DIR=1, no pip config files, a fresh UV_CACHE_DIR
and HOME), like a fresh GitHub-hosted runner. A job is the action's steps of a template job:
plan (plan), run (run), report (pull, report, comment; later steps find the venv of the
first). The commits alternate within each run, their order reversed every other run, and each
timing notes the load average. Each venv is then checked: ci-ml runs, and every package the
job's commands import is there. The runners' directories are removed only at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.helpers.checkout import copy_checkout  # noqa: E402  # after ROOT is on sys.path

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")  # a `${{ ... }}` in the step's env
JOBS = {"plan": ("plan",), "run": ("run",), "report": ("pull", "report", "comment")}
# What the commands import beyond the standard library, by job: the venv must have it.
NEEDS = {
    "plan": ("botocore", "yaml"),
    "run": ("botocore", "yaml", "requests", "cryptography", "ruamel.yaml", "tomlkit", "tqdm"),
    "report": ("botocore", "yaml", "tabulate", "matplotlib", "github"),
}


@dataclass(frozen=True)
class Timing:
    job: str
    rev: str
    run: int
    seconds: float
    cpu: float  # user + system seconds of the step's processes: steadier than wall time
    load: float


def _is_machine_setting(name: str) -> bool:
    """What a runner machine is set up with to reach a registry: CA bundles and proxies."""
    return (
        name.startswith("SSL_CERT_")
        or name.endswith(("_CA_BUNDLE", "_PROXY", "_proxy"))
        or name == "PIP_CERT"
    )


def export(rev: str, dest: Path) -> Path:
    """The action's files at `rev` under `dest`, as a release of the action holds them."""
    dest.mkdir(parents=True)
    if rev == "WORKTREE":
        return copy_checkout(ROOT, dest)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tar_path = dest.with_suffix(".tar")
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="tar")
    tar_path.unlink()
    return dest


@dataclass(frozen=True)
class Step:
    """action.yml's "Install ci-ml" step: its script, its `env:` and the inputs' defaults."""

    run: str
    env: dict[str, str]
    inputs: dict[str, str]


def install_step(action_dir: Path) -> Step:
    action = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    [step] = [s for s in action["runs"]["steps"] if s.get("name") == "Install ci-ml"]
    defaults = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    return Step(step["run"], {k: str(v) for k, v in step.get("env", {}).items()}, defaults)


def _resolve(text: str, context: dict[str, str]) -> str:
    return _EXPR.sub(lambda m: context.get(m.group(1), ""), text)


def run_job(job: str, action_dir: Path, python: Path, scratch: Path) -> tuple[float, float]:
    """Wall and CPU seconds the install steps of `job` took, in a fresh runner's directories."""
    step = install_step(action_dir)
    runner_temp, tool_cache, home = scratch / "temp", scratch / "tool-cache", scratch / "home"
    for path in (runner_temp, tool_cache, home, scratch / "tmp"):
        path.mkdir(parents=True)
    base_env = {
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(scratch / "tmp"),
        "LANG": "C.UTF-8",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "UV_CACHE_DIR": str(scratch / "uv-cache"),
        "RUNNER_TEMP": str(runner_temp),
        "RUNNER_TOOL_CACHE": str(tool_cache),
        "GITHUB_ACTION_PATH": str(action_dir),
        **{k: v for k, v in os.environ.items() if _is_machine_setting(k)},
    }
    total = 0.0
    cpu_before = _children_cpu()
    for command in JOBS[job]:
        inputs = {**step.inputs, "command": command}
        context = {f"inputs.{k}": v for k, v in inputs.items()}
        context["steps.python.outputs.python-path"] = str(python)
        env = {**base_env, **{k: _resolve(v, context) for k, v in step.env.items()}}
        start = time.perf_counter()
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.run],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        total += time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{job}/{command} install failed:\n{proc.stdout}{proc.stderr}")
    cpu = _children_cpu() - cpu_before
    _check_venv(runner_temp / "ci-ml-venv" / "bin" / "python", NEEDS[job])
    return total, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check_venv(python: Path, modules: tuple[str, ...]) -> None:
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    subprocess.run([str(python), "-I", "-m", "ci_ml", "--version"], check=True, capture_output=True)
    subprocess.run([str(python), "-I", "-c", code, *modules], check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", action="append", required=True, help="commit, or WORKTREE")
    parser.add_argument("--job", action="append", choices=sorted(JOBS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", type=Path, default=Path(sys.base_prefix) / "bin" / "python3")
    parser.add_argument("--json", type=Path, help="also write every timing here")
    parser.add_argument(
        "--scratch",
        type=Path,
        help="where the runners' directories go (default: the temp dir); a runner's disk, "
        "not a /tmp that something watches",
    )
    args = parser.parse_args()
    jobs = args.job or list(JOBS)
    rows: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="ci-ml-install-", dir=args.scratch) as tmp:
        dirs = {rev: export(rev, Path(tmp) / f"action-{i}") for i, rev in enumerate(args.rev)}
        for run in range(args.runs):
            for job in jobs:
                for rev in args.rev if run % 2 == 0 else args.rev[::-1]:
                    scratch = Path(tmp) / f"runner-{run}-{job}-{args.rev.index(rev)}"
                    load = os.getloadavg()[0]
                    # Kept until the end: on ext4, deleting a tree makes creating files for
                    # the next minutes slower (the allocator skips recently deleted inodes),
                    # which a fresh runner does not pay.
                    seconds, cpu = run_job(job, dirs[rev], args.python, scratch)
                    rows.append(Timing(job, rev, run, seconds, cpu, load))
                    print(
                        f"{job:7} {rev:12} run {run}: {seconds:5.2f} s, CPU {cpu:5.2f} s"
                        f" (load {load:.2f})"
                    )
    print("\n| job | " + " | ".join(f"`{rev}`" for rev in args.rev) + " |")
    print("|---|" + "---:|" * len(args.rev))
    for job in jobs:
        cells = []
        for rev in args.rev:
            mine = [r for r in rows if (r.job, r.rev) == (job, rev)]
            listed = ", ".join(f"{r.seconds:.2f}" for r in mine)
            wall = statistics.median(r.seconds for r in mine)
            cpu = statistics.median(r.cpu for r in mine)
            cells.append(f"{listed} (median {wall:.2f}; CPU {cpu:.2f})")
        print(f"| {job} | " + " | ".join(cells) + " |")
    loads = [r.load for r in rows]
    print(f"\nload average (1 min) {min(loads):.2f} to {max(loads):.2f}")
    if args.json:
        doc = [dataclasses.asdict(r) for r in rows]
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
