"""The GPU budget gate: when GPU jobs wait, and who can approve them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.commands.test_gpu_budget import CONFIG, FILES, _event, _seed
from tests.helpers.gitrepo import GitRepo, plan_json, read_github_output, run_cli


@pytest.fixture
def seeded(git_repo: GitRepo, tmp_path: Path) -> tuple[GitRepo, str]:
    cache = str(tmp_path / "cache")
    _seed(git_repo, cache)
    return git_repo, cache


def _gate(repo: GitRepo, cache: str, env: dict[str, str]) -> dict[str, Any]:
    return plan_json(repo, "--base", "HEAD~1", "--cache", cache, env=env)


def test_gpu_jobs_wait_when_the_estimate_exceeds_the_budget(
    seeded: tuple[GitRepo, str], tmp_path: Path
) -> None:
    repo, cache = seeded
    env = {"CI_ML_GPU_BUDGET_MINUTES": "0.001", "GITHUB_EVENT_PATH": _event(tmp_path)}
    doc = _gate(repo, cache, env)
    gate = doc["gpu_gate"]
    assert gate["wait"] is True
    assert len(gate["reasons"]) == 1
    assert re.fullmatch(
        r"the estimate of 0\.\d+ GPU minutes exceeds the budget of 0\.001 minutes",
        gate["reasons"][0],
    )
    assert "ci-ml:run-gpu" in gate["how_to_approve"]
    # Label mode: the GPU group is left out until approved; CPU work goes ahead.
    assert [e["name"] for e in doc["matrix"]["include"]] == ["lint"]


def test_gpu_jobs_run_within_the_budget(seeded: tuple[GitRepo, str], tmp_path: Path) -> None:
    repo, cache = seeded
    env = {"CI_ML_GPU_BUDGET_MINUTES": "30", "GITHUB_EVENT_PATH": _event(tmp_path)}
    doc = _gate(repo, cache, env)
    assert doc["gpu_gate"]["wait"] is False
    assert doc["gpu_gate"]["reasons"] == []
    assert [e["name"] for e in doc["matrix"]["include"]] == ["lint", "train"]


def test_an_unknown_estimate_cannot_pass_a_budget(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write(FILES, commit="base")
    git_repo.write({"train.py": "v2\n"}, commit="head")
    env = {"CI_ML_GPU_BUDGET_MINUTES": "30", "GITHUB_EVENT_PATH": _event(tmp_path)}
    doc = plan_json(git_repo, "--base", "HEAD~1", env=env)
    assert doc["gpu_gate"]["wait"] is True
    assert doc["gpu_gate"]["reasons"] == [
        "no trusted run of train to estimate from, so the budget of 30 GPU minutes cannot be "
        "checked"
    ]


def test_gpu_jobs_of_a_fork_always_wait(seeded: tuple[GitRepo, str], tmp_path: Path) -> None:
    repo, cache = seeded
    doc = _gate(repo, cache, {"GITHUB_EVENT_PATH": _event(tmp_path, fork=True)})
    assert doc["gpu_gate"]["wait"] is True
    assert doc["gpu_gate"]["reasons"] == ["the pull request comes from a fork"]


def test_outside_a_pull_request_nothing_waits(seeded: tuple[GitRepo, str]) -> None:
    repo, cache = seeded
    doc = _gate(repo, cache, {"CI_ML_GPU_BUDGET_MINUTES": "0"})
    assert doc["gpu_gate"]["wait"] is False


def test_the_approval_label_lets_waiting_gpu_jobs_run(
    seeded: tuple[GitRepo, str], tmp_path: Path
) -> None:
    repo, cache = seeded
    event = _event(tmp_path, fork=True, action="labeled", label="ci-ml:run-gpu")
    output = tmp_path / "github_output"
    env = {"GITHUB_EVENT_PATH": event, "GITHUB_OUTPUT": str(output)}
    code, out, err = run_cli(
        "plan",
        "--base",
        "HEAD~1",
        "--cache",
        cache,
        "--github-output",
        "--json",
        cwd=repo.path,
        env=env,
    )
    assert code == 0, err
    gate = json.loads(out)["gpu_gate"]
    assert (gate["wait"], gate["approved"]) == (False, True)
    values = read_github_output(output)
    assert values["gpu-wait"] == "false"
    assert [e["name"] for e in json.loads(values["matrix"])["include"]] == ["lint", "train"]


def test_another_label_or_a_later_push_does_not_approve(
    seeded: tuple[GitRepo, str], tmp_path: Path
) -> None:
    repo, cache = seeded
    for action, label in (("labeled", "bug"), ("synchronize", "ci-ml:run-gpu")):
        env = {"GITHUB_EVENT_PATH": _event(tmp_path, fork=True, action=action, label=label)}
        assert _gate(repo, cache, env)["gpu_gate"]["wait"] is True


def test_environment_mode_routes_waiting_gpu_jobs_through_the_environment(
    seeded: tuple[GitRepo, str], tmp_path: Path
) -> None:
    repo, cache = seeded
    env = {"GITHUB_EVENT_PATH": _event(tmp_path, fork=True), "CI_ML_GPU_APPROVAL": "environment"}
    doc = _gate(repo, cache, env)
    envs = {e["name"]: e["environment"] for e in doc["matrix"]["include"]}
    assert envs == {"lint": "", "train": "ci-ml-gpu"}
    assert "ci-ml-gpu" in doc["gpu_gate"]["how_to_approve"]


def test_all_gpu_jobs_held_leaves_no_empty_matrix(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write(FILES, commit="base")
    git_repo.write({"train.py": "v2\n"}, commit="head")
    output = tmp_path / "github_output"
    env = {"GITHUB_EVENT_PATH": _event(tmp_path, fork=True), "GITHUB_OUTPUT": str(output)}
    code, out, err = run_cli(
        "plan", "--base", "HEAD~1", "--github-output", cwd=git_repo.path, env=env
    )
    assert code == 0, err
    # GitHub rejects a matrix with no entries: the run job is skipped instead.
    assert read_github_output(output)["any-will-run"] == "false"
    assert "GPU jobs wait: the pull request comes from a fork" in out


def test_a_per_stage_runner_cannot_dodge_the_gate(git_repo: GitRepo, tmp_path: Path) -> None:
    config = "runner: [ubuntu-latest]\nstages:\n  lint:\n    runner: [self-hosted, gpu]\n"
    git_repo.write({**FILES, "ci-ml.yaml": config}, commit="base")
    git_repo.write({"lint.py": "v2\n"}, commit="head")
    env = {"GITHUB_EVENT_PATH": _event(tmp_path, fork=True)}
    doc = plan_json(git_repo, "--base", "HEAD~1", env=env)
    assert doc["gpu_gate"]["wait"] is True
    assert doc["matrix"]["include"] == []


def test_a_pull_request_cannot_move_the_cpu_runner_onto_gpu_machines(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.write({**FILES, "ci-ml.yaml": "runner: [ubuntu-latest]\n"}, commit="base")
    # The PR's ci-ml.yaml calls the GPU machines its CPU runner, with no `gpu: true` anywhere.
    hostile = "runner: [self-hosted, gpu]\ngpu-runner: [self-hosted, gpu]\n"
    git_repo.write({"ci-ml.yaml": hostile, "lint.py": "v2\n"}, commit="head")
    env = {"GITHUB_EVENT_PATH": _event(tmp_path, fork=True)}
    doc = plan_json(git_repo, "--base", "HEAD~1", env=env)
    assert doc["needs_gpu"] is False
    assert doc["gpu_gate"]["wait"] is True
    assert doc["matrix"]["include"] == []
    # The same change from the same repository, with no budget, runs: nothing to hold it for.
    same_repo = {"GITHUB_EVENT_PATH": _event(tmp_path)}
    assert plan_json(git_repo, "--base", "HEAD~1", env=same_repo)["gpu_gate"]["wait"] is False


def test_a_fork_on_the_base_commits_cpu_runner_does_not_wait(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.write({**FILES, "ci-ml.yaml": "runner: [cpu-large]\n"}, commit="base")
    git_repo.write({"lint.py": "v2\n"}, commit="head")
    doc = plan_json(
        git_repo, "--base", "HEAD~1", env={"GITHUB_EVENT_PATH": _event(tmp_path, fork=True)}
    )
    assert doc["gpu_gate"] == {
        "wait": False,
        "reasons": [],
        "approval": "label",
        "approved": False,
        "how_to_approve": None,
    }
    assert [(e["name"], e["runs-on"]) for e in doc["matrix"]["include"]] == [
        ("lint", ["cpu-large"])
    ]


def test_the_budget_cannot_be_set_in_ci_ml_yaml(git_repo: GitRepo) -> None:
    git_repo.write({**FILES, "ci-ml.yaml": CONFIG + "gpu-budget-minutes: 1000\n"}, commit="base")
    code, _out, err = run_cli("plan", "--base", "HEAD", cwd=git_repo.path)
    assert code == 2
    assert "'gpu-budget-minutes' cannot be set in ci-ml.yaml" in err
    assert "CI_ML_GPU_BUDGET_MINUTES" in err


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CI_ML_GPU_BUDGET_MINUTES", "lots", "CI_ML_GPU_BUDGET_MINUTES: 'lots' is not a number"),
        ("CI_ML_GPU_APPROVAL", "labels", "CI_ML_GPU_APPROVAL: 'labels' is not one of label"),
    ],
)
def test_bad_gate_settings_name_the_variable(
    git_repo: GitRepo, name: str, value: str, message: str
) -> None:
    git_repo.write(FILES, commit="base")
    code, _out, err = run_cli("plan", "--base", "HEAD", cwd=git_repo.path, env={name: value})
    assert code == 2
    assert message in err


def test_a_bad_runner_cost_names_the_label(git_repo: GitRepo) -> None:
    git_repo.write({**FILES, "ci-ml.yaml": CONFIG + "runner-cost:\n  gpu-a100: cheap\n"})
    git_repo.commit("base")
    code, _out, err = run_cli("plan", "--base", "HEAD", cwd=git_repo.path)
    assert code == 2
    assert "runner-cost 'gpu-a100': 'cheap' is not a price per minute" in err


def test_a_gpu_stage_run_without_a_gpu_records_its_labels_and_reports_cpu(
    seeded: tuple[GitRepo, str], tmp_path: Path
) -> None:
    repo, cache = seeded
    code, out, err = run_cli(
        "run",
        "--json",
        "--base",
        "HEAD~1",
        "--allow-no-gpu",
        "--cache",
        cache,
        "--trust",
        "untrusted",
        cwd=repo.path,
        env={"CI": "true"},
    )
    assert code == 0, err
    train = next(s for s in json.loads(out)["stages"] if s["name"] == "train")
    assert (train["status"], train["gpu"], train["labels"]) == ("ran", None, ["ci-ml-gpu-t4-pr"])
    manifest = json.loads(
        next((Path(cache) / "untrusted/manifests").glob(f"{train['key']}.json")).read_text()
    )
    assert manifest["run"]["labels"] == ["ci-ml-gpu-t4-pr"]

    out_dir = tmp_path / "report"
    body = report_body(repo, cache, out_dir)
    train_row = next(line for line in body.splitlines() if line.startswith("| `train`"))
    assert train_row.rstrip(" |").endswith("CPU (no GPU)")
    assert "### Compute" in body
    ledger = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))["ledger"]
    assert ledger["ran"]["gpu"] > 0.3 / 60 * 0.9
    assert ledger["ran"]["cost_usd"] > 0
    assert ledger["estimate"]["gpu"] > 0  # main's trusted run of train, beside the actual
    assert ledger["waiting"] == []


def report_body(repo: GitRepo, cache: str, out_dir: Path, env: dict[str, str] | None = None) -> str:
    """`ci-ml report` against HEAD~1 into `out_dir` (never failing on gates): report.md."""
    code, _out, err = run_cli(
        "report", "--base", "HEAD~1", "--cache", cache, "--out", str(out_dir), "--no-fail",
        cwd=repo.path, env=env,
    )  # fmt: skip
    assert code == 0, err
    return (out_dir / "report.md").read_text(encoding="utf-8")


def test_a_gated_plan_without_a_cache_loads_no_cache_code(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.write(FILES, commit="base")
    git_repo.write({"train.py": "v2\n"}, commit="head")
    code = (
        "import sys, ci_ml.cli; "
        "rc = ci_ml.cli.main(['plan', '--base', 'HEAD~1', '--json']); "
        "print([m for m in ('boto3', 'ci_ml.cache') if m in sys.modules], file=sys.stderr); "
        "raise SystemExit(rc)"
    )
    env = {
        **os.environ,
        "CI_ML_GPU_BUDGET_MINUTES": "10",
        "GITHUB_EVENT_PATH": _event(tmp_path, fork=True),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=git_repo.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["gpu_gate"]["wait"] is True
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_the_report_says_why_gpu_jobs_wait_and_how_to_approve(
    seeded: tuple[GitRepo, str], tmp_path: Path
) -> None:
    repo, cache = seeded
    out_dir = tmp_path / "report"
    env = {"GITHUB_EVENT_PATH": _event(tmp_path, fork=True), "CI_ML_GPU_BUDGET_MINUTES": "0.001"}
    body = report_body(repo, cache, out_dir, env)
    assert (
        "⏸️ **GPU jobs wait for approval**: the pull request comes from a fork; the estimate of "
    ) in body
    assert (
        " GPU minutes exceeds the budget of 0.001 minutes.  \n"
        "To run them, a maintainer adds the label \\`ci-ml:run-gpu\\` to the pull request"
    ) in body
