from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.gitrepo import GitRepo, plan_json, read_github_output, reasons, run_cli

DVC_YAML = """\
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py, data/raw.csv]
    params: [prepare.split]
    outs: [data/prepared]
  train:
    cmd: python train.py --lr ${train.lr}
    deps: [train.py, data/prepared]
    params: [train.epochs]
    outs: [model.pkl]
  evaluate:
    cmd: python evaluate.py
    deps: [evaluate.py, model.pkl]
    metrics:
      - metrics.json:
          cache: false
  lint:
    cmd: ruff check .
    deps: [./src]
"""
PARAMS = """\
# comment
prepare:
  split: 0.2
train:
  lr: 0.1
  epochs: 3
unused: 1
"""
FILES = {
    "dvc.yaml": DVC_YAML,
    "params.yaml": PARAMS,
    "prepare.py": "print('prepare')\n",
    "train.py": "print('train')\n",
    "evaluate.py": "print('evaluate')\n",
    "data/raw.csv": "a,b\n1,2\n",
    "src/lib.py": "x = 1\n",
    "ci-ml.yaml": "stages:\n  train:\n    gpu: true\n",
}


@pytest.fixture
def repo(git_repo: GitRepo) -> GitRepo:
    git_repo.write(FILES, commit="base")
    return git_repo


def will_run(document: dict[str, object]) -> list[str]:
    return [s["name"] for s in document["stages"] if s["will_run"]]  # type: ignore[attr-defined, index]


