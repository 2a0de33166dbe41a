"""Run a stage's command: `bash -c` in its wdir, an explicit env, streamed output, a timeout."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ci_ml")
TAIL_LINES = 50


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    timed_out: bool
    tail: tuple[str, ...]  # the last lines of output, for the summary and the report


def run_commands(
    cmds: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    emit: Callable[[str], None],
) -> CommandResult:
    """Run each command in turn, stopping at the first failure; `emit` gets every line."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    for cmd in cmds:
        emit(f"+ {cmd}")
        code, timed_out = _run_one(cmd, cwd=cwd, env=env, timeout=timeout, tail=tail, emit=emit)
        if code != 0 or timed_out:
            return CommandResult(code, timed_out, tuple(tail))
    return CommandResult(0, False, tuple(tail))


def _run_one(
    cmd: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float | None,
    tail: collections.deque[str],
    emit: Callable[[str], None],
) -> tuple[int, bool]:
    # A new session, so a timeout can stop the whole process group, not just bash.
    proc = subprocess.Popen(
        ["bash", "-c", cmd],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            emit(line)
        code = proc.wait()
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        if timer:
            timer.cancel()
    return code, timed_out.is_set()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
