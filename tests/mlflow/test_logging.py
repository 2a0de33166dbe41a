"""`ci-ml run` against a real `mlflow server`: what a team would see in its tracking UI."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.gitrepo import GitRepo, run_cli
from tests.helpers.mlflow_server import MlflowServer
from tests.helpers.moto_server import free_port

TOKEN = "s3cr3t-token-4c1d"
DVC_YAML = """\
stages:
  prepare:
    cmd: mkdir -p data && cp raw.txt data/raw.txt
    deps: [raw.txt]
    outs: [data]
  train:
    cmd: >-
      echo "token=$MLFLOW_TRACKING_TOKEN lr=${train.lr}" > model.txt &&
      printf '{"acc": 0.5, "recall@5": 0.25, "eval": {"f1": 0.75}, "note": "x"}' > metrics.json &&
      printf 'epoch,loss\\n0,1.0\\n1,0.5\\n2,0.25\\n' > history.csv
    deps: [data]
    params: [train.lr, train.name]
    outs: [model.txt]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - history.csv:
          cache: false
"""
FILES = {
    "dvc.yaml": DVC_YAML,
    "params.yaml": "train:\n  lr: 0.1\n  name: base\n",
    "raw.txt": "hello\n",
    ".gitignore": "data/\nmodel.txt\nmetrics.json\nhistory.csv\n",
}


@pytest.fixture
def repo(git_repo: GitRepo) -> GitRepo:
    git_repo.write(FILES, commit="base")
    return git_repo


def actions_env(server_url: str, experiment: str, run_id: str = "77") -> dict[str, str]:
    return {
        "MLFLOW_TRACKING_URI": server_url,
        "MLFLOW_EXPERIMENT_NAME": experiment,
        "MLFLOW_TRACKING_TOKEN": TOKEN,
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/pipeline",
        "GITHUB_RUN_ID": run_id,
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        # A directory cache on Actions is refused unless chosen (docs/security.md): these
        # tests run on one machine, like an ephemeral runner.
        "CI_ML_ALLOW_LOCAL_CACHE": "true",
    }


def run(path: Path, *args: str, env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli("run", "--json", "--base", "HEAD", *args, cwd=path, env=env)
    return code, (json.loads(out) if out.strip() else {}), err


def split(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    parents = [r for r in runs if r["tags"].get("ci_ml.role") == "pipeline"]
    children = {r["tags"]["ci_ml.stage"]: r for r in runs if "ci_ml.stage" in r["tags"]}
    assert len(children) == len([r for r in runs if "ci_ml.stage" in r["tags"]]), "a stage twice"
    return parents, children


def test_main_run_logs_a_parent_and_every_stage_as_miss(
    repo: GitRepo, mlflow_server: MlflowServer
) -> None:
    experiment = f"main-{uuid.uuid4().hex[:8]}"
    code, doc, err = run(repo.path, env=actions_env(mlflow_server.url, experiment))
    assert code == 0, err
    parents, children = split(mlflow_server.runs(experiment))
    [parent] = parents
    sha = doc["head"]["sha"]
    assert parent["tags"]["mlflow.source.git.commit"] == sha
    assert parent["tags"]["mlflow.source.git.branch"] == "main"
    assert parent["tags"]["ci_ml.workflow_run_url"] == (
        "https://github.com/acme/pipeline/actions/runs/77/attempts/1"
    )
    assert parent["info"]["status"] == "FINISHED"
    assert set(children) == {"prepare", "train"}
    keys = {s["name"]: s["key"] for s in doc["stages"]}
    for name, child in children.items():
        assert child["tags"]["mlflow.parentRunId"] == parent["info"]["run_id"]
        assert child["tags"]["ci_ml.cache"] == "miss"
        assert child["tags"]["ci_ml.key"] == keys[name]
        assert child["tags"]["mlflow.source.git.commit"] == sha
    train = children["train"]
    assert train["params"] == {"train.lr": "0.1", "train.name": "base"}
    assert {k: v for k, v in train["metrics"].items() if k != "ci_ml.duration_s"} == {
        "acc": 0.5,
        "recall_5": 0.25,
        "eval.f1": 0.75,
        "history.csv/loss": 0.25,
    }
    assert json.loads(train["tags"]["ci_ml.renamed"]) == {"recall_5": "recall@5"}
    history = mlflow_server.metric_history(train["info"]["run_id"], "history.csv/loss")
    assert history == [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert mlflow_server.artifacts(train["info"]["run_id"]) == ["history.csv", "metrics.json"]
    assert "model.txt" in json.loads(train["tags"]["ci_ml.outputs"])
    # The stage command did not get the token; nothing printed it.
    assert (repo.path / "model.txt").read_text() == "token= lr=0.1\n"
    assert TOKEN not in err
    links = json.loads((repo.path / ".ci-ml/mlflow.json").read_text())
    run_id = train["info"]["run_id"]
    assert links["stages"]["train"].endswith(f"/runs/{run_id}")
    assert links["error"] is None

    code, _out, err = run_cli(
        "report", "--base", "HEAD", "--no-plots", "--out", str(repo.path / "rep"), cwd=repo.path
    )
    assert code == 0, err
    body = (repo.path / "rep/report.md").read_text()
    assert f"[`train`]({links['stages']['train']})" in body
    assert f"[MLflow run]({links['parent']})" in body


def test_pr_run_logs_restored_stages_as_hit_with_the_same_metrics(
    repo: GitRepo, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache")
    experiment = f"pr-{uuid.uuid4().hex[:8]}"
    assert run(repo.path, "--cache", cache, env=actions_env(mlflow_server.url, experiment))[0] == 0
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    env = {
        **actions_env(mlflow_server.url, experiment, run_id="78"),
        "GITHUB_REF": "refs/pull/5/merge",
    }
    code, doc, err = run(clone, "--cache", cache, env=env)
    assert code == 0, err
    assert {s["name"]: s["status"] for s in doc["stages"]} == {
        "prepare": "unchanged",
        "train": "restored",
    }
    runs = mlflow_server.runs(experiment)
    pr_parent = next(r for r in runs if r["tags"].get("ci_ml.pr") == "5")
    pr_children = [
        r for r in runs if r["tags"].get("mlflow.parentRunId") == pr_parent["info"]["run_id"]
    ]
    assert {r["tags"]["ci_ml.stage"]: r["tags"]["ci_ml.cache"] for r in pr_children} == {
        "prepare": "hit",
        "train": "hit",
    }
    train_runs = [r for r in runs if r["tags"].get("ci_ml.stage") == "train"]
    assert [r["metrics"]["acc"] for r in train_runs] == [0.5, 0.5]


def run_matrix_jobs(repo: GitRepo, tmp_path: Path, cache: str, env: dict[str, str]) -> None:
    """Two matrix jobs of one workflow run, each in its own clone: prepare, then train."""
    for job, stages in (("a", ["prepare"]), ("b", ["train"])):
        clone = tmp_path / job
        subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
        code, _doc, err = run(clone, "--cache", cache, *stages, env=env)
        assert code == 0, err


def test_jobs_of_one_workflow_run_share_one_parent(
    repo: GitRepo, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache")
    experiment = f"matrix-{uuid.uuid4().hex[:8]}"
    env = actions_env(mlflow_server.url, experiment, run_id="90")
    run_matrix_jobs(repo, tmp_path, cache, env)
    parents, children = split(mlflow_server.runs(experiment))
    assert len(parents) == 1
    assert set(children) == {"prepare", "train"}
    assert {c["tags"]["mlflow.parentRunId"] for c in children.values()} == {
        parents[0]["info"]["run_id"]
    }
    assert children["prepare"]["tags"]["ci_ml.cache"] == "miss"


def test_dead_server_warns_within_seconds_and_push_delivers_later(
    repo: GitRepo, mlflow_server: MlflowServer
) -> None:
    experiment = f"dead-{uuid.uuid4().hex[:8]}"
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code, doc, err = run(repo.path, env=actions_env(dead, experiment))
    assert code == 0, err
    assert time.monotonic() - started < 15
    assert f"::warning::MLflow: could not log to {dead}: " in err
    assert "ConnectionError" in err
    assert TOKEN not in err
    assert {s["status"] for s in doc["stages"]} == {"ran"}
    assert len(list((repo.path / ".ci-ml/mlflow-pending").glob("*.json"))) == 1
    assert json.loads((repo.path / ".ci-ml/mlflow.json").read_text())["error"]
    code, out, err = run_cli("report", "--base", "HEAD", "--no-plots", cwd=repo.path)
    assert code == 0, err
    assert "MLflow: this run is not logged yet" in Path(out.strip()).read_text()

    env = actions_env(mlflow_server.url, "ignored: the run chose its experiment")
    code, out, err = run_cli("push", "--json", cwd=repo.path, env=env)
    assert code == 0, err
    assert json.loads(out)["mlflow"] == {"logged": 1, "pending": 0}
    assert list((repo.path / ".ci-ml/mlflow-pending").glob("*.json")) == []
    parents, children = split(mlflow_server.runs(experiment))
    assert len(parents) == 1
    assert set(children) == {"prepare", "train"}


def test_more_than_a_thousand_metrics_arrive_in_several_batches(
    git_repo: GitRepo, mlflow_server: MlflowServer
) -> None:
    metrics = {f"m{i:04d}": i for i in range(1500)}
    git_repo.write(
        {
            "dvc.yaml": "stages:\n  many:\n    cmd: cp m.src metrics.json\n    deps: [m.src]\n"
            "    metrics:\n      - metrics.json:\n          cache: false\n",
            "m.src": json.dumps(metrics),
            ".gitignore": "metrics.json\n",
        },
        commit="many",
    )
    experiment = f"many-{uuid.uuid4().hex[:8]}"
    code, _doc, err = run(git_repo.path, env=actions_env(mlflow_server.url, experiment))
    assert code == 0, err
    _parents, children = split(mlflow_server.runs(experiment))
    logged = {k: v for k, v in children["many"]["metrics"].items() if k != "ci_ml.duration_s"}
    assert logged == {k: float(v) for k, v in metrics.items()}


def test_report_on_its_own_machine_links_the_runs_the_run_jobs_logged(
    repo: GitRepo, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache")
    experiment = f"report-{uuid.uuid4().hex[:8]}"
    env = actions_env(mlflow_server.url, experiment, run_id="91")
    run_matrix_jobs(repo, tmp_path, cache, env)
    parents, children = split(mlflow_server.runs(experiment))
    # The report job: a fresh clone, no .ci-ml/mlflow.json from the run jobs.
    report_job = tmp_path / "report"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(report_job)], check=True)
    out = tmp_path / "out"
    code, _out, err = run_cli(
        "report", "--base", "HEAD", "--cache", cache, "--no-plots", "--out", str(out),
        cwd=report_job, env=env,
    )  # fmt: skip
    assert code == 0, err
    body = (out / "report.md").read_text()
    assert f"/runs/{parents[0]['info']['run_id']})" in body
    for name, child in children.items():
        assert f"[`{name}`]({mlflow_server.url}/#/experiments/" in body
        assert f"/runs/{child['info']['run_id']})" in body
