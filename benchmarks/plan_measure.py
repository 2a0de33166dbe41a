"""Measurement for the planning benchmark: running a command, its wall and CPU time and peak
RSS (GNU time, or a getrusage wrapper), and the machine and DVC set-up."""

from __future__ import annotations

import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gen_pipeline as gen

DVC_VERSION = "3.67.1"
SLOW_S = 60.0  # a run slower than this is not repeated
TIME = Path("/usr/bin/time")
# Where GNU time is missing: run a command and report, as GNU time would, the CPU time of
# its process tree and the peak RSS of its largest (waited-for) process.
RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'User time (seconds): {r.ru_utime}\\n'\n"
    "    f'System time (seconds): {r.ru_stime}\\n'\n"
    "    f'Maximum resident set size (kbytes): {r.ru_maxrss}\\n')\n"
    "sys.exit(rc)\n"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    walls_s: tuple[float, ...]
    median_s: float | None  # None when a run timed out or failed
    cpu_s: float | None  # median user+sys CPU time: less sensitive than wall time to load
    peak_rss_mib: float | None
    timed_out: bool
    returncode: int | None
    error: str | None = None  # the end of stderr of a run that failed


@dataclass(frozen=True, slots=True)
class _Run:
    wall_s: float
    cpu_s: float | None
    rss_mib: float | None
    returncode: int | None  # None: killed at the timeout
    stderr: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tools:
    ci_ml: Path
    dvc: Path
    timeout_s: float
    runs: int
    can_drop_caches: bool


# -- running and measuring -------------------------------------------------------------------


def _run_once(
    cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float, stdout: Path | None
) -> _Run:
    """Run `cmd` once under GNU time (or a getrusage wrapper) for its peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss", delete=False) as rss_file:
        report_path = Path(rss_file.name)
    if TIME.exists():
        argv = [str(TIME), "-v", "-o", str(report_path), *cmd]
    else:
        argv = [sys.executable, "-c", RSS_WRAPPER, str(report_path), *cmd]
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=timeout_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: the tool, not just `time`
        proc.communicate()
        err, code = b"", None
    wall = time.perf_counter() - start
    if stdout:
        out.close()  # type: ignore[union-attr]  # a file when stdout is given
    stderr = err.decode(errors="replace").strip()[-600:]
    if code not in (0, None):
        log(f"  ! {' '.join(cmd)} exited {code}: {stderr}")
    text = report_path.read_text(encoding="utf-8", errors="replace")
    report_path.unlink(missing_ok=True)
    return _Run(wall, _parse_cpu(text), _parse_rss(text), code, stderr)


def _parse_rss(report: str) -> float | None:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    return round(int(match.group(1)) / 1024, 1) if match else None


def _parse_cpu(report: str) -> float | None:
    times = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", report)
    return round(sum(float(t) for t in times), 3) if len(times) == 2 else None


def measure(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    tools: Tools,
    before: Callable[[], None] | None = None,
    stdout: Path | None = None,
) -> Timing:
    """Median wall time of `tools.runs` runs (one run when it takes over SLOW_S). A run that
    times out or fails ends the measurement, which then has no median."""
    runs: list[_Run] = []
    for _ in range(tools.runs):
        if before is not None:
            before()
        run = _run_once(cmd, cwd=cwd, env=env, timeout_s=tools.timeout_s, stdout=stdout)
        runs.append(run)
        if run.returncode != 0 or run.wall_s > SLOW_S:
            break
    last = runs[-1]
    walls = tuple(round(r.wall_s, 3) for r in runs)
    cpus = [r.cpu_s for r in runs if r.cpu_s is not None]
    return Timing(
        walls_s=walls,
        median_s=statistics.median(walls) if last.returncode == 0 else None,
        cpu_s=round(statistics.median(cpus), 3) if cpus and last.returncode == 0 else None,
        peak_rss_mib=max((r.rss_mib for r in runs if r.rss_mib is not None), default=None),
        timed_out=last.returncode is None,
        returncode=last.returncode,
        error=last.stderr if last.returncode not in (0, None) else None,
    )


def drop_page_cache() -> bool:
    """Empty the kernel's page cache (root only); False where that is not allowed."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n", encoding="utf-8")
    except OSError:
        return False
    return True


def ci_ml_env() -> dict[str, str]:
    # The plan must not pick up a GitHub event or settings from the caller's environment.
    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_ML_"))}


def dvc_env(repo: Path) -> dict[str, str]:
    return {**os.environ, **gen.dvc_env(gen.site_cache_for(repo))}


def plan_cmd(tools: Tools) -> list[str]:
    return [str(tools.ci_ml), "plan", "--base", "HEAD~1", "--json"]


# -- setup -----------------------------------------------------------------------------------


def ensure_dvc(venv: Path) -> Path:
    """DVC in its own virtual environment, installed from PyPI when missing."""
    dvc = venv / "bin" / "dvc"
    if dvc.exists() and DVC_VERSION in _output([str(dvc), "--version"]):
        return dvc
    print(f"installing dvc=={DVC_VERSION} into {venv}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"dvc=={DVC_VERSION}"], check=True)
    return dvc


def compile_ci_ml(ci_ml: Path) -> None:
    """Write the bytecode of the ci-ml that is measured, as `pip install` of a wheel does (and
    DVC's venv has): an editable install run under PYTHONDONTWRITEBYTECODE would otherwise
    compile every module from source on every run (0.04 s of a 0.3 s plan)."""
    shebang = ci_ml.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    python = shebang[2:].strip() if shebang.startswith("#!") else sys.executable
    code = "import compileall, pathlib, ci_ml; compileall.compile_dir("
    code += "pathlib.Path(ci_ml.__file__).parent, quiet=1)"
    subprocess.run([python, "-c", code], check=True)


def _output(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return (proc.stdout + proc.stderr).strip()


def machine_info(tools: Tools) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8", errors="replace")
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+)", meminfo)
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "mem_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git": _output(["git", "--version"]),
        "dvc": _output([str(tools.dvc), "--version"]),
        "ci_ml": _output([str(tools.ci_ml), "--version"]),
        "page_cache_dropped": tools.can_drop_caches,
        "loadavg_start": list(os.getloadavg()),
    }


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
