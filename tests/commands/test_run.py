from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.gitrepo import GitRepo, run_cli

DVC_YAML = """\
stages:
  prepare:
    cmd: mkdir -p data && tr a-z A-Z < raw.txt > data/prepared.txt
    deps: [raw.txt]
    outs: [data]
  train:
    cmd: echo "model of $(cat data/prepared.txt) lr=${train.lr}" > model.txt
    deps: [data]
    outs: [model.txt]
  evaluate:
    cmd: >-
      printf '{"acc": %s}\\n' "$(wc -c < model.txt)" > metrics.json
    deps: [model.txt]
    metrics:
      - metrics.json:
          cache: false
  side:
    cmd: echo side > side.txt
    deps: [side.sh]
    outs: [side.txt]
"""
FILES = {
    "dvc.yaml": DVC_YAML,
    "params.yaml": "train:\n  lr: 0.1\n",
    "raw.txt": "hello\n",
    "side.sh": "echo\n",
    ".gitignore": "data/\nmodel.txt\nmetrics.json\nside.txt\n",
}


@pytest.fixture
def repo(git_repo: GitRepo) -> GitRepo:
    git_repo.write(FILES, commit="base")
    return git_repo


def run_json(
    repo: GitRepo | Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    path = repo.path if isinstance(repo, GitRepo) else repo
    code, out, err = run_cli("run", "--json", *args, cwd=path, env=env)
    return code, (json.loads(out) if out.strip() else {}), err


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in document["stages"]}


def test_first_run_runs_everything_and_fills_the_cache(repo: GitRepo) -> None:
    code, doc, err = run_json(repo, "--base", "HEAD")
    assert code == 0, err
    # Nothing changed against base, but nothing is cached either: evaluate's metrics are
    # needed for the report, so it and what it reads must run.
    assert statuses(doc) == {
        "prepare": "ran",
        "train": "ran",
        "evaluate": "ran",
        "side": "unchanged",
    }
    assert (repo.path / "metrics.json").read_text() == '{"acc": 22}\n'
    manifests = list((repo.path / ".ci-ml/cache/trusted/manifests").glob("*.json"))
    assert len(manifests) == 3


def test_param_change_runs_only_affected_stages(repo: GitRepo, tmp_path: Path) -> None:
    cache = f"file://{tmp_path / 'cache'}"
    assert run_json(repo, "--base", "HEAD", "--cache", cache)[0] == 0
    repo.write({"params.yaml": "train:\n  lr: 0.2\n"}, commit="head")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    code, doc, err = run_json(clone, "--base", "HEAD~1", "--cache", cache)
    assert code == 0, err
    assert statuses(doc) == {
        "prepare": "restored",
        "train": "ran",
        "evaluate": "ran",
        "side": "unchanged",
    }
    assert "model of HELLO lr=0.2" in (clone / "model.txt").read_text()


def test_fresh_clone_restores_and_runs_nothing(repo: GitRepo, tmp_path: Path) -> None:
    cache = f"file://{tmp_path / 'cache'}"
    assert run_json(repo, "--base", "HEAD", "--cache", cache)[0] == 0
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    code, doc, err = run_json(clone, "--base", "HEAD", "--cache", cache)
    assert code == 0, err
    assert statuses(doc)["evaluate"] == "restored"
    assert "ran" not in statuses(doc).values()
    assert (clone / "metrics.json").read_text() == '{"acc": 22}\n'


def test_second_run_in_the_same_workspace_does_nothing(repo: GitRepo) -> None:
    assert run_json(repo, "--base", "HEAD")[0] == 0
    code, doc, _ = run_json(repo, "--base", "HEAD")
    assert code == 0
    assert set(statuses(doc).values()) <= {"current", "unchanged"}


def test_failed_stage_stops_dependents_and_others_finish(repo: GitRepo) -> None:
    broken = DVC_YAML.replace("tr a-z A-Z < raw.txt", "false && tr a-z A-Z < raw.txt")
    repo.write({"dvc.yaml": broken, "side.sh": "echo 2\n"}, commit="head")
    code, doc, err = run_json(repo, "--base", "HEAD~1")
    assert code == 1
    assert statuses(doc) == {
        "prepare": "failed",
        "train": "skipped",
        "evaluate": "skipped",
        "side": "ran",
    }
    assert "1 stage(s) failed: prepare" in err


