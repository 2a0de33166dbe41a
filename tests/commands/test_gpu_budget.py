"""The cost ledger's estimate and the GPU budget gate, through the real CLI on real git repos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers.gitrepo import GitRepo, plan_json, run_cli
from tests.helpers.moto_server import S3Bucket

DVC_YAML = """\
stages:
  train:
    cmd: python3 -c "import time; time.sleep(0.3)" && cp train.py model.txt
    deps: [train.py]
    outs: [model.txt]
  lint:
    cmd: cp lint.py lint.txt
    deps: [lint.py]
    outs: [lint.txt]
"""
CONFIG = """\
runner: [ubuntu-latest]
gpu-runner: [ci-ml-gpu-t4-pr]
stages:
  train:
    gpu: true
    timeout: 1200
"""
FILES = {
    "dvc.yaml": DVC_YAML,
    "ci-ml.yaml": CONFIG,
    "train.py": "v1\n",
    "lint.py": "v1\n",
}


def _seed(repo: GitRepo, cache: str, trust: str = "trusted", config: str = CONFIG) -> None:
    """Base commit run by main: every stage's manifest in `trust`'s area."""
    repo.write({**FILES, "ci-ml.yaml": config}, commit="base")
    code, _out, err = run_cli("run", "--all", "--cache", cache, "--trust", trust, cwd=repo.path)
    assert code == 0, err
    repo.write({"train.py": "v2\n", "lint.py": "v2\n"}, commit="head")


def _event(
    tmp_path: Path, *, fork: bool = False, action: str = "synchronize", label: str = ""
) -> str:
    event: dict[str, Any] = {
        "action": action,
        "pull_request": {
            "head": {"repo": {"full_name": "someone/fork" if fork else "team/repo"}},
            "base": {"repo": {"full_name": "team/repo"}},
        },
    }
    if label:
        event["label"] = {"name": label}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return str(path)


def _stage(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in doc["stages"] if s["name"] == name)  # type: ignore[no-any-return]


def test_plan_estimates_each_stage_from_its_last_trusted_run_on_s3(
    git_repo: GitRepo, s3_bucket: S3Bucket
) -> None:
    cache = f"{s3_bucket.url}/team"
    _seed(git_repo, cache)
    doc = plan_json(git_repo, "--base", "HEAD~1", "--cache", cache)
    train = _stage(doc, "train")["estimated_seconds"]
    lint = _stage(doc, "lint")["estimated_seconds"]
    assert 0.3 <= train < 30
    assert 0 <= lint < train
    assert doc["estimate"]["gpu_minutes"] == round(train / 60, 2)
    assert doc["estimate"]["cpu_minutes"] == round(lint / 60, 2)
    # ci-ml-gpu-t4-pr is priced by default (0.07 USD/min), ubuntu-latest at 0.008.
    assert doc["estimate"]["cost_usd"] == round(train / 60 * 0.07 + lint / 60 * 0.008, 4)
    assert doc["estimate"]["unknown"] == []


def test_a_pull_requests_own_cache_entries_never_make_an_estimate(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    # The base was only ever run by a pull request: its manifests sit in the untrusted area,
    # where any PR could have written a duration of zero.
    cache = str(tmp_path / "cache")
    _seed(git_repo, cache, trust="untrusted")
    doc = plan_json(git_repo, "--base", "HEAD~1", "--cache", cache)
    assert _stage(doc, "train")["estimated_seconds"] is None
    assert doc["estimate"] == {
        "gpu_minutes": 0.0,
        "cpu_minutes": 0.0,
        "cost_usd": 0.0,
        "unknown": ["lint", "train"],
    }


def test_a_new_foreach_member_is_estimated_from_its_groups_trusted_runs(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache")
    pipeline = """\
stages:
  train:
    foreach: %s
    do:
      cmd: python3 -c "import time; time.sleep(0.3)" && echo ${item} > out-${item}.txt
      outs:
        - out-${item}.txt
"""
    config = "stages:\n  train:\n    gpu: true\n"
    git_repo.write({"dvc.yaml": pipeline % "[a, b]", "ci-ml.yaml": config}, commit="base")
    code, _out, err = run_cli(
        "run", "--all", "--cache", cache, "--trust", "trusted", cwd=git_repo.path
    )
    assert code == 0, err
    git_repo.write({"dvc.yaml": pipeline % "[a, b, c]"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1", "--cache", cache)
    assert [s["name"] for s in doc["stages"] if s["will_run"]] == ["train@c"]
    new = _stage(doc, "train@c")["estimated_seconds"]
    assert 0.3 <= new < 30
    assert doc["estimate"]["unknown"] == []
    assert doc["estimate"]["gpu_minutes"] == round(new / 60, 2)


def test_without_a_cache_every_estimate_is_unknown(git_repo: GitRepo) -> None:
    git_repo.write(FILES, commit="base")
    git_repo.write({"train.py": "v2\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert [s["estimated_seconds"] for s in doc["stages"]] == [None, None]
    assert doc["estimate"]["unknown"] == ["train"]


def test_runner_cost_in_ci_ml_yaml_prices_the_estimate(git_repo: GitRepo, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    _seed(git_repo, cache, config=CONFIG + "runner-cost:\n  ci-ml-gpu-t4-pr: 6\n")
    doc = plan_json(git_repo, "--base", "HEAD~1", "--cache", cache)
    train = _stage(doc, "train")["estimated_seconds"]
    lint = _stage(doc, "lint")["estimated_seconds"]
    assert doc["estimate"]["cost_usd"] == round(train / 10 + lint / 60 * 0.008, 4)


def test_every_job_gets_a_timeout_from_its_stages(git_repo: GitRepo) -> None:
    git_repo.write(FILES, commit="base")
    git_repo.write({"train.py": "v2\n", "lint.py": "v2\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    timeouts = {e["name"]: e["timeout-minutes"] for e in doc["matrix"]["include"]}
    # train: its 1200 s timeout (20 min); lint: none set, so 60 min; plus 15 for setup.
    assert timeouts == {"train": 35, "lint": 75}
