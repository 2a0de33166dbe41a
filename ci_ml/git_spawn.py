"""git commands started in the background, each printing to an anonymous file (git.Pending
reads it). Light to import, os and subprocess only: the console entry (launch.py) starts a
plan's reads of the working tree with it before the CLI's imports, since `git status` is the
longest part of a plan at 100,000 files."""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import subprocess
from collections.abc import Sequence

# A started command and the file its output goes to.
Started = tuple["subprocess.Popen[bytes]", io.BufferedRandom]

# The working tree's reads started for a plan before it asked, by (repository root, prefix).
_prestarted: dict[tuple[str, str], tuple[Started, Started]] = {}


def spawn(argv: list[str], cwd: str | os.PathLike[str], *, nice: bool = False) -> Started:
    """Start `argv`, its output to an anonymous file; `nice`: at a lower CPU priority."""
    out = _anonymous_file()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.PIPE)
    except BaseException:
        out.close()
        raise
    if nice:
        _lower_priority(proc.pid)
    return proc, out


def stop(started: Started) -> None:
    """Stop the command: SIGTERM, on which git removes the lock files it holds."""
    proc, out = started
    if proc.poll() is None:
        proc.terminate()
    proc.communicate()
    out.close()


def index_listing_argv(prefix: str) -> list[str]:
    """`ls-files -s -v -z` of the files under `prefix` ('' for all)."""
    args = ["git", "ls-files", "-s", "-v", "-z", "--full-name"]
    return [*args, "--", prefix] if prefix else args


def worktree_changes_argv(paths: Sequence[str]) -> list[str]:
    """`git status` of the tracked files at or under `paths` (literal paths)."""
    # On two cores or fewer, status's threads that stat the index in parallel only take the
    # cores from `ls-files` and its parsing, which run meanwhile (0.05 s less in 0.35 s at
    # 100,000 files, benchmarks/README.md); the answer is the same either way.
    args = ["git", "--literal-pathspecs"]
    args += ["-c", "core.preloadIndex=false"] if _cores() <= 2 else []
    args += ["status", "--porcelain=v2", "-z", "--untracked-files=no", "--no-renames"]
    return [*args, "--ignore-submodules=all", "--", *paths]


def prestart_worktree_reads(top: str, prefix: str) -> None:
    """Start the index listing and (speculatively, so nicer) status of the files under
    `prefix` in the repository at `top`, for `take_prestarted` to hand to the plan."""
    listing = spawn(index_listing_argv(prefix), top)
    try:
        changes = spawn(worktree_changes_argv([prefix or "."]), top, nice=True)
    except BaseException:
        stop(listing)
        raise
    if not _prestarted:
        atexit.register(_stop_prestarted)  # a plan that fails early leaves no git running
    _prestarted[top, prefix] = (listing, changes)


def take_prestarted(top: str, prefix: str) -> tuple[Started, Started] | None:
    """The (listing, status) that `prestart_worktree_reads` started, if it did."""
    return _prestarted.pop((top, prefix), None)


def _stop_prestarted() -> None:
    for started in _prestarted.values():
        for command in started:
            stop(command)
    _prestarted.clear()


def _lower_priority(pid: int) -> None:
    """Ten steps nicer than this process (best effort: not on Windows, and a process that has
    already exited cannot be changed)."""
    if hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))


def _anonymous_file() -> io.BufferedRandom:
    """A temporary file without a name (Linux's O_TMPFILE, as `tempfile` uses there), without
    importing `tempfile` where that works."""
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        with contextlib.suppress(OSError):
            fd = os.open(os.environ.get("TMPDIR") or "/tmp", flag | os.O_RDWR, 0o600)
            return open(fd, "w+b")  # noqa: PTH123 - a descriptor, not a path
    import tempfile

    return tempfile.TemporaryFile()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
