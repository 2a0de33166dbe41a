"""Reading a side: project discovery, pipeline collection and dep content ids."""

from __future__ import annotations

from ci_ml.plan.snapshot import Project, read_side
from ci_ml.state import STATE_DIR
from tests.helpers.gitrepo import GitRepo, plan_json, reasons, run_cli

STAGE = "stages:\n  {name}:\n    cmd: echo {name}\n    deps: [{dep}]\n"


def test_stages_of_nested_dvc_yaml_are_addressed_by_file(git_repo: GitRepo) -> None:
    git_repo.write(
        {
            ".dvc/config": "",
            "dvc.yaml": STAGE.format(name="top", dep="a.txt"),
            "a.txt": "a",
            "sub/dvc.yaml": STAGE.format(name="inner", dep="b.txt"),
            "sub/b.txt": "b",
            "vendor/dvc.yaml": STAGE.format(name="ignored", dep="c.txt"),
            ".dvcignore": "vendor/\n",
        },
        commit="base",
    )
    git_repo.write({"sub/b.txt": "b2"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert [s["name"] for s in doc["stages"]] == ["sub/dvc.yaml:inner", "top"]
    assert reasons(doc, "sub/dvc.yaml:inner") == ["dep sub/b.txt modified"]


def test_project_root_is_found_from_a_subdirectory(git_repo: GitRepo) -> None:
    git_repo.write(
        {"ml/ci-ml.yaml": "", "ml/dvc.yaml": STAGE.format(name="a", dep="x.txt"), "ml/x.txt": "1"},
        commit="base",
    )
    (git_repo.path / "ml/deep").mkdir()
    project = Project.find(git_repo.path / "ml/deep")
    assert project.root == (git_repo.path / "ml").resolve()
    assert project.prefix == "ml"
    code, out, err = run_cli("plan", "--base", "HEAD", "--json", cwd=git_repo.path / "ml/deep")
    assert code == 0, err
    assert '"name": "a"' in out


def test_pipeline_in_ci_ml_yaml_without_dvc(git_repo: GitRepo) -> None:
    config = (
        "gpu-runner: [gpu-box]\n"
        "stages:\n"
        "  train:\n"
        "    cmd: python train.py --lr ${lr}\n"
        "    deps: [train.py]\n"
        "    outs: [model.bin]\n"
        "    gpu: true\n"
    )
    git_repo.write({"ci-ml.yaml": config, "params.yaml": "lr: 1\n", "train.py": ""}, commit="b")
    git_repo.write({"params.yaml": "lr: 2\n"}, commit="head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert reasons(doc, "train") == ["param lr changed: 1 -> 2"]
    assert doc["runs_on"] == ["gpu-box"]


def test_untracked_data_is_hashed_once(git_repo: GitRepo) -> None:
    git_repo.write(
        {
            "dvc.yaml": STAGE.format(name="a", dep="data"),
            ".gitignore": "data/\n",
        },
        commit="base",
    )
    git_repo.write({"data/one.bin": b"1" * 1000, "data/two.bin": b"2" * 1000})
    project = Project.find(git_repo.path)
    first = read_side(project, None).dep_ids["data"]
    db = git_repo.path / STATE_DIR / "digests.db"
    assert db.is_file()
    stamp = db.stat().st_mtime_ns
    assert read_side(project, None).dep_ids["data"] == first
    assert db.stat().st_mtime_ns == stamp  # nothing re-hashed, nothing written
    (git_repo.path / "data/two.bin").write_bytes(b"3" * 1000)
    assert read_side(project, None).dep_ids["data"] != first


def test_large_untracked_file_is_hashed_in_pieces(git_repo: GitRepo) -> None:
    from ci_ml.plan.keys import PIECE

    git_repo.write(
        {"dvc.yaml": STAGE.format(name="a", dep="big.bin"), ".gitignore": "big.bin\n"}, commit="b"
    )
    with (git_repo.path / "big.bin").open("wb") as f:
        f.truncate(PIECE + 1)
    dep_id = read_side(Project.find(git_repo.path), None).dep_ids["big.bin"]
    assert dep_id.startswith("sha256p:")


def test_untracked_dep_counts_on_both_sides(git_repo: GitRepo) -> None:
    git_repo.write(
        {"dvc.yaml": STAGE.format(name="a", dep="raw.csv"), ".gitignore": "raw.csv\n"}, commit="b"
    )
    git_repo.write({"raw.csv": "1,2\n"})
    git_repo.commit("head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    assert doc["any_will_run"] is False


def test_status_compares_with_the_last_run(git_repo: GitRepo) -> None:
    stage = "stages:\n  a:\n    cmd: cp x.txt y.txt\n    deps: [x.txt]\n    outs: [y.txt]\n"
    git_repo.write({"dvc.yaml": stage, "x.txt": "1", ".gitignore": "y.txt\n"}, commit="b")
    assert run_cli("status", cwd=git_repo.path)[1] == "a      never run\n"
    assert run_cli("run", "--all", cwd=git_repo.path)[0] == 0
    assert run_cli("status", cwd=git_repo.path)[1] == "a      up to date\n"
    git_repo.write({"x.txt": "2"})
    assert run_cli("status", cwd=git_repo.path)[1] == "a      changed since the last run\n"


def test_untracked_file_in_a_tracked_directory_dep_counts(git_repo: GitRepo) -> None:
    git_repo.write({"dvc.yaml": STAGE.format(name="a", dep="src"), "src/x.py": "1"}, commit="b")
    git_repo.write({"src/new.py": "2", "src/__pycache__/x.pyc": "ignored"})
    git_repo.write({".gitignore": "__pycache__/\n"})
    doc = plan_json(git_repo, "--base", "HEAD")
    assert reasons(doc, "a") == ["dep src modified"]
    (git_repo.path / "src/new.py").unlink()
    assert plan_json(git_repo, "--base", "HEAD")["any_will_run"] is False


def test_base_read_through_the_index_equals_the_commit(git_repo: GitRepo) -> None:
    from ci_ml.config import Settings
    from ci_ml.plan.snapshot import read_worktree_and_base

    stages = "stages:\n  a:\n    cmd: echo\n    deps: [src, a.txt]\n  b:\n    cmd: echo\n    deps: [src/x.py]\n"
    git_repo.write(
        {"dvc.yaml": stages, "src/x.py": "1", "src/y.py": "1", "src/old.py": "o", "a.txt": "a"},
        commit="base",
    )
    base = git_repo.git("rev-parse", "HEAD")
    git_repo.write(
        {"src/x.py": "2", "src/new.py": "n", "src/old.py": None, "b.txt": "b"}, commit="head"
    )
    git_repo.write({"a.txt": "staged"})
    git_repo.git("add", "a.txt")
    git_repo.write({"src/y.py": "unstaged"})
    project = Project.find(git_repo.path)
    head, through_index = read_worktree_and_base(
        project, base, base_label="base", settings=Settings()
    )
    direct = read_side(project, base, label="base")
    assert through_index.dep_ids == direct.dep_ids
    assert through_index.pipeline == direct.pipeline
    assert head.dep_ids["src"] != direct.dep_ids["src"]
    assert head.dep_ids["a.txt"] != direct.dep_ids["a.txt"]


def test_pipeline_files_added_and_deleted_on_each_side_are_found(git_repo: GitRepo) -> None:
    git_repo.write(
        {
            "dvc.yaml": STAGE.format(name="top", dep="a.txt"),
            "a.txt": "a",
            "old/dvc.yaml": STAGE.format(name="o", dep="a.txt"),
            "gone/dvc.yaml": STAGE.format(name="g", dep="a.txt"),
        },
        commit="base",
    )
    (git_repo.path / "old/dvc.yaml").unlink()
    git_repo.write({"new/dvc.yaml": STAGE.format(name="n", dep="a.txt")}, commit="head")
    (git_repo.path / "gone/dvc.yaml").unlink()  # deleted in the working tree only

    doc = plan_json(git_repo, "--base", "HEAD~1")

    stages = {s["name"]: s["changed"] for s in doc["stages"]}
    assert stages == {"new/dvc.yaml:n": True, "top": False}
