"""The composite action's only Python: INPUT_* environment -> `ci-ml` argv.

action.yml passes every input through `env:` as INPUT_<NAME> (never `${{ }}` inside `run:`),
and this module turns them into flags. An empty input adds no flag, so it never overrides
ci-ml.yaml or CI_ML_* variables. `python -m ci_ml.github.action` runs the mapped command.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from ci_ml.errors import CiMlError, UserError
from ci_ml.git import Git

log = logging.getLogger("ci_ml")

COMMANDS = ("plan", "run", "report", "comment", "diff", "status", "push", "pull", "gc", "dag")
WITH_BASE = ("plan", "run", "report", "diff")
TRUE = ("true", "1", "yes", "on")


def _input(env: Mapping[str, str], name: str) -> str:
    return env.get("INPUT_" + name.upper().replace("-", "_"), "").strip()


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = _input(env, name).lower()
    if value and value not in (*TRUE, "false", "0", "no", "off"):
        raise UserError(f"action input {name!r} must be true or false, not {value!r}.")
    return value in TRUE


def argv_from_inputs(env: Mapping[str, str]) -> list[str]:
    """The ci-ml command line for the action's inputs. [pure]"""
    command = _input(env, "command") or "plan"
    if command not in COMMANDS:
        raise UserError(f"action input command {command!r} is not one of: {', '.join(COMMANDS)}.")
    argv = [command]
    for name in ("pipeline", "cache", "trust"):
        if _input(env, name):
            argv += ["--pipeline" if name == "pipeline" else f"--{name}", _input(env, name)]
    if command in ("run", "push") and _input(env, "mlflow-tracking-uri"):
        argv += ["--mlflow-tracking-uri", _input(env, "mlflow-tracking-uri")]
    base = _input(env, "base")
    # A push that creates a branch has `before` = 0000...: no base, so the usual default applies.
    if command in WITH_BASE and base and base.strip("0"):
        argv += ["--base", base]
    if command == "plan":
        argv.append("--github-output")
    run_only = {
        "stages": bool(_input(env, "stages")),
        "force": _flag(env, "force"),
        "params": bool(_input(env, "params")),
        "allow-no-gpu": _flag(env, "allow-no-gpu"),
    }
    if command == "run":
        argv += _input(env, "stages").replace(",", " ").split()
        argv += ["--force"] if run_only["force"] else []
        argv += ["--allow-no-gpu"] if run_only["allow-no-gpu"] else []
        for line in _input(env, "params").splitlines():
            if line.strip():
                argv += ["--set", line.strip()]
    elif any(run_only.values()):
        used = ", ".join(name for name, given in run_only.items() if given)
        raise UserError(f"action inputs {used} apply to `command: run` only, not {command!r}.")
    if command == "report" and env.get("RUNNER_TEMP"):
        argv += ["--out", str(Path(env["RUNNER_TEMP"]) / "ci-ml-report")]
    if command == "comment" and env.get("RUNNER_TEMP"):
        argv += ["--report", str(Path(env["RUNNER_TEMP"]) / "ci-ml-report")]
    argv += shlex.split(_input(env, "args"))
    return argv


def fetch_history(git: Git, base: str, *, rounds: int = 6) -> None:
    """In a shallow checkout (actions/checkout's default), fetch the base commit and deepen
    both sides until git finds their merge base, so the plan measures the PR's own change."""
    if not git.is_shallow():
        return
    if git.resolve(base) is None:
        log.info("fetching base %s (shallow checkout)", base)
        git.fetch("origin", base, depth=64)
    for _ in range(rounds):
        if git.merge_base(base, "HEAD") is not None:
            return
        git.fetch("origin", base, deepen=256)
    log.warning("no merge base of %s and HEAD within the fetched history", base)


def _base_to_fetch(env: Mapping[str, str]) -> str | None:
    from ci_ml.github.gha import load_event

    if _input(env, "base").strip("0"):
        return _input(env, "base")
    pull = load_event(env).get("pull_request")
    if isinstance(pull, Mapping) and isinstance(pull.get("base"), Mapping):
        sha = pull["base"].get("sha")
        return sha if isinstance(sha, str) else None
    return env.get("GITHUB_BASE_REF") or None


def main() -> int:
    from ci_ml.launch import prestart_plan

    try:
        argv = argv_from_inputs(os.environ)
    except UserError as e:
        print(f"::error::{e}")
        return e.exit_code
    prestart_plan(argv, os.environ)  # a plan's reads of the working tree run beside the fetch
    from ci_ml.cli import main as cli_main

    base = _base_to_fetch(os.environ)
    if argv[0] in WITH_BASE and base:
        try:
            fetch_history(Git.discover(Path(_input(os.environ, "pipeline") or ".")), base)
        except CiMlError as e:
            log.warning("could not fetch the base history: %s", e)
    print(f"+ ci-ml {shlex.join(argv)}", flush=True)
    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
