"""The retrain workflow `ci-ml init` writes, run as written under act: `retrain` runs the
forced stages with a param override on the GPU runner and uploads the params patch; `open-pr`
downloads it with `gh run download`, pushes a branch and opens the pull request with `gh pr
create` (a `gh` shim on the runner's PATH: the artifact from act's artifact store; the pull
request recorded, since the contract server has no `pulls/create` yet)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

from tests.e2e.workflows.test_main_workflow import fake_gpu, fill_cache, make_origin
from tests.e2e.workflows.test_pr_workflow import log_stages
from tests.helpers import gh_shim
from tests.helpers.act import ActRunner, aws_env, runner_path
from tests.helpers.github_server import GitHubServer
from tests.helpers.moto_server import S3Bucket

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"


def checkout_stub(directory: Path) -> Path:
    """actions/checkout for a step with `with.ref`, which act cannot replace with its copy of
    the repository offline: clone the origin named by CI_ML_TEST_ORIGIN and check out the ref
    (the default branch when empty), as the real action would from GitHub."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "action.yml").write_text(
        """\
name: checkout (test double)
inputs:
  ref: {default: ""}
  persist-credentials: {default: "true"}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        REF: ${{ inputs.ref }}
      run: |
        git clone -q "$CI_ML_TEST_ORIGIN" .
        if [ -n "$REF" ]; then git checkout -q "$REF"; fi
""",
        encoding="utf-8",
    )
    return directory


def test_retrain_with_an_override_opens_a_one_line_params_pr(
    tmp_path: Path, act_runner: ActRunner, s3_bucket: S3Bucket, github_server: GitHubServer
) -> None:
    executed = tmp_path / "executed.log"
    origin, _ = make_origin(tmp_path / "origin")
    log_stages(origin, executed)
    fill_cache(origin, tmp_path / "main-runner", s3_bucket)
    executed.unlink()
    remote = tmp_path / "remote.git"  # where `git push https://...github.com/owner/repo` goes
    subprocess.run(["git", "clone", "-q", "--bare", str(origin.path), str(remote)], check=True)
    runner = dataclasses.replace(
        act_runner,
        local_repositories={
            **act_runner.local_repositories,
            CHECKOUT: checkout_stub(tmp_path / "checkout"),
        },
    )
    runner.add_template_python()
    tools = gh_shim.install(fake_gpu(tmp_path / "tools"), runner.home)
    push_url = f"https://x-access-token:{github_server.token}@github.com/owner/repo.git"

    result = runner.run(
        origin.path / ".github" / "workflows" / "ci-ml-retrain.yml",
        repo=origin.path,
        event="workflow_dispatch",
        payload={
            "inputs": {
                "stages": "train",
                "force": "true",  # GitHub sends every dispatch input as a string
                "params": "train.epochs=25",
                "ref": "",
                "open-pr": "true",
            },
            "repository": {"default_branch": "main", "full_name": "owner/repo"},
        },
        env={"GITHUB_API_URL": github_server.api_url, "GITHUB_REPOSITORY": "owner/repo"},
        variables={"CI_ML_CACHE": f"{s3_bucket.url}/ci-ml"},
        secrets={"GITHUB_TOKEN": github_server.token},
        runner_env={
            "PATH": runner_path(tools),
            "CI_ML_TEST_ORIGIN": str(origin.path),
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"url.{remote}.insteadOf",
            "GIT_CONFIG_VALUE_0": push_url,
            **aws_env(),
        },
        timeout_s=400,
    )

    # The forced stage and its downstream ran, once each.
    assert any(
        "ci-ml run --trust untrusted train --force" in line for line in result.job_lines("retrain")
    )
    assert executed.read_text().split() == ["train", "evaluate"]
    # The params PR: a branch whose only change from main is the overridden value's line.
    [branch] = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/ci-ml/"],
        cwd=remote, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    diff = subprocess.run(
        ["git", "diff", "--unified=0", "main", branch],
        cwd=remote, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == [
        "-  epochs: 20          # passes over the training set; one row of reports/train_curve.csv each",
        "+  epochs: 25          # passes over the training set; one row of reports/train_curve.csv each",
    ]
    [pull] = json.loads((runner.home / gh_shim.PR_CREATE_RECORD).read_text())
    assert (pull["head"], pull["base"]) == (branch, "main")
    assert pull["title"] == "Retrain: train.epochs=25"
    assert "train.epochs=25" in pull["body"]
    assert "### Metrics" in pull["body"]
    assert re.search(r"<sub>base \S*main\b", pull["body"])  # the report compares with main
