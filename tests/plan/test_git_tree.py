"""Directory deps are identified by git tree ids: computed here exactly as git writes them, and
the same for the same content whichever way a side was read (a commit, the index, the working
tree, the base of a plan)."""

from __future__ import annotations

import random
import stat
import subprocess
from pathlib import Path

import pytest

from ci_ml.config import resolve
from ci_ml.plan.git_tree import CommitTrees, tree_id, worktree_mode
from ci_ml.plan.snapshot import Project, read_side, read_worktree_and_base
from tests.helpers.gitrepo import GitRepo

SETTINGS = resolve(None, {}, {})
# Names that test git's order: "sub" sorts as "sub/" among "sub.x", "sub-y" and "sub0".
NAMES = ["a", "sub", "sub.x", "sub-y", "sub0", "B", "sp ace", "\u00e9t\u00e9", "x\ty"]


def _index_files(repo: GitRepo, directory: str) -> list[tuple[str, str, str]]:
    """(path relative to `directory`, mode, oid) of the index's files under it."""
    out = subprocess.run(
        ["git", "ls-files", "-s", "-z", "--", directory],
        cwd=repo.path,
        check=True,
        capture_output=True,
    ).stdout.decode()
    files = []
    for record in out.split("\0")[:-1]:
        meta, _, path = record.partition("\t")
        mode, oid, _stage = meta.split(" ")
        files.append((path[len(directory) + 1 :], mode, oid))
    return files


def _random_tree(root: Path, rng: random.Random, depth: int = 0) -> None:
    for name in rng.sample(NAMES, rng.randint(1, 4)):
        path = root / name
        if depth < 3 and rng.random() < 0.4:
            path.mkdir()
            _random_tree(path, rng, depth + 1)
            continue
        kind = rng.choice(["file", "file", "exec", "link"])
        if kind == "link":
            path.symlink_to(f"../{rng.choice(NAMES)}")
        else:
            path.write_text(f"{name} {rng.random()}\n")
            if kind == "exec":
                path.chmod(0o755)


def _dirs(repo: GitRepo) -> list[str]:
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-d", "-z", "--name-only", "HEAD"],
        cwd=repo.path,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return out.split("\0")[:-1]


@pytest.mark.parametrize("seed", range(8))
def test_tree_ids_match_git_for_random_trees(git_repo: GitRepo, seed: int) -> None:
    (git_repo.path / "d").mkdir()
    _random_tree(git_repo.path / "d", random.Random(seed))
    (git_repo.path / "d/keep").write_text("so the tree is never empty\n")
    git_repo.commit("tree")
    dirs = _dirs(git_repo)
    listed = CommitTrees(
        subprocess.run(
            ["git", "ls-tree", "-r", "-d", "-z", "HEAD"],
            cwd=git_repo.path,
            check=True,
            capture_output=True,
        ).stdout
    )
    for directory in dirs:
        expected = git_repo.git("rev-parse", f"HEAD:{directory}")
        assert tree_id(_index_files(git_repo, directory)) == expected, directory
        assert listed.get(directory) == expected, directory
    assert listed.get("nothing") is None


def test_tree_ids_match_git_in_a_sha256_repository(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.path.mkdir()
    subprocess.run(["git", "init", "-q", "--object-format=sha256", str(repo.path)], check=True)
    repo.git("config", "user.email", "ci@example.com")
    repo.git("config", "user.name", "ci")
    repo.write({"d/a": "a\n", "d/sub/b": "b\n"}, commit="tree")
    expected = repo.git("rev-parse", "HEAD:d")
    assert len(expected) == 64
    assert tree_id(_index_files(repo, "d")) == expected


def test_a_path_with_a_tab_does_not_answer_for_another(git_repo: GitRepo) -> None:
    git_repo.write({"x\tdata/f": "decoy\n", "data/f": "real\n"}, commit="tabs")
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-d", "-z", "HEAD"], cwd=git_repo.path, capture_output=True
    ).stdout
    assert CommitTrees(out).get("data") == git_repo.git("rev-parse", "HEAD:data")


def test_worktree_mode_is_what_git_add_records() -> None:
    assert worktree_mode("100644", stat.S_IFREG | 0o644) == "100644"
    assert worktree_mode("100644", stat.S_IFREG | 0o755) == "100755"
    assert worktree_mode("100755", stat.S_IFREG | 0o644) == "100644"
    assert worktree_mode("100644", stat.S_IFLNK | 0o777) == "120000"
    assert worktree_mode("160000", stat.S_IFDIR | 0o755) == "160000"