def test_set_overrides_a_param_and_records_it(repo: GitRepo) -> None:
    code, doc, err = run_json(repo, "--base", "HEAD", "--set", "train.lr=0.5")
    assert code == 0, err
    assert "lr=0.5" in (repo.path / "model.txt").read_text()
    train_key = next(s["key"] for s in doc["stages"] if s["name"] == "train")
    manifest = json.loads(
        (repo.path / f".ci-ml/cache/trusted/manifests/{train_key}.json").read_text()
    )
    assert "params.yaml:train.lr=0.5" in json.dumps(manifest)


def test_unknown_override_key_is_a_user_error(repo: GitRepo) -> None:
    code, _doc, err = run_json(repo, "--base", "HEAD", "--set", "train.lrr=0.5")
    assert code == 2
    assert "params.yaml has no param 'train.lrr' (did you mean 'train.lr'?)" in err


def test_gpu_stage_without_gpu_fails_on_ci(repo: GitRepo) -> None:
    repo.write({"ci-ml.yaml": "stages:\n  train:\n    gpu: true\n"}, commit="gpu")
    code, doc, _err = run_json(repo, "--base", "HEAD", env={"CI": "true"})
    assert code == 1
    train = next(s for s in doc["stages"] if s["name"] == "train")
    assert train["status"] == "failed"
    assert "needs a GPU" in train["detail"]
    code, doc, _err = run_json(repo, "--base", "HEAD", "--allow-no-gpu", env={"CI": "true"})
    assert code == 0
    assert statuses(doc)["train"] == "ran"


