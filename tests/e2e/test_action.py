"""action.yml end to end, its steps run the way the runner runs them, against a git repo built
from the example, the moto S3 server and the GitHub contract server: a push to main fills the
trusted cache, a pull request plans, runs, reports and comments, and a manual retrain runs
with param overrides."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.helpers.action_runner import ActionResult, run_action
from tests.helpers.github_server import GitHubServer
from tests.helpers.gitrepo import GitRepo
from tests.helpers.moto_server import S3Bucket

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "get-started"


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One RUNNER_TEMP for the module: the action installs ci-ml into it once (a real pip
    # install of this checkout), and later steps find the venv, as on a real runner's job.
    return tmp_path_factory.mktemp("runner-temp")


def clone(origin: GitRepo, dest: Path, branch: str) -> Path:
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", "--branch", branch, f"file://{origin.path}", str(dest)],
        check=True,
    )
    return dest


def step(
    inputs: dict[str, str], workspace: Path, runner_temp: Path, env: dict[str, str], token: str = ""
) -> ActionResult:
    result = run_action(
        inputs, workspace=workspace, runner_temp=runner_temp, env=env, github_token=token
    )
    assert result.returncode == 0, result.log
    return result


def test_pull_request_and_retrain_through_the_action(
    tmp_path: Path, runner_temp: Path, s3_bucket: S3Bucket, github_server: GitHubServer
) -> None:
    origin = GitRepo.init(tmp_path / "origin")
    shutil.copytree(
        EXAMPLE,
        origin.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".ci-ml", "data", "models", "reports"),
    )
    base_sha = origin.commit("get-started pipeline")
    cache = f"{s3_bucket.url}/ci-ml"
    # The stages call `python`: the interpreter with the example's dependencies comes first.
    base_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ["HOME"],
        "CI": "true",
        **{k: v for k, v in os.environ.items() if k.startswith(("AWS_", "GIT_"))},
        **github_server.env(),
        "GITHUB_WORKFLOW": "ci-ml",
    }

    # -- push to main: fill the trusted area ----------------------------------------------------
    main = clone(origin, tmp_path / "main", "main")
    push_event = tmp_path / "push.json"
    push_event.write_text(
        json.dumps({"ref": "refs/heads/main", "repository": {"default_branch": "main"}})
    )
    main_env = {
        **base_env,
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_EVENT_PATH": str(push_event),
        "GITHUB_RUN_ID": "1",
    }
    step(
        {"command": "run", "cache": cache, "allow-no-gpu": "true", "args": "--all"},
        main,
        runner_temp,
        main_env,
    )
    names = [
        o["Key"] for o in s3_bucket.client().list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    ]
    assert len([n for n in names if n.startswith("ci-ml/trusted/manifests/")]) == 4
    assert not [n for n in names if n.startswith("ci-ml/untrusted/")]

    # -- a pull request: plan, run, report, comment --------------------------------------------
    origin.git("checkout", "-q", "-b", "bigger-model")
    params = (
        (origin.path / "params.yaml").read_text().replace("hidden_size: 64 ", "hidden_size: 128")
    )
    origin.write({"params.yaml": params}, commit="Bigger hidden layer")
    head_sha = origin.git("rev-parse", "HEAD")
    github_server.add_pull(7, head_sha=head_sha, base_sha=base_sha)
    pr = clone(origin, tmp_path / "pr", "bigger-model")  # shallow: the action fetches the base
    pr_event = tmp_path / "pull_request.json"
    pr_event.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": 7,
                "pull_request": {
                    "number": 7,
                    # Same repository: a fork's GPU jobs would wait for approval.
                    "head": {
                        "sha": head_sha,
                        "ref": "bigger-model",
                        "repo": {"full_name": "owner/repo"},
                    },
                    "base": {"sha": base_sha, "ref": "main", "repo": {"full_name": "owner/repo"}},
                },
                "repository": {"default_branch": "main", "full_name": "owner/repo"},
            }
        )
    )
    pr_env = {
        **base_env,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_BASE_REF": "main",
        "GITHUB_EVENT_PATH": str(pr_event),
        "GITHUB_RUN_ID": "2",
    }

    plan = step({"command": "plan", "cache": cache}, pr, runner_temp, pr_env)
    assert plan.outputs["any-will-run"] == "true"
    assert json.loads(plan.outputs["stages"]) == ["train", "evaluate"]
    assert plan.outputs["needs-gpu"] == "true"
    assert json.loads(plan.outputs["runs-on"]) == ["self-hosted", "linux", "gpu"]
    [group] = json.loads(plan.outputs["matrix"])["include"]
    assert group["stages"] == ["train", "evaluate"]

    step(
        {"command": "run", "cache": cache, "stages": group["args"], "allow-no-gpu": "true"},
        pr,
        runner_temp,
        pr_env,
    )
    names = [
        o["Key"] for o in s3_bucket.client().list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    ]
    assert len([n for n in names if n.startswith("ci-ml/untrusted/manifests/")]) == 2

    report = step(
        {"command": "report", "cache": cache, "args": "--no-fail"}, pr, runner_temp, pr_env
    )
    assert report.outputs["verdict"] == "passed"
    assert Path(report.outputs["report-dir"], "report.md").is_file()
    assert "### Metrics" in report.summary

    step({"command": "comment"}, pr, runner_temp, pr_env, token=github_server.token)
    [body] = [c.body for c in github_server.comments_on(7)]
    assert "`train.hidden_size` | `64`   | `128`" in body
    assert f"{github_server.server_url}/owner/repo/raw/" in body
    [check] = github_server.check_runs.values()
    assert (check["name"], check["conclusion"]) == ("ci-ml", "success")
    # A re-run of the workflow updates the same comment in place.
    step(
        {"command": "comment"},
        pr,
        runner_temp,
        {**pr_env, "GITHUB_RUN_ID": "4"},
        token=github_server.token,
    )
    [updated] = github_server.comments_on(7)
    assert "run=4" in updated.body
    image = re.search(r"!\[[^]]*\]\(([^)]+)\)", updated.body).group(1)  # type: ignore[union-attr]
    assert requests.get(image, timeout=10).content.startswith(b"\x89PNG")

    # -- a manual retrain with param overrides ---------------------------------------------------
    dispatch_event = tmp_path / "dispatch.json"
    dispatch_event.write_text(json.dumps({"inputs": {"stages": "train"}}))
    retrain_env = {
        **base_env,
        "GITHUB_EVENT_NAME": "workflow_dispatch",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_EVENT_PATH": str(dispatch_event),
        "GITHUB_RUN_ID": "3",
    }
    retrain = clone(origin, tmp_path / "retrain", "main")
    step(
        {
            "command": "run",
            "cache": cache,
            "stages": "train",
            "force": "true",
            "params": "train.epochs=5\ntrain.lr=0.02",
            "trust": "untrusted",
            "allow-no-gpu": "true",
        },
        retrain,
        runner_temp,
        retrain_env,
    )
    manifests = [
        o["Key"]
        for o in s3_bucket.client().list_objects_v2(
            Bucket=s3_bucket.name, Prefix="ci-ml/untrusted/manifests/"
        )["Contents"]
    ]
    overrides = []
    for key in manifests:
        manifest = json.loads(
            s3_bucket.client().get_object(Bucket=s3_bucket.name, Key=key)["Body"].read()
        )
        overrides += manifest["run"]["param_overrides"]
    assert sorted(overrides) == [
        "params.yaml:train.epochs=5",
        "params.yaml:train.epochs=5",
        "params.yaml:train.lr=0.02",
        "params.yaml:train.lr=0.02",
    ]


def _install_step(runner_temp: Path, tool_cache: Path, command: str) -> str:
    """The action's install step alone, as a job on a self-hosted runner with reuse-venv."""
    runner_temp.mkdir()
    env = {
        **os.environ,
        "GITHUB_ACTION_PATH": str(ROOT),
        "RUNNER_TEMP": str(runner_temp),
        "RUNNER_TOOL_CACHE": str(tool_cache),
        "INPUT_COMMAND": command,
        "INPUT_REUSE_VENV": "true",
    }
    done = subprocess.run(
        [sys.executable, "-I", str(ROOT / "ci_ml" / "github" / "install.py")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_reused_venv_gets_the_report_set_when_a_later_job_needs_it(tmp_path: Path) -> None:
    tools = tmp_path / "tool-cache"
    _install_step(tmp_path / "plan-job", tools, "plan")
    [venv] = (tools / "ci-ml").iterdir()
    assert sorted(p.name for p in venv.glob(".installed-*")) == [".installed-core"]

    added = _install_step(tmp_path / "report-job", tools, "report")
    assert "action-requirements-report.txt" in added
    assert "action-requirements.txt" not in added  # the core set is there already
    assert sorted(p.name for p in venv.glob(".installed-*")) == [
        ".installed-core",
        ".installed-report",
    ]
    python = tmp_path / "report-job" / "ci-ml-venv" / "bin" / "python"
    subprocess.run([python, "-I", "-c", "import matplotlib, github, ci_ml.cli"], check=True)

    assert _install_step(tmp_path / "comment-job", tools, "comment") == ""  # nothing to do
    assert (tmp_path / "comment-job" / "ci-ml-venv").resolve() == venv
