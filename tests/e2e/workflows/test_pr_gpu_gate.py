"""The GPU gate in the pull request workflow `ci-ml init` writes, run as written under act: a
fork's GPU jobs are left out of the matrix until a maintainer adds the ci-ml:run-gpu label,
and an unrelated label plans nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.workflows.test_main_workflow import make_origin
from tests.helpers.act import ActResult, ActRunner, runner_path
from tests.helpers.gitrepo import GitRepo


def make_pull_request(path: Path) -> tuple[GitRepo, str]:
    """get-started with `ci-ml init`, then a PR commit that changes train's params (train has
    `gpu: true`). Returns the repository, at the PR's head, and the base commit."""
    repo, _ = make_origin(path)
    base = repo.git("rev-parse", "HEAD")
    params = (repo.path / "params.yaml").read_text().replace("hidden_size: 64 ", "hidden_size: 128")
    repo.write({"params.yaml": params}, commit="Bigger hidden layer")
    return repo, base


def payload(repo: GitRepo, base: str, *, action: str, label: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {
                "sha": repo.git("rev-parse", "HEAD"),
                "ref": "bigger-model",
                "repo": {"full_name": "someone/fork"},
            },
            "base": {"sha": base, "ref": "main", "repo": {"full_name": "owner/repo"}},
        },
        "repository": {"default_branch": "main", "full_name": "owner/repo"},
    }
    if label:
        event["label"] = {"name": label}
    return event


def plan_outputs(result: ActResult) -> dict[str, str]:
    marker = "  ⚙  ::set-output:: "
    return dict(
        line[len(marker) :].split("=", 1)
        for line in result.job_lines("plan")
        if line.startswith(marker)
    )


def run_plan(act_runner: ActRunner, repo: GitRepo, event: dict[str, Any]) -> ActResult:
    act_runner.add_template_python()
    return act_runner.run(
        repo.path / ".github" / "workflows" / "ci-ml-pr.yml",
        repo=repo.path,
        event="pull_request",
        payload=event,
        runner_env={"PATH": runner_path()},
        job="plan",
        timeout_s=300,
    )


def test_a_forks_gpu_jobs_wait_until_the_label_approves_them(
    tmp_path: Path, act_runner: ActRunner
) -> None:
    repo, base = make_pull_request(tmp_path / "repo")

    waiting = plan_outputs(
        run_plan(act_runner, repo, payload(repo, base, action="synchronize", label=None))
    )
    assert waiting["gpu-wait"] == "true"
    assert waiting["any-will-run"] == "false"  # train +1 is the only group: held
    assert json.loads(waiting["matrix"]) == {"include": []}

    approved = plan_outputs(
        run_plan(act_runner, repo, payload(repo, base, action="labeled", label="ci-ml:run-gpu"))
    )
    assert approved["gpu-wait"] == "false"
    assert approved["any-will-run"] == "true"
    [group] = json.loads(approved["matrix"])["include"]
    assert group["stages"] == ["train", "evaluate"]
    # train's timeout (1800 s) and evaluate's default (600 s), plus 15 minutes of setup.
    assert (group["timeout-minutes"], group["environment"]) == (55, "")


def test_an_unrelated_label_plans_nothing(tmp_path: Path, act_runner: ActRunner) -> None:
    repo, base = make_pull_request(tmp_path / "repo")
    result = run_plan(act_runner, repo, payload(repo, base, action="labeled", label="bug"))
    assert not plan_outputs(result)
