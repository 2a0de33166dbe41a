"""The index listing, looked up by bisection, answers as a dict of every entry would."""

from __future__ import annotations

import subprocess

import pytest

from ci_ml.plan.entries import IndexListing
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


def _index_entries(repo: GitRepo) -> dict[str, str]:
    """The index, path -> object id (a conflict's first stage), record by record."""
    out = subprocess.run(
        ["git", "ls-files", "-s", "-z"], cwd=repo.path, check=True, capture_output=True
    ).stdout
    entries: dict[str, str] = {}
    for record in out.decode().split("\0")[:-1]:
        meta, _, path = record.partition("\t")
        entries.setdefault(path, meta.split(" ")[1])
    return entries


def _listing(repo: GitRepo, bisections: int | None) -> IndexListing:
    """The listing; with `bisections` 0 it splits every record on the first lookup."""
    out = subprocess.run(
        ["git", "ls-files", "-s", "-v", "-z"], cwd=repo.path, check=True, capture_output=True
    ).stdout
    return IndexListing(out, bisections=bisections)


@pytest.mark.parametrize("bisections", [0, 10_000])
def test_listing_answers_as_the_dict_of_entries(git_repo: GitRepo, bisections: int) -> None:
    repo = _repo(git_repo)
    entries = _index_entries(repo)
    listing = _listing(repo, bisections)
    assert len(listing) == len(entries)
    for path in [*entries, "a", "a/b", "a/b/", "zz", "", "a b", "dvc.yam"]:
        assert (path in listing) == (path in entries), path
        assert listing.get(path) == entries.get(path), path
    assert listing.under("a") == ["a/b/dvc.yaml", "a/b0", "a/bc/x", "a/dvc.yaml", "a/xdvc.yaml"]
    assert listing.under("a/b") == ["a/b/dvc.yaml"]
    assert listing.under("z") == ["z/\u00e9t\u00e9", "z/\u4e2d"]
    assert listing.under("nothing") == []
    assert listing.named("dvc.yaml") == ["a-b/dvc.yaml", "a/b/dvc.yaml", "a/dvc.yaml", "dvc.yaml"]
    assert all(listing.plain_mode(path) == "100644" for path in entries)
    assert listing.plain_mode("missing") is None
    assert dict(listing.items()) == entries


@pytest.mark.parametrize("bisections", [0, 10_000])
def test_listing_keeps_a_conflicts_first_stage_and_flags_entries(
    git_repo: GitRepo, bisections: int
) -> None:
    repo = _repo(git_repo)
    repo.git("checkout", "-qb", "other")
    repo.write({"b": "other\n"}, commit="other")
    repo.git("checkout", "-q", "main")
    repo.write({"b": "main\n"}, commit="main")
    merge = subprocess.run(["git", "merge", "-q", "other"], cwd=repo.path, capture_output=True)
    assert merge.returncode != 0  # b conflicts: the index holds stages 1, 2 and 3
    repo.git("update-index", "--assume-unchanged", "dvc.yaml")
    listing = _listing(repo, bisections)
    assert listing["b"] == _index_entries(repo)["b"] == repo.git("rev-parse", "HEAD~1:b")
    assert list(listing) == list(_index_entries(repo))
    assert listing.under("a/b") == ["a/b/dvc.yaml"]
    assert listing.plain_mode("b") is None  # unmerged
    assert listing.plain_mode("dvc.yaml") is None  # assume-unchanged
    assert listing.plain_mode("a/dvc.yaml") == "100644"