def _dep_id(repo: GitRepo, *, base: str | None = None) -> set[str]:
    """The content id of the `data` dep from every way of reading the working tree (and, with
    `base`, the base side of a plan)."""
    project = Project.find(repo.path)
    found = {read_side(project, None, settings=SETTINGS).dep_ids["data"]}
    head, _ = read_worktree_and_base(
        project,
        repo.git("rev-parse", base or "HEAD"),
        base_label="base",
        settings=SETTINGS,
    )
    found.add(head.dep_ids["data"])
    return found


def test_same_content_same_id_edited_staged_or_committed(git_repo: GitRepo) -> None:
    git_repo.write(
        {
            "dvc.yaml": "stages:\n  s:\n    cmd: echo\n    deps: [data]\n",
            "data/a.csv": "1\n",
            "data/run.sh": "echo\n",
            "data/deep/b.csv": "2\n",
            "other/c.csv": "3\n",
        }
    )
    (git_repo.path / "data/run.sh").chmod(0o755)
    (git_repo.path / "data/link").symlink_to("a.csv")
    git_repo.commit("base")
    project = Project.find(git_repo.path)
    committed = "tree:" + git_repo.git("rev-parse", "HEAD:data")
    assert read_side(project, "HEAD").dep_ids["data"] == committed
    assert _dep_id(git_repo) == {committed}

    # Edited, then staged, then committed: one id throughout, git's own once committed.
    (git_repo.path / "data/deep/b.csv").write_text("changed\n")
    (git_repo.path / "data/a.csv").chmod(0o755)
    (git_repo.path / "data/link").unlink()
    edited = _dep_id(git_repo)
    assert len(edited) == 1
    assert edited != {committed}
    git_repo.git("add", "-A")
    assert _dep_id(git_repo) == edited
    assert _dep_id(git_repo, base="HEAD") == edited  # the index differs from the base
    git_repo.commit("edit")
    assert {"tree:" + git_repo.git("rev-parse", "HEAD:data")} == edited
    assert {read_side(project, "HEAD").dep_ids["data"]} == edited

    # The base side of a plan is the base commit's tree, whatever the working tree holds.
    (git_repo.path / "data/a.csv").write_text("dirty\n")
    project = Project.find(git_repo.path)
    _, base = read_worktree_and_base(
        project, git_repo.git("rev-parse", "HEAD~1"), base_label="base", settings=SETTINGS
    )
    assert base.dep_ids["data"] == committed


def test_a_directory_with_more_or_fewer_files_than_git_tracks_is_not_a_tree(
    git_repo: GitRepo,
) -> None:
    git_repo.write(
        {
            "dvc.yaml": (
                "stages:\n  s:\n    cmd: echo\n    deps: [data, clean]\n"
                "  t:\n    cmd: echo\n    deps: [clean]\n    outs: [data/out.csv]\n"
            ),
            "data/a.csv": "1\n",
            "data/out.csv": "produced\n",
            "clean/b.csv": "2\n",
        },
        commit="base",
    )
    project = Project.find(git_repo.path)
    ids = read_side(project, "HEAD").dep_ids
    assert ids["clean"] == "tree:" + git_repo.git("rev-parse", "HEAD:clean")
    assert ids["data"].startswith("dir:")  # a stage's output in it is not its input
    (git_repo.path / "clean/new.csv").write_text("untracked\n")
    assert read_side(project, None).dep_ids["clean"].startswith("dir:")


def test_a_retargeted_link_is_its_new_target_not_the_file_there(git_repo: GitRepo) -> None:
    """git stores a symlink as the text of its target; `git hash-object` follows the link, and
    fails on a dangling one."""
    git_repo.write(
        {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n    deps: [data]\n", "data/a.csv": "1\n"}
    )
    (git_repo.path / "data/link").symlink_to("a.csv")
    git_repo.commit("base")
    for target in ("../elsewhere", "a.csv.gone"):  # an untracked file, nothing at all
        (git_repo.path / "elsewhere").write_text("not in the dep\n")
        (git_repo.path / "data/link").unlink()
        (git_repo.path / "data/link").symlink_to(target)
        edited = _dep_id(git_repo)
        assert len(edited) == 1
        git_repo.git("add", "data")
        git_repo.commit(f"link to {target}")
        assert edited == {"tree:" + git_repo.git("rev-parse", "HEAD:data")}
