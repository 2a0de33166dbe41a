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
import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
DVC_VERSION = "3.67.1"
PEERS = ("awscli", "s5cmd", f"dvc[s3]=={DVC_VERSION}")
TIME = Path("/usr/bin/time")
SLOW_S = 60.0  # a run slower than this is not repeated
NOCHANGE_TARGET_S = 0.3
RSS_TARGET_MB = 200.0
MB = 1_000_000  # RSS is reported in MB (10^6), as the targets are written
OPS = ("push", "nochange", "recheck", "pull")  # recheck: ci-ml only
OP_LABELS = {
    "push": "push",
    "nochange": "no-change push",
    "recheck": "no-change push + objects check",
    "pull": "pull",
}
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """A data set: `root` is a workspace holding nothing but the output `out`."""

    name: str  # "big" or "small": part of bucket and directory names
    label: str
    root: Path
    out: str
    is_dir: bool
    size: int
    files: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One timed client invocation."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    wall_s: float
    user_s: float | None
    sys_s: float | None
    rss_mb: float | None
    server_cpu_s: float
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """The runs of one tool doing one operation on one case, and their summary."""

    tool: str
    case: str
    op: str
    status: str  # "ok", "failed", "timeout" or "skipped"
    walls_s: tuple[float, ...] = ()
    cpus_s: tuple[float, ...] = ()
    wall_s: float | None = None  # median
    cpu_s: float | None = None  # median of user + sys
    peak_rss_mb: float | None = None  # max over the runs
    server_cpu_s: float | None = None  # median CPU the moto server spent per run
    error: str | None = None
    phases: list[dict[str, float]] = field(default_factory=list)  # ci-ml: timed inside


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    work: Path
    repeat: int
    timeout_s: float
    endpoint: str
    peers: Path  # the peers' virtual environment


class Tool(Protocol):
    """How one client pushes, re-pushes and pulls a case. Untimed set-up lives in prepare_*."""

    name: str

    def prepare_push(self, case: Case, bucket: str) -> None: ...
    def push(self, case: Case, bucket: str) -> Step: ...
    def nochange(self, case: Case, bucket: str) -> Step: ...
    def prepare_pull(self, case: Case, dest: Path) -> Path:
        """Empty the workspace the pull writes to; return where the output will land."""

    def pull(self, case: Case, bucket: str, dest: Path) -> Step: ...


# -- the clients -------------------------------------------------------------------------------


def client_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its AWS settings, pointed at fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CI_ML_", "DVC_"))}
    # A developer's ~/.aws/config must not change endpoints, checksums or concurrency. An empty
    # file, not /dev/null: aiobotocore (DVC) refuses a config path that is not a regular file.
    empty = settings.work / "aws-config-empty"
    empty.touch()
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(empty)
    return {**env, **CREDENTIALS, **(extra or {})}


def _s3_key(case: Case) -> str:
    return f"{case.out}/" if case.is_dir else case.out


class CiMl:
    """ci-ml's cache API, driven in a subprocess of this script (see `child_main`)."""

    name = "ci-ml"

    def __init__(self, settings: Settings) -> None:
        self._env = client_env(settings, {"AWS_ENDPOINT_URL_S3": settings.endpoint})

    def prepare_push(self, case: Case, bucket: str) -> None:
        return None

    def push(self, case: Case, bucket: str) -> Step:
        return self._step("push", case, bucket, case.root)

    def nochange(self, case: Case, bucket: str) -> Step:
        return self._step("nochange", case, bucket, case.root)

    def recheck(self, case: Case, bucket: str) -> Step:
        return self._step("recheck", case, bucket, case.root)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        _empty_dir(dest)
        return dest / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        return self._step("pull", case, bucket, dest)

    def _step(self, op: str, case: Case, bucket: str, root: Path) -> Step:
        argv = [sys.executable, str(Path(__file__).resolve()), "_child", op]
        argv += ["--root", str(root), "--out", case.out, "--url", f"s3://{bucket}/cache"]
        argv += ["--key", stage_key(case)]
        return Step(argv=argv, cwd=root, env=self._env)


