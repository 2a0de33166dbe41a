"""The working tree's changes from the dep files alone (`check_files`) agree with `git status`,
and a plan that takes that path sees every kind of change a whole-index status sees."""

from __future__ import annotations

import os

import pytest

from ci_ml.config import resolve
from ci_ml.git import Git
from ci_ml.plan.entries import IndexListing
from ci_ml.plan.snapshot import Project, read_side, read_worktree_and_base
from ci_ml.plan.worktree import check_files, most_checked
from tests.helpers.gitrepo import GitRepo, plan_json, reasons

SETTINGS = resolve(None, {}, {})
# Enough tracked files that checking a handful of deps one by one is the cheaper way.
FILLER = 6000
DEPS = [f"data/d{i}.csv" for i in range(6)]
PIPELINE = (
    "stages:\n"
    "  files:\n    cmd: echo\n    deps: [data/d0.csv, data/d1.csv, data/d2.csv, data/d3.csv]\n"
    "  other:\n    cmd: echo\n    deps: [data/d4.csv, data/d5.csv, small]\n"
)


def _big_repo(git_repo: GitRepo) -> GitRepo:
    filler = git_repo.path / "filler"
    for i in range(FILLER // 100):
        (filler / str(i)).mkdir(parents=True)
        for j in range(100):
            (filler / str(i) / f"{j}.txt").write_text(f"{i} {j}\n")
    files: dict[str, str] = {dep: f"{dep}\n" for dep in DEPS}
    files |= {"dvc.yaml": PIPELINE, "small/a.txt": "a\n", "small/b.txt": "b\n"}
    git_repo.write(files)
    git_repo.git("add", "-A")
    git_repo.commit("base")
    return git_repo


def _status(git: Git) -> tuple[list[str], list[str]]:
    modified, deleted = git.worktree_changes("")
    return sorted(modified), sorted(deleted)


def _changes(repo: GitRepo) -> None:
    """Every kind of change to the deps: edited, deleted, staged, touched only, replaced by a
    directory, and a file edited under an assume-unchanged flag (status trusts the index)."""
    (repo.path / "data/d0.csv").write_text("edited\n")
    (repo.path / "data/d1.csv").unlink()
    (repo.path / "data/d2.csv").write_text("staged\n")
    repo.git("add", "data/d2.csv")
    os.utime(repo.path / "data/d3.csv", (1, 1))
    (repo.path / "data/d4.csv").unlink()
    (repo.path / "data/d4.csv").mkdir()
    (repo.path / "data/d4.csv/inner").write_text("x\n")
    repo.git("update-index", "--assume-unchanged", "data/d5.csv")
    (repo.path / "data/d5.csv").write_text("hidden\n")
    (repo.path / "small/a.txt").write_text("a2\n")
    (repo.path / "small/b.txt").chmod(0o755)  # the same content, now executable


def test_checking_the_deps_alone_agrees_with_status(git_repo: GitRepo) -> None:
    repo = _big_repo(git_repo)
    _changes(repo)
    git = Git(repo.path)
    listing = IndexListing(git.start_ls_index_records("").result())
    paths = [*DEPS, "small/a.txt", "small/b.txt", "dvc.yaml"]
    assert len(paths) <= most_checked(len(listing))
    found = check_files(git, listing, paths)
    assert found is not None
    assert tuple(sorted(x) for x in found) == _status(git)
    assert sorted(found[0]) == ["data/d0.csv", "small/a.txt", "small/b.txt"]


def test_too_many_files_to_check_leaves_it_to_status(git_repo: GitRepo) -> None:
    repo = _big_repo(git_repo)
    git = Git(repo.path)
    listing = IndexListing(git.start_ls_index_records("").result())
    assert check_files(git, listing, sorted(listing)) is None


@pytest.mark.parametrize("change", ["edited", "deleted", "untracked", "touched", "executable"])
def test_plan_from_the_deps_alone_sees_what_status_sees(git_repo: GitRepo, change: str) -> None:
    repo = _big_repo(git_repo)
    repo.write({"params.yaml": "x: 1\n"}, commit="head")
    if change == "edited":
        (repo.path / "small/b.txt").write_text("b2\n")
    elif change == "deleted":
        (repo.path / "data/d0.csv").unlink()
    elif change == "untracked":
        (repo.path / "small/c.txt").write_text("new\n")
    elif change == "executable":
        (repo.path / "small/b.txt").chmod(0o755)
    else:
        os.utime(repo.path / "small/a.txt", (1, 1))
    project = Project.find(repo.path)
    head, base = read_worktree_and_base(
        project, repo.git("rev-parse", "HEAD~1").strip(), base_label="HEAD~1", settings=SETTINGS
    )
    whole = read_side(project, None, settings=SETTINGS)  # `git status` over every file
    assert head.dep_ids == whole.dep_ids
    changed = {"edited": "small", "deleted": "data/d0.csv", "untracked": "small"}
    changed["executable"] = "small"
    expected = {changed[change]} if change in changed else set()
    assert {dep for dep, content in head.dep_ids.items() if content != base.dep_ids[dep]} == (
        expected
    )


def test_plan_reports_a_dirty_dep_in_a_big_repository(git_repo: GitRepo) -> None:
    repo = _big_repo(git_repo)
    (repo.path / "small/a.txt").write_text("dirty\n")
    doc = plan_json(repo, "--base", "HEAD")
    assert reasons(doc, "other") == ["dep small modified"]
    assert reasons(doc, "files") == []


def test_the_speculative_status_runs_nicer_than_the_planner(git_repo: GitRepo) -> None:
    """The whole-index status started before the plan knows it needs one (it is cancelled
    when the deps are few enough to hash) yields the CPU to the planner: 10 steps nicer."""
    from ci_ml.plan.worktree import start_worktree_reads

    git_repo.write({"a.txt": "a\n"})
    git_repo.git("add", "-A")
    git_repo.commit("base")
    git = Git.discover(git_repo.path)
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    # A process that has exited stays until it is reaped (by cancel or result), priority and all.
    reads = start_worktree_reads(git, "")
    try:
        assert os.getpriority(os.PRIO_PROCESS, reads.changes.pid) == min(19, mine + 10)
    finally:
        reads.cancel()
        reads.listing.result()
    needed = git.start_worktree_changes(["."])
    assert os.getpriority(os.PRIO_PROCESS, needed.pid) == mine
    assert needed.result() == ([], [])
