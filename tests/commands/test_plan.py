from __future__ import annotations

import json
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
            },
            {
                "name": "train +1",
                "stages": ["train", "evaluate"],
                "args": "train evaluate",
                "gpu": True,
                "runs-on": ["self-hosted", "gpu"],
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


# --- Agreement with DVC on real pipelines (issue 12) -------------------------------------------
# Each DVC answer below was obtained with DVC 3.67.1 (pip install dvc==3.67.1): a git + `dvc init`
# repository with the base files, `dvc repro` (real commands), the head edit written, then
# `dvc status --json` and `dvc repro --dry`.

FOREACH_FROM_PARAMS = """\
stages:
  train:
    foreach: ${models}
    do:
      cmd: echo ${item} > out-${item}.txt
      outs:
      - out-${item}.txt
  report:
    cmd: cat out-b.txt > report.txt
    deps:
    - out-b.txt
    outs:
    - report.txt
"""


@pytest.mark.parametrize(
    ("head_models", "dvc_runs"),
    [
        # DVC: status {"train@c": [{"changed outs": {"out-c.txt": "deleted"}}]}; repro --dry runs
        # train@c only ("Stage 'train@a' didn't change, skipping", same for train@b, report).
        ("[c, a, b]", ["train@c"]),
        # DVC: status {}; repro --dry skips every stage.
        ("[b, a]", []),
        # DVC: removing an item leaves the other members unchanged (status {}).
        ("[b]", []),
    ],
)
def test_foreach_over_a_params_list_keys_members_by_value(
    git_repo: GitRepo, head_models: str, dvc_runs: list[str]
) -> None:
    git_repo.write(
        {"dvc.yaml": FOREACH_FROM_PARAMS, "params.yaml": "models: [a, b]\n"}, commit="base"
    )
    git_repo.write({"params.yaml": f"models: {head_models}\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == dvc_runs


MATRIX_FROM_PARAMS = """\
stages:
  train:
    matrix:
      model: ${models}
      lr: [0.1]
    cmd: echo ${item.model} ${item.lr} > out-${key}.txt
    outs:
    - out-${key}.txt
"""


def test_matrix_axis_from_params_keys_members_by_value(git_repo: GitRepo) -> None:
    # DVC 3.67.1: models [a, b] -> [c, a, b]: status {"train@c-0.1": [{"changed outs":
    # {"out-c-0.1.txt": "deleted"}}]}; train@a-0.1 and train@b-0.1 "didn't change".
    git_repo.write(
        {"dvc.yaml": MATRIX_FROM_PARAMS, "params.yaml": "models: [a, b]\n"}, commit="base"
    )
    git_repo.write({"params.yaml": "models: [c, a, b]\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == ["train@c-0.1"]


FROZEN = """\
stages:
  prepare:
    cmd: cat prepare.py > data.txt
    deps: [prepare.py]
    outs: [data.txt]
  train:
    frozen: true
    cmd: cat data.txt train.py > model.txt
    deps: [data.txt, train.py]
    outs: [model.txt]
  evaluate:
    cmd: cat model.txt > metrics.txt
    deps: [model.txt]
    outs: [metrics.txt]
"""
FROZEN_FILES = {"prepare.py": "1\n", "train.py": "1\n"}


@pytest.mark.parametrize(
    ("edit", "dvc_runs"),
    [
        # DVC 3.67.1 (base unfrozen, head freezes train and edits train.py): status {} with
        # "stage: 'train' is frozen"; repro --dry skips prepare, train and evaluate.
        ({"train.py": "2\n"}, []),
        # Head freezes train and edits prepare.py: status {"prepare": [{"changed deps":
        # {"prepare.py": "modified"}}]}; repro --dry runs prepare, skips train and evaluate.
        ({"prepare.py": "2\n"}, ["prepare"]),
    ],
)
def test_frozen_stage_does_not_run_nor_propagate(
    git_repo: GitRepo, edit: dict[str, str], dvc_runs: list[str]
) -> None:
    unfrozen = FROZEN.replace("    frozen: true\n", "")
    git_repo.write({"dvc.yaml": unfrozen, **FROZEN_FILES}, commit="base")
    git_repo.write({"dvc.yaml": FROZEN, **edit}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == dvc_runs
    assert {s["name"]: s["frozen"] for s in doc["stages"]} == {
        "prepare": False,
        "train": True,
        "evaluate": False,
    }
    assert reasons(doc, "evaluate") == []


def test_dvcignored_file_inside_a_directory_dep_changes_nothing(git_repo: GitRepo) -> None:
    # DVC 3.67.1 (.dvcignore `*.tmp`, deps: [data]; head edits data/scratch.tmp and adds
    # data/new.tmp): status {}; repro --dry: "Stage 'train' didn't change, skipping".
    stage = (
        "stages:\n  train:\n    cmd: ls data > model.txt\n    deps: [data]\n    outs: [model.txt]\n"
    )
    files = {"dvc.yaml": stage, ".dvcignore": "*.tmp\n", "data/a.csv": "1\n"}
    git_repo.write({**files, "data/scratch.tmp": "x\n"}, commit="base")
    git_repo.write({"data/scratch.tmp": "y\n", "data/new.tmp": "z\n"}, commit="head")
    assert will_run(plan_json(git_repo, "--base", "HEAD~1")) == []
    git_repo.write({"data/untracked.tmp": "w\n"})  # the working tree as head, too
    assert will_run(plan_json(git_repo, "--base", "HEAD~1")) == []


def test_param_used_only_in_desc_is_not_a_change(git_repo: GitRepo) -> None:
    # DVC 3.67.1 (desc: "trains with lr ${train.lr}", train.lr 0.1 -> 0.2): status {};
    # repro --dry: "Stage 'train' didn't change, skipping". DVC compares cmd, deps, outs and
    # `params:`, not the description.
    stage = (
        "stages:\n  train:\n    desc: trains with lr ${train.lr}\n    cmd: cat train.py > m\n"
        "    deps: [train.py]\n    outs: [m]\n"
    )
    files = {"dvc.yaml": stage, "params.yaml": "train:\n  lr: 0.1\n", "train.py": "1\n"}
    git_repo.write(files, commit="base")
    git_repo.write({"params.yaml": "train:\n  lr: 0.2\n"}, commit="head")
    assert will_run(plan_json(git_repo, "--base", "HEAD~1")) == []


NO_DEPS = """\
stages:
  hello:
    cmd: echo hello
  export:
    cmd: echo x > out.txt
    outs: [out.txt]
  check:
    cmd: cat check.py
    deps: [check.py]
  always:
    cmd: cat check.py > a.txt
    deps: [check.py]
    outs: [a.txt]
    always_changed: true
"""


def test_stage_without_deps_and_outs_always_runs(git_repo: GitRepo) -> None:
    # DVC 3.67.1, nothing edited after `dvc repro`: status {"hello": ["always changed"],
    # "always": ["always changed"]}; repro --dry runs hello and always, skips export (outs but
    # no deps) and check (deps but no outs). DVC: Stage.is_callback = cmd and no deps, no outs.
    git_repo.write({"dvc.yaml": NO_DEPS, "check.py": "1\n"}, commit="base")
    git_repo.write({"README.md": "edit\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == ["always", "hello"]
    assert reasons(doc, "hello") == ["no dependencies: always runs"]
    assert reasons(doc, "always") == ["always_changed: runs on every commit"]


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        # Each rejected by DVC 3.67.1 (`dvc stage list`); its message follows each case.
        # "expected bool, in stages -> a -> frozen"
        ("  a:\n    cmd: echo\n    frozen: ${flag}\n", "stage 'a': frozen must be true or false"),
        # "expected bool, in stages -> a -> always_changed"
        (
            "  a:\n    cmd: echo\n    always_changed: ${flag}\n",
            "stage 'a': always_changed must be true or false",
        ),
        # "expected a list, in stages -> a -> deps"
        ("  a:\n    cmd: echo\n    deps: ${files}\n", "stage 'a': `deps` must be a list"),
        # "failed to parse 'stages.a.cmd' in 'dvc.yaml': Cannot interpolate data of type 'list'"
        ("  a:\n    cmd: ${files}\n", "stage 'a': cannot interpolate ${files} in 'cmd'"),
        # "expected str, in stages -> 1"
        ("  1:\n    cmd: echo\n", "stage name 1 must be a string"),
        # "expected str, in stages -> a -> plots -> 0 -> p.csv -> y"
        (
            "  a:\n    cmd: echo\n    plots:\n    - p.csv:\n        y: {p.csv: acc}\n",
            "stage 'a': plot option 'y' of p.csv must be a string",
        ),
    ],
)
def test_what_dvc_rejects_is_rejected(git_repo: GitRepo, stage: str, message: str) -> None:
    params = "flag: true\nfiles: [a.txt, b.txt]\n"
    git_repo.write({"dvc.yaml": "stages:\n" + stage, "params.yaml": params}, commit="base")
    code, _out, err = run_cli("plan", "--base", "HEAD", cwd=git_repo.path)
    assert code == 2, err
    assert "dvc.yaml" in err
    assert message in err


@pytest.mark.parametrize(
    ("dvc_yaml", "message"),
    [
        # DVC 3.67.1: "failed to parse 'stages.a.cmd' in 'dvc.yaml': Could not find
        # 'train.epoch'". `train` merges params.yaml (lr) and conf.yaml (epochs): the message
        # names both files and offers the key from either.
        (
            "vars: [conf.yaml]\nstages:\n  a:\n    cmd: run ${train.epoch}\n",
            "'train' (merged from params.yaml, conf.yaml) has no 'epoch' (did you mean 'epochs'?)",
        ),
        # DVC 3.67.1: "cannot redefine 'train.lr' from 'conf.yaml' as it already exists in
        # 'params.yaml'".
        (
            "vars: [conf.yaml, {train: {lr: 2}}]\nstages:\n  a:\n    cmd: run\n",
            "cannot redefine 'train.lr' from vars[1] as params.yaml sets it",
        ),
        # A mapping where a list belongs: named as YAML names it (DVC: "expected a list").
        ("stages:\n  a:\n    cmd: run\n    deps: {x: 1}\n", "`deps` must be a list, got a mapping"),
        ("stages:\n  a:\n    cmd: run\nplots: {a: 1}\n", "`plots` must be a list, got a mapping"),
    ],
)
def test_messages_name_the_right_file_and_no_internal_type(
    git_repo: GitRepo, dvc_yaml: str, message: str
) -> None:
    files = {"params.yaml": "train:\n  lr: 0.1\n", "conf.yaml": "train:\n  epochs: 3\n"}
    git_repo.write({**files, "dvc.yaml": dvc_yaml}, commit="base")
    code, _out, err = run_cli("plan", "--base", "HEAD", cwd=git_repo.path)
    assert code == 2, err
    assert message in err
    assert "LineDict" not in err


def test_nested_dvc_project_is_planned_on_its_own(git_repo: GitRepo) -> None:
    # DVC 3.67.1: `dvc init` at the top and `dvc init --subdir` in sub/; `dvc stage list` at
    # the top lists only "top", and in sub/ only "inner": a nested project is its own repo.
    files = {
        ".dvc/config": "",
        "dvc.yaml": "stages:\n  top:\n    cmd: cat a.txt > t\n    deps: [a.txt]\n    outs: [t]\n",
        "a.txt": "1\n",
        "sub/.dvc/config": "",
        "sub/dvc.yaml": "stages:\n  inner:\n    cmd: cat b.txt > i\n    deps: [b.txt]\n    outs: [i]\n",
        "sub/b.txt": "1\n",
    }
    git_repo.write(files, commit="base")
    git_repo.write({"a.txt": "2\n", "sub/b.txt": "2\n"}, commit="head")
    top = plan_json(git_repo, "--base", "HEAD~1")
    assert [s["name"] for s in top["stages"]] == ["top"]
    inner = plan_json(git_repo, "-C", "sub", "--base", "HEAD~1")
    assert [s["name"] for s in inner["stages"]] == ["inner"]
    assert will_run(inner) == ["inner"]


PARAMS_FROM_OUTS = """\
stages:
  configure:
    cmd: "cat configure.py > /dev/null && echo lr: 0.1 > conf/train.yaml"
    deps: [configure.py]
    outs: [conf/train.yaml]
  train:
    cmd: cat conf/train.yaml > model.txt
    params:
    - conf/train.yaml:
      - lr
    outs: [model.txt]
"""


def test_params_file_written_by_a_stage_is_an_edge(git_repo: GitRepo) -> None:
    # DVC 3.67.1: `dvc dag` draws configure -> train (train reads, through `params:`, a file
    # that configure writes); conf/train.yaml is git-ignored by `dvc repro`, so never
    # committed. Head edits configure.py: status {"configure": [{"changed deps":
    # {"configure.py": "modified"}}]}, and train is reproduced after configure when its
    # params change.
    files = {
        "dvc.yaml": PARAMS_FROM_OUTS,
        "configure.py": "1\n",
        "conf/.gitignore": "/train.yaml\n",
    }
    git_repo.write(files, commit="base")
    git_repo.write({"configure.py": "2\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == ["configure", "train"]
    assert reasons(doc, "train") == ["upstream 'configure' changed"]


MISSING_DEP = """\
stages:
  train:
    cmd: cat data/raw.csv > m.txt
    deps: [data/raw.csv]
    outs: [m.txt]
  lint:
    cmd: cat src.py > l.txt
    deps: [src.py]
    outs: [l.txt]
"""
LOCK = """\
schema: '2.0'
stages:
  train:
    cmd: cat data/raw.csv > m.txt
    deps:
    - path: data/raw.csv
      hash: md5
      md5: 60b725f10c9c85c70d97880dfe8191b3
      size: 2
    outs:
    - path: m.txt
      hash: md5
      md5: 60b725f10c9c85c70d97880dfe8191b3
      size: 2
"""


def test_missing_dep_with_a_lock_hash_is_not_a_change(git_repo: GitRepo) -> None:
    # DVC 3.67.1 after `dvc repro`, data/raw.csv removed (a fresh clone of DVC-tracked data)
    # and src.py edited: status {"train": [{"changed deps": {"data/raw.csv": "deleted"}}],
    # "lint": [...modified]}. DVC reports train per stage and plans the rest; ci-ml goes
    # further and identifies the data by the hash dvc.lock records, so train is unchanged.
    files = {"dvc.yaml": MISSING_DEP, "dvc.lock": LOCK, "src.py": "1\n"}
    git_repo.write(files, commit="base")
    git_repo.write({"src.py": "2\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == ["lint"]
    assert reasons(doc, "train") == []


def test_missing_dep_without_a_hash_marks_only_its_stages(git_repo: GitRepo) -> None:
    # Same DVC answer as above: DVC reports the missing dep against train only.
    git_repo.write({"dvc.yaml": MISSING_DEP, "src.py": "1\n"}, commit="base")
    git_repo.write({"src.py": "2\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == ["lint"]
    assert reasons(doc, "train") == [
        "unknown input: data/raw.csv is not in git, no stage produces it, and no .dvc file "
        "or dvc.lock records its hash"
    ]


ABSOLUTE_OUT = """\
stages:
  export:
    cmd: cat src.txt > /tmp/ci-ml-export/x.txt
    deps: [src.txt]
    outs:
    - /tmp/ci-ml-export/x.txt:
        cache: false
  other:
    cmd: cat src.txt > o.txt
    deps: [src.txt]
    outs: [o.txt]
"""


def test_absolute_out_is_planned_and_never_cached(git_repo: GitRepo) -> None:
    # DVC 3.67.1, head edits src.txt: status {"export": [{"changed deps": {"src.txt":
    # "modified"}}], "other": [...]}; repro --dry runs both. (Without `cache: false`, DVC 3
    # fails at run time: "Saving cached external output ... is not supported since DVC 3.0".)
    git_repo.write({"dvc.yaml": ABSOLUTE_OUT, "src.txt": "1\n"}, commit="base")
    git_repo.write({"src.txt": "2\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert will_run(doc) == ["export", "other"]
    assert reasons(doc, "export") == [
        "dep src.txt modified",
        "out /tmp/ci-ml-export/x.txt lies outside the repository: not cached",
    ]
