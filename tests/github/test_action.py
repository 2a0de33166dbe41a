from __future__ import annotations

from pathlib import Path

import pytest

from ci_ml.errors import UserError
from ci_ml.github.action import argv_from_inputs


def inputs(**values: str) -> dict[str, str]:
    return {"INPUT_" + k.upper(): v for k, v in values.items()}


@pytest.mark.parametrize(
    ("given", "argv"),
    [
        ({}, ["plan", "--github-output"]),
        (
            {"command": "plan", "base": "main", "pipeline": "ml"},
            ["plan", "--pipeline", "ml", "--base", "main", "--github-output"],
        ),
        (
            {"command": "run", "stages": "train, evaluate", "force": "true"},
            ["run", "train", "evaluate", "--force"],
        ),
        (
            {"command": "run", "params": "train.lr=0.2\n\nconf.yaml:epochs=3\n"},
            ["run", "--set", "train.lr=0.2", "--set", "conf.yaml:epochs=3"],
        ),
        (
            {"command": "run", "allow_no_gpu": "true", "cache": "s3://b/p", "trust": "untrusted"},
            ["run", "--cache", "s3://b/p", "--trust", "untrusted", "--allow-no-gpu"],
        ),
        ({"command": "run", "force": "false", "stages": ""}, ["run"]),
        # A push that creates a branch: github.event.before is all zeros.
        ({"command": "plan", "base": "0" * 40}, ["plan", "--github-output"]),
        (
            {"command": "run", "mlflow_tracking_uri": "https://mlflow.example.com"},
            ["run", "--mlflow-tracking-uri", "https://mlflow.example.com"],
        ),
        ({"command": "report", "mlflow_tracking_uri": "https://m"}, ["report"]),
        ({"command": "report", "args": "--no-fail --json"}, ["report", "--no-fail", "--json"]),
        (
            {"command": "comment", "args": "--image-branch 'plots here'"},
            ["comment", "--image-branch", "plots here"],
        ),
    ],
)
def test_inputs_become_flags(given: dict[str, str], argv: list[str]) -> None:
    assert argv_from_inputs(inputs(**given)) == argv


def test_report_and_comment_share_a_directory_under_runner_temp() -> None:
    env = {"RUNNER_TEMP": "/tmp/r", **inputs(command="report")}
    assert argv_from_inputs(env)[-2:] == ["--out", "/tmp/r/ci-ml-report"]
    env = {"RUNNER_TEMP": "/tmp/r", **inputs(command="comment")}
    assert argv_from_inputs(env)[-2:] == ["--report", "/tmp/r/ci-ml-report"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"command": "deploy"}, "action input command 'deploy' is not one of"),
        ({"command": "plan", "force": "true"}, "action inputs force apply to `command: run` only"),
        ({"command": "run", "force": "maybe"}, "action input 'force' must be true or false"),
    ],
)
def test_bad_inputs_are_user_errors(given: dict[str, str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        argv_from_inputs(inputs(**given))


def test_fetch_history_finds_the_merge_base_in_a_shallow_clone(tmp_path: Path) -> None:
    import subprocess

    from ci_ml.git import Git
    from ci_ml.github.action import fetch_history
    from tests.helpers.gitrepo import GitRepo

    origin = GitRepo.init(tmp_path / "origin")
    origin.write({"a.txt": "0"}, commit="root")
    for i in range(5):
        origin.write({"a.txt": str(i)}, commit=f"main {i}")
    base = origin.git("rev-parse", "HEAD")
    origin.git("checkout", "-q", "-b", "pr")
    for i in range(3):
        origin.write({"b.txt": str(i)}, commit=f"pr {i}")
    clone = Path(tmp_path / "clone")
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", "--branch", "pr", f"file://{origin.path}", str(clone)],
        check=True,
    )
    git = Git(clone)
    assert git.merge_base(base, "HEAD") is None
    fetch_history(git, base)
    assert git.merge_base(base, "HEAD") == base
