"""Measuring: the moto server, one client run under GNU time, the median of repeated runs,
and one tool's push, no-change push and pull of a case, with the pulled data checked.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from transfer_model import MB, OP_LABELS, Case, Measurement, Run, Settings, Step, Tool, log
from transfer_tools import CiMl

TIME = Path("/usr/bin/time")
SLOW_S = 60.0  # a run slower than this is not repeated


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Moto:
    """One moto server for the whole run, in its own process on 127.0.0.1."""

    def __init__(self, log: Path, rtt_ms: float = 0) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        # What the tools talk to: the server, or a relay adding `rtt_ms` of network latency.
        self.client_url = self.url
        self._relay: subprocess.Popen[bytes] | None = None
        if rtt_ms > 0:
            relay_port = _free_port()
            script = Path(__file__).with_name("latency_proxy.py")
            self._relay = subprocess.Popen(
                [sys.executable, str(script), "--port", str(relay_port),
                 "--target-port", str(port), "--rtt-ms", str(rtt_ms)],
            )  # fmt: skip
            self.client_url = f"http://127.0.0.1:{relay_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait(log)

    def _wait(self, log: Path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SystemExit(f"moto server exited with {self._process.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it is up
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"moto server did not answer at {self.url} in 60 s; see {log}")

    def fresh_bucket(self, name: str) -> str:
        """Drop every bucket (frees moto's memory: a 1 GiB object lives in it) and make one."""
        self._request("POST", "/moto-api/reset")
        self._request("PUT", f"/{name}")  # moto does not check signatures: a bare PUT will do
        return name

    def _request(self, method: str, path: str) -> None:
        request = urllib.request.Request(f"{self.url}{path}", method=method, data=b"")
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()

    def cpu_s(self) -> float:
        """User + system CPU the server has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self._relay is not None:
            self._relay.kill()
            self._relay.wait()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def run_once(step: Step, *, timeout_s: float, server: Moto) -> Run:
    """Run `step` under GNU time: wall, user, sys and max RSS of the client's process tree."""
    report = step.cwd.parent / f".time-{os.getpid()}-{secrets.token_hex(4)}"
    argv = [str(TIME), "-f", "%U %S %M", "-o", str(report), *step.argv]
    cpu_before = server.cpu_s()
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=step.cwd,
        env=step.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so a timeout kills the whole tree, not just `time`
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = None
    wall = time.perf_counter() - start
    user, system, rss = _parse_time(report)
    report.unlink(missing_ok=True)
    return Run(
        wall_s=round(wall, 3),
        user_s=user,
        sys_s=system,
        rss_mb=rss,
        server_cpu_s=round(server.cpu_s() - cpu_before, 2),
        returncode=code,
        stdout=out.decode(errors="replace")[-4000:],
        stderr=_error_text(err.decode(errors="replace")),
    )


def _error_text(stderr: str) -> str:
    """The lines that say what went wrong (DVC ends with a support link), else the tail."""
    named = [line for line in stderr.splitlines() if re.search(r"error|fatal|failed", line, re.I)]
    return ("\n".join(named) or stderr.strip())[-1500:]


def _parse_time(report: Path) -> tuple[float | None, float | None, float | None]:
    # GNU time puts "Command exited with non-zero status N" first when the command fails.
    lines = report.read_text(encoding="utf-8").splitlines() if report.exists() else []
    match = re.fullmatch(r"([\d.]+) ([\d.]+) (\d+)", lines[-1].strip()) if lines else None
    if match is None:
        return None, None, None
    return float(match[1]), float(match[2]), round(int(match[3]) * 1024 / MB, 1)


def measure(
    tool: str, case: Case, op: str, attempt: Callable[[], Step], *, settings: Settings, server: Moto
) -> Measurement:
    """Median of `settings.repeat` runs; one run when it takes over SLOW_S, and a run that
    fails or times out ends the measurement. `attempt` does the untimed set-up for a run."""
    runs: list[Run] = []
    for _ in range(settings.repeat):
        run = run_once(attempt(), timeout_s=settings.timeout_s, server=server)
        runs.append(run)
        if run.returncode != 0 or run.wall_s > SLOW_S:
            break
    last = runs[-1]
    status = "ok" if last.returncode == 0 else "timeout" if last.returncode is None else "failed"
    ok = runs if status == "ok" else []
    cpus = tuple(
        round(r.user_s + r.sys_s, 2) for r in ok if r.user_s is not None and r.sys_s is not None
    )
    rss = [r.rss_mb for r in runs if r.rss_mb is not None]
    result = Measurement(
        tool=tool,
        case=case.name,
        op=op,
        status=status,
        walls_s=tuple(r.wall_s for r in runs),
        cpus_s=cpus,
        wall_s=round(statistics.median(r.wall_s for r in ok), 3) if ok else None,
        cpu_s=round(statistics.median(cpus), 2) if cpus else None,
        peak_rss_mb=max(rss) if rss else None,
        server_cpu_s=statistics.median(r.server_cpu_s for r in ok) if ok else None,
        error=None if status == "ok" else last.stderr or f"timed out after {settings.timeout_s} s",
        phases=[_phases(r.stdout) for r in ok] if tool == "ci-ml" else [],
    )
    log(f"  {tool:7} {OP_LABELS[op]:15} {status:7} walls {list(result.walls_s)} cpu {cpus}")
    return result


def _phases(stdout: str) -> dict[str, float]:
    with contextlib.suppress(ValueError, IndexError):
        return dict(json.loads(stdout.strip().splitlines()[-1])["phases"])
    return {}


# -- one tool on one case --------------------------------------------------------------------


def bench_tool(
    tool: Tool, case: Case, *, settings: Settings, server: Moto, token: str
) -> tuple[list[Measurement], str | None]:
    """Push (into a fresh bucket each time), push again, pull into an empty workspace.

    Returns the measurements and, when the pulled data differ from the source, what differs.
    """
    buckets: list[str] = []

    def fresh_push() -> Step:
        bucket = server.fresh_bucket(f"{tool.name}-{case.name}-{token}-{len(buckets)}")
        buckets.append(bucket)
        tool.prepare_push(case, bucket)
        return tool.push(case, bucket)

    push = measure(tool.name, case, "push", fresh_push, settings=settings, server=server)
    if push.status != "ok":
        skipped = [
            Measurement(tool=tool.name, case=case.name, op=op, status="skipped")
            for op in ("nochange", "recheck", "pull")
            if op != "recheck" or isinstance(tool, CiMl)
        ]
        return [push, *skipped], None
    bucket = buckets[-1]
    nochange = [
        measure(tool.name, case, op, again, settings=settings, server=server)
        for op, again in _second_pushes(tool, case, bucket)
    ]
    dest = settings.work / "pull" / f"{tool.name}-{case.name}"
    landed: list[Path] = []

    def fresh_pull() -> Step:
        landed.append(tool.prepare_pull(case, dest))
        return tool.pull(case, bucket, dest)

    pull = measure(tool.name, case, "pull", fresh_pull, settings=settings, server=server)
    problem = compare_trees(case.root / case.out, landed[-1]) if pull.status == "ok" else None
    if problem:
        log(f"  ! {tool.name} pulled wrong data: {problem}")
    return [push, *nochange, pull], problem


def _second_pushes(tool: Tool, case: Case, bucket: str) -> list[tuple[str, Callable[[], Step]]]:
    """The no-change push, and for ci-ml also the variant that checks every object."""
    found: list[tuple[str, Callable[[], Step]]] = [
        ("nochange", lambda: tool.nochange(case, bucket))
    ]
    if isinstance(tool, CiMl):
        found.append(("recheck", lambda: tool.recheck(case, bucket)))
    return found


def compare_trees(source: Path, pulled: Path) -> str | None:
    """None when `pulled` holds exactly the files of `source`, byte for byte; else what differs."""
    want, got = _source_digests(source), _digests(pulled) if pulled.exists() else {}
    if want == got:
        return None
    missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
    wrong = sorted(k for k in want.keys() & got.keys() if want[k] != got[k])
    return f"missing {missing[:3]}, extra {extra[:3]}, wrong {wrong[:3]} (of {len(want)})"


@functools.cache  # the sources do not change during a run; each pulled copy is read afresh
def _source_digests(path: Path) -> dict[str, str]:
    return _digests(path)


def _digests(path: Path) -> dict[str, str]:
    """Relative path ('' for a file) -> sha256."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {("" if f == path else f.relative_to(path).as_posix()): _sha256(f) for f in files}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
