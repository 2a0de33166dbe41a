"""The transfer benchmark's records: data sets, timed steps, runs, measurements, settings,
the `Tool` protocol every client follows, and `log` (progress on stderr; stdout has the tables).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

MB = 1_000_000  # RSS is reported in MB (10^6), as the targets are written
OPS = ("push", "nochange", "recheck", "pull")  # recheck: ci-ml only
OP_LABELS = {
    "push": "push",
    "nochange": "no-change push",
    "recheck": "no-change push + objects check",
    "pull": "pull",
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


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
