"""Attacks on the trust boundary, each performed for real: stage commands that read the
environment, committed cache state, planted pending manifests, PR-chosen trust, a PR module
that shadows one ci-ml imports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ci_ml.cache import Trust
from ci_ml.cache.trust import decide_trust
from tests.helpers.gitrepo import GitRepo, run_cli

ROOT = Path(__file__).resolve().parents[2]
DUMP_ENV = """\
stages:
  train:
    cmd: env > env.txt
    deps: [train.sh]
    outs: [env.txt]
"""
CREDENTIALS = {
    "GITHUB_TOKEN": "ghs_secret",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc_secret",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://oidc.invalid/token",
    "ACTIONS_RUNTIME_TOKEN": "runtime_secret",
    "AWS_ACCESS_KEY_ID": "AKIASECRET",
    "AWS_SECRET_ACCESS_KEY": "aws_secret",
    "AWS_SESSION_TOKEN": "session_secret",
    "INPUT_GITHUB-TOKEN": "input_secret",
    "MLFLOW_TRACKING_TOKEN": "mlflow_secret",
}


@pytest.fixture
def dump_repo(git_repo: GitRepo) -> GitRepo:
    git_repo.write({"dvc.yaml": DUMP_ENV, "train.sh": "", ".gitignore": "env.txt\n"}, commit="base")
    return git_repo


def test_a_stage_command_sees_no_credential(dump_repo: GitRepo) -> None:
    code, _out, err = run_cli("run", "--all", cwd=dump_repo.path, env=CREDENTIALS)
    assert code == 0, err
    seen = (dump_repo.path / "env.txt").read_text()
    leaked = [name for name, value in CREDENTIALS.items() if value in seen]
    assert leaked == []
    assert "CI_ML_STAGE=train" in seen


def test_pass_env_lets_a_named_variable_through(dump_repo: GitRepo) -> None:
    dump_repo.write({"ci-ml.yaml": "pass-env: [AWS_ACCESS_KEY_ID]\n"}, commit="pass")
    code, _out, err = run_cli("run", "--all", cwd=dump_repo.path, env=CREDENTIALS)
    assert code == 0, err
    seen = (dump_repo.path / "env.txt").read_text()
    assert "AWS_ACCESS_KEY_ID=AKIASECRET" in seen
    assert "aws_secret" not in seen


def test_a_committed_cache_dir_is_refused(dump_repo: GitRepo) -> None:
    planted = ".ci-ml/cache/trusted/manifests/ab/" + "ab" * 32 + ".json"
    (dump_repo.path / planted).parent.mkdir(parents=True)
    (dump_repo.path / planted).write_text("{}")
    dump_repo.git("add", "-f", planted)
    dump_repo.git("commit", "-qm", "plant")
    code, _out, err = run_cli("run", "--all", cwd=dump_repo.path)
    assert code == 2
    assert ".ci-ml/ is tracked by git" in err
    assert "git rm -r --cached .ci-ml" in err


@pytest.mark.parametrize("head", [[], ["--head", "HEAD"]], ids=["working-tree", "commit"])
def test_plan_refuses_a_committed_state_dir(dump_repo: GitRepo, head: list[str]) -> None:
    dump_repo.write({".ci-ml/pending/x.json": "{}", ".ci-ml/last-run.json": "{}"})
    dump_repo.git("add", "-f", ".ci-ml")
    dump_repo.git("commit", "-qm", "plant")
    code, out, err = run_cli("plan", "--base", "HEAD~1", *head, "--json", cwd=dump_repo.path)
    assert (code, out) == (2, "")
    assert ".ci-ml/ is tracked by git (2 file(s), e.g. .ci-ml/last-run.json)" in err
    assert "git rm -r --cached .ci-ml" in err


def test_push_refuses_a_pending_manifest_whose_key_the_workspace_does_not_compute(
    dump_repo: GitRepo,
) -> None:
    assert run_cli("run", "--all", "--no-push", cwd=dump_repo.path)[0] == 0
    pending = next((dump_repo.path / ".ci-ml" / "pending").glob("*.json"))
    forged_key = "f" * 64
    doc = json.loads(pending.read_text())
    doc["key"] = forged_key
    (pending.parent / f"{forged_key}.json").write_text(json.dumps(doc))
    pending.unlink()
    code, out, err = run_cli("push", "--json", cwd=dump_repo.path)
    assert code == 0, err
    result = json.loads(out)
    assert result["pushed"] == []
    assert result["key_mismatch"] == ["train"]


def test_push_uploads_a_pending_manifest_the_workspace_agrees_with(dump_repo: GitRepo) -> None:
    assert run_cli("run", "--all", "--no-push", cwd=dump_repo.path)[0] == 0
    code, out, err = run_cli("push", "--json", cwd=dump_repo.path)
    assert code == 0, err
    assert json.loads(out)["pushed"] == ["train"]


@pytest.mark.parametrize("key", ["trust: trusted", "trusted-refs: [refs/heads/*]"])
def test_the_repository_cannot_choose_its_own_trust(dump_repo: GitRepo, key: str) -> None:
    dump_repo.write({"ci-ml.yaml": key + "\n"}, commit="trust")
    code, _out, err = run_cli("plan", cwd=dump_repo.path)
    assert code == 2
    assert "cannot be set in ci-ml.yaml" in err
    assert "CI_ML_TRUST" in err or "CI_ML_TRUSTED_REFS" in err


MAIN = {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/main", "GITHUB_SHA": "a" * 40}
EVENT = {"repository": {"default_branch": "main"}}


@pytest.mark.parametrize(
    ("event", "checkout", "expected"),
    [
        ("push", "a" * 40, Trust.TRUSTED),
        ("schedule", "a" * 40, Trust.TRUSTED),
        ("workflow_dispatch", "a" * 40, Trust.TRUSTED),
        # A retrain dispatched on main that checks out another ref runs that ref's code.
        ("workflow_dispatch", "b" * 40, Trust.UNTRUSTED),
        ("issue_comment", "a" * 40, Trust.UNTRUSTED),
        ("repository_dispatch", "a" * 40, Trust.UNTRUSTED),
        ("pull_request", "a" * 40, Trust.UNTRUSTED),
        ("pull_request_target", "a" * 40, Trust.UNTRUSTED),
        ("workflow_run", "a" * 40, Trust.UNTRUSTED),
        ("merge_group", "a" * 40, Trust.UNTRUSTED),
    ],
)
def test_trusted_events_are_an_allow_list(event: str, checkout: str, expected: Trust) -> None:
    env = {**MAIN, "GITHUB_EVENT_NAME": event}
    trust = decide_trust(
        explicit=None,
        env=env,
        event=EVENT,
        trusted_refs=("default", "refs/tags/*"),
        local_cache=False,
        checkout_sha=checkout,
    )
    assert trust is expected


def test_a_push_to_another_branch_is_untrusted() -> None:
    env = {**MAIN, "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature"}
    trust = decide_trust(
        explicit=None, env=env, event=EVENT, trusted_refs=("default",), local_cache=False
    )
    assert trust is Trust.UNTRUSTED


ACTIONS = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request"}


def test_no_cache_on_actions_is_an_error_annotation_and_a_runner_temp_cache(
    dump_repo: GitRepo, tmp_path: Path
) -> None:
    env = {**ACTIONS, "RUNNER_TEMP": str(tmp_path / "runner-temp")}
    code, _out, err = run_cli("run", "--all", cwd=dump_repo.path, env=env)
    assert code == 0, err
    assert "::error::ci-ml: no shared cache is configured" in err
    assert "CI_ML_CACHE=local" in err
    assert list((tmp_path / "runner-temp" / "ci-ml-cache").rglob("*.json"))
    assert not (dump_repo.path / ".ci-ml" / "cache").exists()


def test_cache_local_on_actions_is_the_quiet_opt_in(dump_repo: GitRepo, tmp_path: Path) -> None:
    env = {**ACTIONS, "RUNNER_TEMP": str(tmp_path / "t"), "CI_ML_CACHE": "local"}
    code, _out, err = run_cli("run", "--all", cwd=dump_repo.path, env=env)
    assert code == 0, err
    assert "::error::" not in err


def test_a_persistent_local_cache_on_actions_needs_an_explicit_choice(
    dump_repo: GitRepo, tmp_path: Path
) -> None:
    env = {**ACTIONS, "CI_ML_CACHE": str(tmp_path / "shared-cache")}
    code, _out, err = run_cli("run", "--all", cwd=dump_repo.path, env=env)
    assert code == 2
    assert "CI_ML_ALLOW_LOCAL_CACHE=true" in err
    code, _out, err = run_cli(
        "run", "--all", cwd=dump_repo.path, env={**env, "CI_ML_ALLOW_LOCAL_CACHE": "true"}
    )
    assert code == 0, err


def _action_command() -> str:
    """The command line action.yml's ci-ml step runs, with this checkout's Python."""
    text = (ROOT / "action.yml").read_text()
    line = re.search(r"^\s+run: '(.*-m ci_ml\.github\.action)'$", text, re.M)
    assert line is not None
    return line.group(1).replace('"$RUNNER_TEMP/ci-ml-venv/bin/python"', f'"{sys.executable}"')


@pytest.mark.parametrize("isolated", [True, False])
def test_a_pr_module_named_like_a_dependency_is_not_imported(
    dump_repo: GitRepo, isolated: bool
) -> None:
    # secrets.py at the root of the PR's checkout: a module `ci-ml plan` imports (it imports no
    # third-party one), imported from there if the cwd is on sys.path.
    dump_repo.write({"secrets.py": "open('pwned', 'w').write('x')\nraise SystemExit(9)\n"})
    command = _action_command() if isolated else _action_command().replace(" -I ", " ")
    env = {**os.environ, "INPUT_COMMAND": "plan", "GITHUB_WORKSPACE": str(dump_repo.path)}
    subprocess.run(["bash", "-c", command], cwd=dump_repo.path, env=env, check=False)
    assert (dump_repo.path / "pwned").exists() is not isolated