class AwsCli:
    """`aws s3 cp` for pushes and pulls, `aws s3 sync` for the second push."""

    name = "awscli"

    def __init__(self, settings: Settings) -> None:
        self._aws = str(settings.peers / "bin" / "aws")
        self._endpoint = settings.endpoint
        self._env = client_env(settings)

    def prepare_push(self, case: Case, bucket: str) -> None:
        return None

    def push(self, case: Case, bucket: str) -> Step:
        return self._s3("cp", case.root / case.out, f"s3://{bucket}/{case.out}", case)

    def nochange(self, case: Case, bucket: str) -> Step:
        argv = [self._aws, "s3", "sync", "--only-show-errors", "--endpoint-url", self._endpoint]
        return Step(argv=[*argv, f"{case.root}/", f"s3://{bucket}/"], cwd=case.root, env=self._env)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        _empty_dir(dest)
        return dest / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        return self._s3("cp", f"s3://{bucket}/{case.out}", dest / case.out, case)

    def _s3(self, verb: str, source: object, target: object, case: Case) -> Step:
        argv = [self._aws, "s3", verb, "--only-show-errors", "--endpoint-url", self._endpoint]
        if case.is_dir:
            argv.append("--recursive")
        return Step(argv=[*argv, str(source), str(target)], cwd=case.root, env=self._env)


class S5cmd:
    """`s5cmd cp` for pushes and pulls, `s5cmd sync` for the second push (default workers)."""

    name = "s5cmd"

    def __init__(self, settings: Settings) -> None:
        # The wheel's console script is a Python wrapper; time the Go binary itself.
        found = sorted(settings.peers.glob("lib/python*/site-packages/s5cmd/bin/s5cmd"))
        self._s5cmd = str(found[0]) if found else str(settings.peers / "bin" / "s5cmd")
        self._base = [self._s5cmd, "--endpoint-url", settings.endpoint, "--log", "error"]
        self._env = client_env(settings)

    def prepare_push(self, case: Case, bucket: str) -> None:
        return None

    def push(self, case: Case, bucket: str) -> Step:
        source = case.root / case.out
        target = f"s3://{bucket}/{_s3_key(case)}"
        return self._step("cp", f"{source}/*" if case.is_dir else str(source), target, case)

    def nochange(self, case: Case, bucket: str) -> Step:
        return self._step("sync", f"{case.root}/", f"s3://{bucket}/", case)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        _empty_dir(dest)
        return dest / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        source = f"s3://{bucket}/{_s3_key(case)}"
        target = dest / case.out
        if case.is_dir:
            return self._step("cp", f"{source}*", f"{target}/", case)
        return self._step("cp", source, str(target), case)

    def _step(self, verb: str, source: str, target: str, case: Case) -> Step:
        return Step(argv=[*self._base, verb, source, target], cwd=case.root, env=self._env)