def test_corrupt_object_is_detected_and_the_stage_reruns(repo: GitRepo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert run_json(repo, "--base", "HEAD", "--cache", str(cache))[0] == 0
    for obj in cache.glob("*/objects/*/*"):
        if obj.is_file():
            data = bytearray(obj.read_bytes())
            data[0] ^= 0xFF
            obj.write_bytes(bytes(data))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    code, doc, err = run_json(clone, "--base", "HEAD", "--cache", str(cache))
    assert code == 0, err
    assert statuses(doc)["evaluate"] == "ran"
    assert "evaluate" in err  # the corrupt entry is reported with the stage


def test_dry_run_changes_nothing(repo: GitRepo) -> None:
    code, doc, _err = run_json(repo, "--base", "HEAD", "--dry-run")
    assert code == 0
    assert statuses(doc)["train"] == "would run"
    assert not (repo.path / "model.txt").exists()
    assert not (repo.path / ".ci-ml/cache/trusted/manifests").exists()


def test_force_reruns_a_cached_stage_and_downstream(repo: GitRepo) -> None:
    assert run_json(repo, "--base", "HEAD")[0] == 0
    code, doc, _err = run_json(repo, "--base", "HEAD", "--force", "train")
    assert code == 0
    assert statuses(doc) == {
        "prepare": "current",
        "train": "ran",
        "evaluate": "ran",
        "side": "unchanged",
    }


def test_unknown_stage_name(repo: GitRepo) -> None:
    code, _doc, err = run_json(repo, "--base", "HEAD", "trian")
    assert code == 2
    assert "no stage named 'trian' (did you mean 'train'?)" in err


def test_independent_stages_run_in_parallel(git_repo: GitRepo) -> None:
    # Each stage waits for the other's marker: they finish only if both run at once.
    stages = (
        "stages:\n"
        "  a:\n    cmd: touch a.go && for i in $(seq 50); do [ -e b.go ] && break; sleep 0.1; done"
        " && [ -e b.go ] && echo a > a.txt\n    outs: [a.txt]\n"
        "  b:\n    cmd: touch b.go && for i in $(seq 50); do [ -e a.go ] && break; sleep 0.1; done"
        " && [ -e a.go ] && echo b > b.txt\n    outs: [b.txt]\n"
    )
    git_repo.write({"dvc.yaml": stages, ".gitignore": "*.go\n*.txt\n"}, commit="base")
    code, doc, err = run_json(git_repo, "--all", "--jobs", "2")
    assert code == 0, err
    assert statuses(doc) == {"a": "ran", "b": "ran"}
    assert "[a] + touch a.go" in err


def test_stage_timeout_stops_the_command(git_repo: GitRepo) -> None:
    git_repo.write(
        {
            "dvc.yaml": "stages:\n  slow:\n    cmd: sleep 30\n",
            "ci-ml.yaml": "stages:\n  slow:\n    timeout: 1\n",
        },
        commit="base",
    )
    code, doc, _err = run_json(git_repo, "--all")
    assert code == 1
    slow = doc["stages"][0]
    assert (slow["status"], slow["detail"]) == ("failed", "timed out after 1 s")
    assert slow["duration_s"] < 10


def test_missing_declared_output_fails_the_stage(git_repo: GitRepo) -> None:
    git_repo.write(
        {"dvc.yaml": "stages:\n  a:\n    cmd: 'true'\n    outs: [never.txt]\n"}, commit="b"
    )
    code, doc, _err = run_json(git_repo, "--all")
    assert code == 1
    assert doc["stages"][0]["status"] == "failed"
    assert "never.txt" in doc["stages"][0]["detail"]


def test_an_absolute_out_is_not_deleted_before_the_run(git_repo: GitRepo, tmp_path: Path) -> None:
    export = tmp_path / "shared" / "export.txt"
    export.parent.mkdir()
    export.write_text("kept from the last run\n")
    git_repo.write(
        {
            "dvc.yaml": (
                "stages:\n  export:\n    cmd: cat export.txt > /dev/null && echo new > out.txt\n"
                f"    deps: [in.txt]\n    outs: [out.txt, {export}]\n"
            ).replace("cat export.txt", f"cat {export}"),
            "in.txt": "x\n",
            ".gitignore": "out.txt\n",
        },
        commit="base",
    )
    code, _out, err = run_cli("run", "--all", cwd=git_repo.path)
    assert code == 0, err
    assert export.read_text() == "kept from the last run\n"


def test_push_agrees_with_run_on_the_keys_below_a_frozen_stage(git_repo: GitRepo) -> None:
    pipeline = (
        "stages:\n"
        "  a:\n    cmd: cat a.in > a.out\n    deps: [a.in]\n    outs: [a.out]\n"
        "  b:\n    cmd: cat a.out > b.out\n    deps: [a.out]\n    outs: [b.out]\n"
    )
    git_repo.write(
        {"dvc.yaml": pipeline, "a.in": "1\n", ".gitignore": "a.out\nb.out\n"}, commit="base"
    )
    git_repo.git("branch", "-M", "main")
    assert run_cli("run", "--all", cwd=git_repo.path)[0] == 0
    git_repo.git("checkout", "-q", "-b", "pr")
    frozen = pipeline.replace("  a:\n", "  a:\n    frozen: true\n")
    git_repo.write({"dvc.yaml": frozen, "a.in": "2\n"}, commit="freeze a, change its input")
    code, _out, err = run_cli("run", "b", "--force", "--no-push", cwd=git_repo.path)
    assert code == 0, err
    code, out, err = run_cli("push", "--json", cwd=git_repo.path, env={"CI_ML_BASE": "main"})
    assert code == 0, err
    result = json.loads(out)
    assert result["key_mismatch"] == [], result
    assert result["already_cached"] == ["b"], result  # frozen a kept its key, so b did too


def test_a_run_that_only_restores_imports_neither_the_report_package_nor_pyyaml(
    tmp_path: Path,
) -> None:
    repo = GitRepo.init(tmp_path / "repo")
    repo.write(
        {
            "dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt && echo 1 > m.json\n"
            "    deps: [d]\n    outs: [a.txt]\n    metrics: [m.json]\n",
            "d": "x\n",
            ".gitignore": "a.txt\nm.json\n.ci-ml/\n",
        },
        commit="base",
    )
    code, _, err = run_cli("run", "--all", cwd=repo.path)
    assert code == 0, err
    (repo.path / "a.txt").unlink()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ci_ml", "run", "--all"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (repo.path / "a.txt").read_text() == "a\n"  # restored, not run again
    imported = {
        line.rpartition("|")[2].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert sorted(m for m in imported if m == "yaml" or m.startswith("ci_ml.report")) == []