def test_param_change_plans_the_stage_and_downstream(repo: GitRepo) -> None:
    repo.write({"params.yaml": PARAMS.replace("epochs: 3", "epochs: 5")}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["train", "evaluate"]
    assert reasons(doc, "train") == ["param train.epochs changed: 3 -> 5"]
    assert reasons(doc, "evaluate") == ["upstream 'train' changed"]
    assert reasons(doc, "prepare") == []
    assert doc["needs_gpu"] is True
    assert doc["runs_on"] == ["self-hosted", "gpu"]


def test_interpolated_param_change_is_reported_as_a_param(repo: GitRepo) -> None:
    repo.write({"params.yaml": PARAMS.replace("lr: 0.1", "lr: 0.2")}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["train", "evaluate"]
    assert reasons(doc, "train") == ["param train.lr changed: 0.1 -> 0.2"]


def test_unreferenced_param_and_comment_change_nothing(repo: GitRepo) -> None:
    edited = PARAMS.replace("unused: 1", "unused: 2").replace("# comment", "# other")
    repo.write({"params.yaml": edited}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == []
    assert doc["any_will_run"] is False


def test_code_dep_change(repo: GitRepo) -> None:
    repo.write({"prepare.py": "print('prepare v2')\n"}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["prepare", "train", "evaluate"]
    assert reasons(doc, "prepare") == ["dep prepare.py modified"]
    assert reasons(doc, "train") == ["upstream 'prepare' changed"]


def test_data_change_in_a_directory_dep(repo: GitRepo) -> None:
    repo.write({"src/new.py": "y = 2\n"}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["lint"]
    assert reasons(doc, "lint") == ["dep src modified"]


def test_a_directory_dep_holding_a_file_named_in_bytes_that_are_not_utf8(repo: GitRepo) -> None:
    """git gives such a name as bytes; its directory id hashes those bytes (this failed with
    an internal error)."""
    (repo.path / "src" / os.fsdecode(b"legacy-\xff.py")).write_text("z = 3\n")
    repo.commit("base with a Latin-1 name")
    repo.write({"src/lib.py": "x = 2\n"}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["lint"]
    assert reasons(doc, "lint") == ["dep src modified"]


def test_dvc_pointer_hash_change(repo: GitRepo) -> None:
    pointer = "outs:\n- md5: {}\n  size: 10\n  path: big.bin\n"
    stage = "  big:\n    cmd: python big.py\n    deps: [data/big.bin]\n"
    repo.write(
        {"dvc.yaml": DVC_YAML + stage, "data/big.bin.dvc": pointer.format("a" * 32)}, commit="b"
    )
    repo.write({"data/big.bin.dvc": pointer.format("b" * 32)}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["big"]
    assert reasons(doc, "big") == ["dep data/big.bin modified"]


def test_cmd_change(repo: GitRepo) -> None:
    repo.write(
        {"dvc.yaml": DVC_YAML.replace("python evaluate.py", "python evaluate.py -v")}, commit="h"
    )
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["evaluate"]
    assert reasons(doc, "evaluate") == ["cmd changed"]


def test_new_stage(repo: GitRepo) -> None:
    extra = "  report:\n    cmd: python report.py\n    deps: [metrics.json]\n"
    repo.write({"dvc.yaml": DVC_YAML + extra}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["report"]
    assert reasons(doc, "report") == ["new stage"]


def test_no_change_runs_nothing(repo: GitRepo) -> None:
    repo.commit("empty")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == []
    assert doc["matrix"] == {"include": []}
    assert doc["runs_on"] == ["ubuntu-latest"]


def test_working_tree_is_the_default_head(repo: GitRepo) -> None:
    repo.write({"train.py": "print('edited, not committed')\n"})
    doc = plan_json(repo, "--base", "HEAD")
    assert doc["head"]["ref"] == "working tree"
    assert will_run(doc) == ["train", "evaluate"]
    assert reasons(doc, "train") == ["dep train.py modified"]


def test_frozen_stage_is_affected_but_does_not_run(repo: GitRepo) -> None:
    frozen = DVC_YAML.replace(
        "    cmd: python train.py", "    frozen: true\n    cmd: python train.py"
    )
    repo.write({"dvc.yaml": frozen}, commit="freeze")
    repo.write({"train.py": "print('v2')\n"}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    train = next(s for s in doc["stages"] if s["name"] == "train")
    assert (train["affected"], train["will_run"]) == (True, False)
    assert "frozen: not run (unfreeze it to run)" in reasons(doc, "train")


def test_matrix_groups_independent_work(repo: GitRepo) -> None:
    repo.write({"train.py": "print('v2')\n", "src/lib.py": "x = 2\n"}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert doc["matrix"] == {
        "include": [
            {
                "name": "lint",
                "stages": ["lint"],
                "args": "lint",
                "gpu": False,
                "runs-on": ["ubuntu-latest"],
                "timeout-minutes": 75,  # no stage timeout: 60 min, plus 15 for setup
                "environment": "",
            },
            {
                "name": "train +1",
                "stages": ["train", "evaluate"],
                "args": "train evaluate",
                "gpu": True,
                "runs-on": ["self-hosted", "gpu"],
                "timeout-minutes": 135,
                "environment": "",
            },
        ]
    }


def test_github_output_file(repo: GitRepo, tmp_path: Path) -> None:
    repo.write({"train.py": "print('v2')\n"}, commit="head")
    output = tmp_path / "github_output"
    code, _out, err = run_cli(
        "plan",
        "--base",
        "HEAD~1",
        "--github-output",
        cwd=repo.path,
        env={"GITHUB_OUTPUT": str(output)},
    )
    assert code == 0, err
    values = read_github_output(output)
    assert json.loads(values["stages"]) == ["train", "evaluate"]
    assert values["any-will-run"] == "true"
    assert values["needs-gpu"] == "true"
    assert json.loads(values["runs-on"]) == ["self-hosted", "gpu"]
    assert values["timeout-minutes"] == "255"  # every stage (run --all): 4 x 60 min + 15
    assert values["gpu-wait"] == "false"


def test_base_comes_from_the_pull_request_event(repo: GitRepo, tmp_path: Path) -> None:
    base_sha = repo.git("rev-parse", "HEAD")
    repo.write({"train.py": "print('v2')\n"}, commit="head")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"base": {"sha": base_sha, "ref": "main"}}}))
    doc = plan_json(repo, env={"GITHUB_EVENT_PATH": str(event)})
    assert doc["base"] == {"ref": "main", "sha": base_sha}
    assert will_run(doc) == ["train", "evaluate"]


def test_default_base_is_the_merge_base_with_main(repo: GitRepo) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.write({"train.py": "print('feature')\n"}, commit="feature work")
    repo.git("checkout", "-q", "main")
    repo.write({"prepare.py": "print('main moved on')\n"}, commit="main work")
    repo.git("checkout", "-q", "feature")
    doc = plan_json(repo)
    # prepare.py changed on main after the branch point: not the PR's change.
    assert will_run(doc) == ["train", "evaluate"]


def test_shallow_clone_without_the_base_says_how_to_fetch(repo: GitRepo, tmp_path: Path) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write({"train.py": "print('v2')\n"}, commit="head")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", f"file://{repo.path}", str(clone)], check=True
    )
    code, _out, err = run_cli("plan", "--base", base, cwd=clone)
    assert code == 2
    assert "shallow" in err
    assert f"git fetch --no-tags --depth=1 origin {base}" in err


def test_deleted_dep_marks_its_stage_and_keeps_the_plan(repo: GitRepo) -> None:
    repo.write({"data/raw.csv": None}, commit="head")
    doc = plan_json(repo, "--base", "HEAD~1")
    assert will_run(doc) == ["prepare", "train", "evaluate"]
    assert reasons(doc, "prepare") == [
        "dep data/raw.csv deleted",
        "unknown input: data/raw.csv is not in git, no stage produces it, and no .dvc file "
        "or dvc.lock records its hash",
    ]


def test_malformed_yaml_names_the_line(repo: GitRepo) -> None:
    repo.write({"dvc.yaml": "stages:\n  a:\n    cmd: [unclosed\n"})
    code, _out, err = run_cli("plan", "--base", "HEAD", cwd=repo.path)
    assert code == 2
    assert "dvc.yaml" in err
    assert "Traceback" not in err


def test_text_output_lists_reasons(repo: GitRepo) -> None:
    repo.write({"params.yaml": PARAMS.replace("epochs: 3", "epochs: 4")}, commit="head")
    code, out, _err = run_cli("plan", "--base", "HEAD~1", cwd=repo.path)
    assert code == 0
    assert "train     run         param train.epochs changed: 3 -> 4" in out
    assert "2 of 4 stages will run" in out


def test_cli_import_leaves_heavy_libraries_out() -> None:
    code = (
        "import sys, ci_ml.cli; "
        "bad = [m for m in ('boto3', 'github', 'matplotlib', 'tabulate') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


HEAVY = ("boto3", "botocore", "github", "matplotlib", "requests", "yaml")


def test_plan_imports_no_heavy_library_for_plain_block_yaml(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "repo")
    repo.write(
        {
            "dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    deps: [d]\n"
            "    params: [lr]\n    outs: [a.txt]\n",
            "params.yaml": "lr: 0.1\n",
            "d": "x\n",
            "dvc.lock": "schema: '2.0'\nstages:\n  a:\n    cmd: echo a > a.txt\n",
        },
        commit="base",
    )
    repo.write({"params.yaml": "lr: 0.2\n"}, commit="head")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ci_ml", "plan", "--base", "HEAD~1", "--json"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rpartition("|")[2].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert [s["name"] for s in json.loads(proc.stdout)["stages"] if s["changed"]] == ["a"]
    assert sorted({name.partition(".")[0] for name in imported} & set(HEAVY)) == []


def test_dash_c_before_the_command_works_as_in_git(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "repo")
    repo.write(
        {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"}, commit="base"
    )
    code, out, err = run_cli("-C", str(repo.path), "plan", "--base", "HEAD", "--json", cwd=tmp_path)
    assert code == 0, err
    assert [s["name"] for s in json.loads(out)["stages"]] == ["a"]


def test_outside_a_git_repository_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    code, _out, err = run_cli("plan", cwd=tmp_path)
    assert code == 2
    assert "not inside a git repository" in err