class Dvc:
    """`dvc push` / `dvc pull` in a DVC repo (made once per case, data added with `dvc add`)."""

    name = "dvc"

    def __init__(self, settings: Settings) -> None:
        self._dvc = str(settings.peers / "bin" / "dvc")
        self._endpoint = settings.endpoint
        self._work = settings.work
        self._settings = settings

    def repo(self, case: Case) -> Path:
        return self._work / f"dvc-{case.name}"

    def env(self, case: Case) -> dict[str, str]:
        # DVC's state and index go to a directory we own (and empty for a cold pull).
        site = self._work / f"dvc-{case.name}.site"
        return client_env(
            self._settings, {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(site)}
        )

    def build(self, case: Case) -> None:
        """The repo with the case's data `dvc add`ed, unless the one on disk has it already."""
        repo, marker = self.repo(case), self._work / f"dvc-{case.name}.spec"
        spec = f"{case.size} {case.files} {DVC_VERSION}"
        if marker.exists() and marker.read_text(encoding="utf-8") == spec and self._whole(case):
            return
        marker.unlink(missing_ok=True)
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(self.env(case)["DVC_SITE_CACHE_DIR"], ignore_errors=True)
        repo.mkdir(parents=True)
        self._run(case, "init", "--no-scm", "-q")
        if case.is_dir:
            shutil.copytree(case.root / case.out, repo / case.out)
        else:
            shutil.copy2(case.root / case.out, repo / case.out)
        self._run(case, "add", "-q", case.out)
        marker.write_text(spec, encoding="utf-8")

    def prepare_push(self, case: Case, bucket: str) -> None:
        self._run(case, "remote", "add", "-f", "-d", "bench", f"s3://{bucket}/dvc")
        self._run(case, "remote", "modify", "bench", "endpointurl", self._endpoint)

    def push(self, case: Case, bucket: str) -> Step:
        return Step(argv=[self._dvc, "push", "-q"], cwd=self.repo(case), env=self.env(case))

    def nochange(self, case: Case, bucket: str) -> Step:
        return self.push(case, bucket)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        """A fresh clone: no cache, no state, no data; only the .dvc file and the config."""
        repo = self.repo(case)
        for path in (repo / ".dvc" / "cache", repo / ".dvc" / "tmp", repo / case.out):
            _remove(path)
        _remove(Path(self.env(case)["DVC_SITE_CACHE_DIR"]))
        return repo / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        return Step(argv=[self._dvc, "pull", "-q"], cwd=self.repo(case), env=self.env(case))

    def _whole(self, case: Case) -> bool:
        repo = self.repo(case)
        return (repo / ".dvc" / "cache").is_dir() and (repo / case.out).exists()

    def _run(self, case: Case, *args: str) -> None:
        subprocess.run(
            [self._dvc, *args],
            cwd=self.repo(case),
            env=self.env(case),
            stdout=subprocess.DEVNULL,  # "Setting 'bench' as a default remote." and the like
            check=True,
            timeout=600,
        )


TOOLS: dict[str, Callable[[Settings], Tool]] = {
    "ci-ml": CiMl,
    "awscli": AwsCli,
    "s5cmd": S5cmd,
    "dvc": Dvc,
}


# -- ci-ml's side, run in a child process ------------------------------------------------------


def stage_key(case: Case) -> str:
    return hashlib.sha256(f"transfer-benchmark {case.name}".encode()).hexdigest()


