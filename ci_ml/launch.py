"""The `ci-ml` console command. For a plan of the working tree, git's reads of it (the index
listing and `git status`, the longest part of a plan at 100,000 files) start here, before the
CLI's imports (0.05 s), which then run beside them. Light to import: os and sys, and for a
plan subprocess."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence


def main() -> int:
    argv = sys.argv[1:]
    prestart_plan(after_command(argv), os.environ)
    from ci_ml.cli import main as cli_main

    return cli_main(argv)


def after_command(argv: Sequence[str]) -> list[str]:
    """`ci-ml -C DIR plan` as git spells it: options before the command move after it."""
    argv = list(argv)
    leading: list[str] = []
    while argv:
        width = _pipeline_option(argv, 0)[1] or (1 if argv[0] == "--debug" else 0)
        if not width:
            break
        leading += argv[:width]
        argv = argv[width:]
    return argv[:1] + leading + argv[1:] if leading and argv else leading + argv


def prestart_plan(args: list[str], env: Mapping[str, str]) -> None:
    """Start the working tree's reads for `ci-ml plan` without `--head`. Only a head start:
    reads that the plan does not take are stopped at exit, and any problem here is found
    again, and reported, by the plan itself."""
    if not args or args[0] != "plan" or any(_ends_prestart(arg) for arg in args):
        return
    import subprocess

    from ci_ml.git_spawn import prestart_worktree_reads
    from ci_ml.project_root import find_root, repo_prefix

    given = (_pipeline_option(args, i)[0] for i in range(len(args)))
    start = next((value for value in given if value), None) or env.get("CI_ML_PIPELINE") or "."
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, check=True
        )
        top = found.stdout.decode().strip()  # as `Git.discover` reads it
        root = find_root(start, top)
        if root is not None:
            prestart_worktree_reads(top, repo_prefix(root, top))
    except (OSError, subprocess.CalledProcessError, UnicodeDecodeError):
        return


def _ends_prestart(arg: str) -> bool:
    """A plan of another head, or help: no working tree to read."""
    return arg in ("-h", "--help", "--head") or arg.startswith("--head=")


def _pipeline_option(args: list[str], i: int) -> tuple[str | None, int]:
    """The value of a -C/--pipeline option at `args[i]`, and how many arguments it takes
    (0 when `args[i]` is not one)."""
    arg = args[i]
    if arg in ("-C", "--pipeline") and i + 1 < len(args):
        return args[i + 1], 2
    if arg.startswith("--pipeline="):
        return arg.partition("=")[2], 1
    if arg.startswith("-C") and len(arg) > 2:
        return arg[2:], 1
    return None, 0
