"""The index listing, looked up by bisection, answers as a dict of every entry would."""

from __future__ import annotations

import subprocess

from ci_ml.git import Git
from tests.helpers.gitrepo import GitRepo

NAMES = [
    "a",
    "a b/c",
    "a-b/dvc.yaml",
    "a/b/dvc.yaml",
    "a/b0",
    "a/bc/x",
    "a/dvc.yaml",
    "a/xdvc.yaml",
    "dvc.yaml",
    "tab\there/f",
    "z/\u00e9t\u00e9",
    "z/\u4e2d",
]


def _repo(git_repo: GitRepo) -> GitRepo:
    git_repo.write({name: f"{name}\n" for name in NAMES if name != "a"} | {"b": "b\n"})
    git_repo.commit("files")
    return git_repo


def test_listing_answers_as_the_dict_of_entries(git_repo: GitRepo) -> None:
    repo = _repo(git_repo)
    git = Git(repo.path)
    entries = git.ls_index("")
    listing = git.ls_index_listing("")
    assert dict(listing.items()) == entries
    assert len(listing) == len(entries)
    for path in [*entries, "a", "a/b", "a/b/", "zz", "", "a b", "dvc.yam"]:
        assert (path in listing) == (path in entries), path
        assert listing.get(path) == entries.get(path), path
    assert listing.under("a") == ["a/b/dvc.yaml", "a/b0", "a/bc/x", "a/dvc.yaml", "a/xdvc.yaml"]
    assert listing.under("a/b") == ["a/b/dvc.yaml"]
    assert listing.under("z") == ["z/\u00e9t\u00e9", "z/\u4e2d"]
    assert listing.under("nothing") == []
    assert listing.named("dvc.yaml") == ["a-b/dvc.yaml", "a/b/dvc.yaml", "a/dvc.yaml", "dvc.yaml"]
    assert all(listing.is_plain(path) for path in entries)
    assert not listing.is_plain("missing")


def test_listing_keeps_a_conflicts_first_stage_and_flags_entries(git_repo: GitRepo) -> None:
    repo = _repo(git_repo)
    repo.git("checkout", "-qb", "other")
    repo.write({"b": "other\n"}, commit="other")
    repo.git("checkout", "-q", "main")
    repo.write({"b": "main\n"}, commit="main")
    merge = subprocess.run(["git", "merge", "-q", "other"], cwd=repo.path, capture_output=True)
    assert merge.returncode != 0  # b conflicts: the index holds stages 1, 2 and 3
    repo.git("update-index", "--assume-unchanged", "dvc.yaml")
    git = Git(repo.path)
    listing = git.ls_index_listing("")
    assert listing["b"] == git.ls_index("")["b"] == repo.git("rev-parse", "HEAD~1:b")
    assert list(listing) == list(git.ls_index(""))
    assert listing.under("a/b") == ["a/b/dvc.yaml"]
    assert not listing.is_plain("b")  # unmerged
    assert not listing.is_plain("dvc.yaml")  # assume-unchanged
    assert listing.is_plain("a/dvc.yaml")