def child_main(argv: Sequence[str]) -> int:
    """`transfer.py _child push|nochange|pull ...`: one ci-ml cache operation, timed inside.

    Prints {"phases": {name: seconds}} on stdout. The import of ci-ml counts as a phase; the
    interpreter's own start does not (the parent's wall time has it).
    """
    parser = argparse.ArgumentParser(prog="transfer.py _child")
    parser.add_argument("op", choices=OPS)
    for name in ("--root", "--out", "--url", "--key"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    phases: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(now - clock[0], 4)
        clock[0] = now

    from ci_ml.cache import Trust, open_store  # imported here: the import is measured

    root = Path(args.root)
    store = open_store(args.url, trust=Trust.TRUSTED, root=root)
    lap("import")
    # Private, and only to split the timings: making the boto3 client (importing boto3,
    # loading botocore's S3 model) is a fixed cost per process that the first request pays.
    store._client()  # type: ignore[attr-defined]  # S3Store, not in the CacheStore Protocol
    lap("s3_client")
    children = {
        "push": _child_push,
        "nochange": _child_nochange,
        "recheck": _child_recheck,
        "pull": _child_pull,
    }
    children[args.op](store, root, args.out, args.key, lap)
    print(json.dumps({"phases": phases}))
    return 0


def _child_push(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    """What the executor does after a stage ran: objects first, the manifest last."""
    from ci_ml.cache import Manifest, RunFacts
    from ci_ml.cache.outputs import snapshot

    entries, files = snapshot(root, [out])
    lap("snapshot")
    missing = store.missing_objects(files)
    lap("missing_objects")
    store.put_objects({digest: files[digest] for digest in missing})
    lap("put_objects")
    facts = RunFacts(
        commit="0" * 40,
        ref="refs/heads/main",
        started_at="2024-01-01T00:00:00+00:00",
        finished_at="2024-01-01T00:00:01+00:00",
        duration_s=1.0,
        runner="benchmark",
        ci_ml_version="benchmark",
    )
    store.put_manifest(Manifest(key=key, stage="bench", outputs=tuple(entries), run=facts))
    lap("put_manifest")


def _child_nochange(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    """The executor's answer to "push this again": its manifest is there, so nothing to do.
    The same request is timed again once the client has its connection."""
    if store.get_manifest(key) is None:
        raise SystemExit(f"no manifest under {key}: the push before this one did not land")
    lap("get_manifest")
    store.get_manifest(key)
    lap("get_manifest_again")


def _child_recheck(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    """What a push that did not trust the manifest would add: are all its objects there?
    (One LIST per fan-out directory.) Comparable to what `sync` does; ci-ml does not do it."""
    hit = store.get_manifest(key)
    lap("get_manifest")
    if hit is None:
        raise SystemExit(f"no manifest under {key}: the push before this one did not land")
    if missing := store.missing_objects(hit.manifest.digests()):
        raise SystemExit(f"{len(missing)} objects of manifest {key} are missing")
    lap("missing_objects")


def _child_pull(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    from ci_ml.cache.outputs import restore

    hit = store.get_manifest(key)
    lap("get_manifest")
    if hit is None:
        raise SystemExit(f"no manifest under {key}: the push did not land")
    restore(hit, store, root, [out])
    lap("restore")


# -- measuring -------------------------------------------------------------------------------


class Moto:
    """One moto server for the whole run, in its own process on 127.0.0.1."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
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
    _log(f"  {tool:7} {OP_LABELS[op]:15} {status:7} walls {list(result.walls_s)} cpu {cpus}")
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
        _log(f"  ! {tool.name} pulled wrong data: {problem}")
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


# -- set-up ----------------------------------------------------------------------------------


def ensure_peers(venv: Path) -> Path:
    """awscli, s5cmd and dvc[s3] in their own virtual environment, from PyPI when missing."""
    if _peers_ready(venv):
        return venv
    _log(f"installing {' '.join(PEERS)} into {venv}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *PEERS], check=True)
    if not _peers_ready(venv):
        raise SystemExit(f"{venv}: the peers did not install; see pip's output above")
    return venv


def _peers_ready(venv: Path) -> bool:
    bin_dir = venv / "bin"
    if not all((bin_dir / name).exists() for name in ("aws", "s5cmd", "dvc", "python")):
        return False
    probe = "import dvc_s3, dvc.version; print(dvc.version.__version__)"
    found = _output([str(bin_dir / "python"), "-c", probe])
    return found.splitlines()[-1:] == [DVC_VERSION]


def make_cases(work: Path, *, big: int, small_count: int, small_size: int) -> list[Case]:
    """The data sets, random bytes (so nothing deduplicates), written once and kept."""
    data = work / "data"
    big_case = Case(
        name="big",
        label=f"1 file of {_size(big)}",
        root=data / f"big-{big}",
        out="big.bin",
        is_dir=False,
        size=big,
        files=1,
    )
    small_case = Case(
        name="small",
        label=f"{small_count:,} files of {_size(small_size)}",
        root=data / f"small-{small_count}x{small_size}",
        out="small",
        is_dir=True,
        size=small_count * small_size,
        files=small_count,
    )
    if not _marker(big_case.root).exists():
        _write_big(big_case.root / big_case.out, big)
    if not _marker(small_case.root).exists():
        _write_small(small_case.root / small_case.out, small_count, small_size)
    return [big_case, small_case]


def _write_big(path: Path, size: int) -> None:
    _log(f"writing {path} ({_size(size)})")
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        for start in range(0, size, 8 << 20):
            f.write(os.urandom(min(8 << 20, size - start)))
    _marker(path.parent).write_text("done\n", encoding="utf-8")


def _write_small(folder: Path, count: int, size: int) -> None:
    _log(f"writing {count} files of {_size(size)} into {folder}")
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"{n:05d}.bin").write_bytes(os.urandom(size))
    _marker(folder.parent).write_text("done\n", encoding="utf-8")


def _marker(root: Path) -> Path:
    """Written when a data set is complete; beside its root, since `sync <root>/` sends all."""
    return root.parent / f"{root.name}.done"


def _empty_dir(path: Path) -> None:
    _remove(path)
    path.mkdir(parents=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def _output(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return (proc.stdout + proc.stderr).strip()


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- verdicts and the table ------------------------------------------------------------------

PEER_NAMES = ("awscli", "s5cmd", "dvc")
TRANSFERS = (("big", "push"), ("big", "pull"), ("small", "push"), ("small", "pull"))


def _find(results: Sequence[Measurement], tool: str, case: str, op: str) -> Measurement | None:
    return next((m for m in results if (m.tool, m.case, m.op) == (tool, case, op)), None)


def best_peer(results: Sequence[Measurement], case: str, op: str) -> Measurement | None:
    done = [m for m in results if m.tool in PEER_NAMES and (m.case, m.op) == (case, op)]
    timed = [m for m in done if m.wall_s is not None]
    return min(timed, key=lambda m: m.wall_s or 0.0) if timed else None


def verdicts(results: Sequence[Measurement]) -> list[dict[str, Any]]:
    """Pass or fail for each target; None where a measurement is missing."""
    found: list[dict[str, Any]] = []
    for case, op in TRANSFERS:
        ours, peer = _find(results, "ci-ml", case, op), best_peer(results, case, op)
        aws = _find(results, "awscli", case, op)
        found.append(_compare(f"{case} {op}: wall <= best peer", ours, peer, "wall_s"))
        found.append(_compare(f"{case} {op}: CPU <= awscli", ours, aws, "cpu_s"))
    found += [_nochange_verdict(results, case) for case in ("big", "small")]
    peaks = [m.peak_rss_mb for m in results if m.tool == "ci-ml" and m.peak_rss_mb is not None]
    found.append(
        {
            "target": f"ci-ml peak RSS < {RSS_TARGET_MB:g} MB",
            "passed": max(peaks) < RSS_TARGET_MB if peaks else None,
            "detail": f"{max(peaks) if peaks else None} MB (max over every ci-ml run)",
        }
    )
    return found


def _nochange_verdict(results: Sequence[Measurement], case: str) -> dict[str, Any]:
    """Judged on what a ci-ml process does to learn "already cached": make its S3 client and
    read the manifest. Interpreter start and imports are shown beside it, not counted."""
    check = _find(results, "ci-ml", case, "nochange")
    phases = check.phases if check else []
    cold = [p["s3_client"] + p["get_manifest"] for p in phases if "s3_client" in p]
    warm = [p["get_manifest_again"] for p in phases if "get_manifest_again" in p]
    seconds = round(statistics.median(cold), 3) if cold else None
    return {
        "target": f"{case} no-change push < {NOCHANGE_TARGET_S} s (S3 client + get_manifest)",
        "passed": None if seconds is None else seconds < NOCHANGE_TARGET_S,
        "detail": f"{seconds} s; with a client already made"
        f" {round(statistics.median(warm), 3) if warm else None} s;"
        f" whole process {check.wall_s if check else None} s",
    }


def _compare(
    target: str, ours: Measurement | None, theirs: Measurement | None, attr: str
) -> dict[str, Any]:
    mine = getattr(ours, attr) if ours else None
    other = getattr(theirs, attr) if theirs else None
    passed = None if mine is None or other is None else mine <= other
    ratio = round(mine / other, 2) if mine is not None and other else None
    who = theirs.tool if theirs else "?"
    return {"target": target, "passed": passed, "detail": f"{mine} vs {other} ({who}): x{ratio}"}


def render_markdown(results: Sequence[Measurement], cases: Sequence[Case]) -> str:
    lines = [
        "| data | operation | tool | wall s | CPU s | peak RSS MB | moto CPU s | ci-ml vs peers |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in cases:
        for op in OPS:
            for m in sorted(
                (m for m in results if (m.case, m.op) == (case.name, op)),
                key=lambda m: (m.tool != "ci-ml", m.wall_s is None, m.wall_s or 0.0),
            ):
                lines.append(_row(case, m, results))
    lines += ["", _phase_table(results, cases)]
    return "\n".join(lines)


def _row(case: Case, m: Measurement, results: Sequence[Measurement]) -> str:
    wall = _fmt(m.wall_s) if m.status == "ok" else m.status
    if m.status == "ok" and len(m.walls_s) > 1:
        wall += f" ({len(m.walls_s)} runs)"
    ratio = ""
    if m.tool == "ci-ml" and m.wall_s is not None:
        peer = best_peer(results, m.case, m.op)
        aws = _find(results, "awscli", m.case, m.op)
        if peer and peer.wall_s:
            ratio = f"wall x{m.wall_s / peer.wall_s:.2f} of {peer.tool}"
        if aws and aws.cpu_s and m.cpu_s is not None:
            ratio += f"; CPU x{m.cpu_s / aws.cpu_s:.2f} of awscli"
    cells = [case.label, OP_LABELS[m.op], m.tool, wall, _fmt(m.cpu_s), _fmt(m.peak_rss_mb)]
    return "| " + " | ".join([*cells, _fmt(m.server_cpu_s), ratio]) + " |"


def _phase_table(results: Sequence[Measurement], cases: Sequence[Case]) -> str:
    """ci-ml's own timings of each phase (median over runs), from inside its process."""
    lines = ["| ci-ml, timed inside | phases (median s) |", "| --- | --- |"]
    for case in cases:
        for op in OPS:
            m = _find(results, "ci-ml", case.name, op)
            if not m or not m.phases:
                continue
            names = list(m.phases[0])
            medians = {n: statistics.median(p.get(n, 0.0) for p in m.phases) for n in names}
            text = ", ".join(f"{n} {v:.3f}" for n, v in medians.items())
            lines.append(f"| {case.label}, {OP_LABELS[op]} | {text} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def render_verdicts(found: Sequence[dict[str, Any]]) -> str:
    marks = {True: "pass", False: "FAIL", None: "n/a"}
    return "\n".join(f"- {marks[v['passed']]}: {v['target']}: {v['detail']}" for v in found)


# -- main ------------------------------------------------------------------------------------


def machine_info(settings: Settings) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    bin_dir = settings.peers / "bin"
    moto = _output(
        [sys.executable, "-c", "import moto, boto3; print(moto.__version__, boto3.__version__)"]
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "moto_boto3": moto,
        "awscli": _output([str(bin_dir / "aws"), "--version"]),
        "s5cmd": _output([str(bin_dir / "s5cmd"), "version"]),
        "dvc": _output([str(bin_dir / "dvc"), "--version"]),
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
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["_child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    if not TIME.exists():
        raise SystemExit(
            f"{TIME} (GNU time) is needed to measure CPU and RSS: apt-get install time"
        )
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    peers = ensure_peers(work / "venv")
    cases = make_cases(
        work,
        big=int(args.big_gib * 2**30),
        small_count=args.small_count,
        small_size=int(args.small_kib * 1024),
    )
    cases = [c for c in cases if c.name in args.cases.split(",")]
    server = Moto(work / "moto.log")
    try:
        settings = Settings(
            work=work, repeat=args.repeat, timeout_s=args.timeout, endpoint=server.url, peers=peers
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
            _log(f"{case.label}: {name}")
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


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
