"""Read one side of a comparison: the pipeline and its deps' content ids, at a commit (from
git objects, no checkout) or in the working tree (content ids: content_ids.py).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ci_ml.config import CONFIG_FILE, Settings, apply_settings
from ci_ml.errors import CiMlError, PipelineError
from ci_ml.git import IndexChange, require_commit
from ci_ml.pipeline import Graph, IgnoreRules, Pipeline, build_graph, parse_pipeline
from ci_ml.plan.content_ids import all_deps, dep_content_ids, untracked_dirs
from ci_ml.plan.entries import Entries, IndexListing
from ci_ml.plan.git_tree import REGULAR, CommitTrees, worktree_mode
from ci_ml.plan.planner import Side
from ci_ml.plan.project import FileTree, Project, refuse_tracked_state
from ci_ml.plan.worktree import (
    Changes,
    WorktreeReads,
    check_files,
    most_checked,
    start_worktree_reads,
)
from ci_ml.project_root import PIPELINE_FILE
from ci_ml.state import STATE_DIR

WORKTREE = "working tree"
# The files a side's pipeline is found from: dvc.yaml files, .dvcignore files and `.dvc/config`
# (which marks a nested DVC project).
_NAMES = (PIPELINE_FILE, ".dvcignore", "config")


def read_side(
    project: Project,
    ref: str | None,
    *,
    settings: Settings | None = None,
    label: str | None = None,
) -> Side:
    """The side at commit `ref`, or the working tree when `ref` is None."""
    git = project.git
    if ref is None:
        head = git.head_sha()
        tree, named = _worktree_tree(project, head)
        return _side(project, tree, head, WORKTREE, settings=settings, named=named)
    sha = require_commit(git, ref, what="--head" if label is None else "commit")
    trees = CommitTrees(lambda: git.start_ls_trees(sha, _paths(project.prefix)).result())
    tree = FileTree(project, git.ls_tree(sha, project.prefix), worktree=False, trees=trees)
    return _side(project, tree, sha, label or ref, settings=settings)


def read_worktree_and_base(
    project: Project,
    base_sha: str,
    *,
    base_label: str,
    settings: Settings,
    reads: WorktreeReads | None = None,
) -> tuple[Side, Side]:
    """The working tree and a base commit, from one listing of the index: the base's files are
    the index's, patched with what `git diff-index` says differs (cheap: git compares trees
    by hash and skips whole unchanged directories), instead of a second listing of every file.

    The base side and the head's pipeline need no `git status`, so they are read while it
    runs; only the head's content ids wait for it."""
    git = project.git
    reads = reads or start_worktree_reads(git, project.prefix)
    documents: dict[tuple[str, str], Any] = {}  # a dvc.yaml unchanged by the PR is read once
    memo: dict[Any, Any] = {}  # and so are a dvc.lock and a directory's files
    # Started here, not in a thread: a thread waits for the GIL to start its process.
    base_diff = git.start_index_vs_commit(base_sha, project.prefix)
    base_trees = None  # the base's directories that are directory deps at the head
    with ThreadPoolExecutor(1) as pool:
        head_sha = pool.submit(git.head_sha)
        listing = reads.index()
        refuse_tracked_state(project, listing.under(project.to_repo(STATE_DIR)))
        # Both sides' pipeline files from one search of the index, patched like the entries.
        named = _index_named(listing)
        head_tree = FileTree(project, listing, worktree=True)  # its trees: below
        # The head's files are read from the disk: only a deleted pipeline file (known from
        # status) would change its pipeline, and then it is parsed again below.
        try:
            early = _pipeline(project, head_tree, WORKTREE, settings, documents, named)
        except CiMlError:
            early = None
        # The untracked files in directory deps are listed beside status.
        untracked = None
        if early is not None:
            # About two bisections per dep (measured at 100 and 1,000 stages), both sides.
            listing.expect(2 * len(all_deps(early[0])))
            dirs = untracked_dirs(project, head_tree, all_deps(early[0]))
            untracked = (dirs, git.start_untracked(dirs)) if dirs else None
            base_trees = git.start_ls_trees(base_sha, dirs) if dirs else None
        # On this thread, not a pool's: a thread that waits for the GIL between its system
        # calls waits a switch interval (5 ms) for each while this one parses.
        changes = _checked(project, head_tree, listing, early, named) if early else None
        if changes is not None:
            reads.cancel()
        base: Side | CiMlError
        diff: list[IndexChange] = []
        try:
            diff = base_diff.result()
            trees = CommitTrees(base_trees.result() if base_trees else b"")
            # The head's directories are the base's but where the index or the files differ.
            head_tree.follow(trees, (path for _, _, _, path in diff))
            base = _base_side(
                project,
                listing,
                diff,
                trees,
                named,
                base_sha,
                base_label,
                documents=documents,
                memo=memo,
            )
        except CiMlError as e:  # the head's error, if any, is the one to show
            base = e
        modified, deleted = changes or reads.changes.result()
        head_named = _without(named, set(deleted))
        if early is None or head_named != named:
            if untracked is not None:
                untracked[1].cancel()
            untracked = None
            early = _pipeline(project, head_tree, WORKTREE, settings, documents, head_named)
        _patch(head_tree, modified, deleted)
        pipeline, ignore, graph = early
        dep_ids = dep_content_ids(
            project,
            head_tree,
            pipeline,
            graph,
            ignore=ignore,
            memo=memo,
            untracked=(untracked[0], untracked[1].result()) if untracked else None,
        )
    head = Side(
        ref=WORKTREE, sha=head_sha.result(), pipeline=pipeline, dep_ids=dep_ids, graph=graph
    )
    if isinstance(base, CiMlError):
        raise base
    return head, base


def _checked(
    project: Project,
    tree: FileTree,
    listing: IndexListing,
    early: tuple[Pipeline, IgnoreRules, Graph],
    named: dict[str, list[str]],
) -> Changes | None:
    """What `git status` says of the files the head side reads (the pipeline files and the
    deps), from those files alone (`check_files`); None when there are too many of them."""
    limit = most_checked(listing.estimated_len())
    paths = [p for found in named.values() for p in found]
    for dep in all_deps(early[0]):
        repo_path = project.to_repo(dep)
        paths += [repo_path] if repo_path in tree.entries else tree.under(repo_path)
        if len(paths) > limit:
            return None
    return check_files(project.git, listing, paths)


def _base_side(
    project: Project,
    index: IndexListing,
    base_diff: list[IndexChange],
    trees: CommitTrees,
    named: dict[str, list[str]],
    sha: str,
    label: str,
    *,
    documents: dict[tuple[str, str], Any],
    memo: dict[Any, Any],
) -> Side:
    """The base side: the index patched with `base_diff`; its directories' ids are `trees`."""
    entries = Entries(index)
    added: list[str] = []
    removed: set[str] = set()
    for status, mode, oid, path in base_diff:
        if status == "A":
            entries.remove(path)
            removed.add(path)
        else:
            if path not in entries:
                added.append(path)
            entries.set(path, oid, mode)
    base_named = _without(named, removed)
    for name, paths in _named(_joined(added), _NAMES).items():
        base_named[name] += paths
    tree = FileTree(project, entries, worktree=False, trees=trees)
    return _side(
        project, tree, sha, label, settings=None, documents=documents, memo=memo, named=base_named
    )


def _side(
    project: Project,
    tree: FileTree,
    sha: str | None,
    label: str,
    *,
    settings: Settings | None,
    documents: dict[tuple[str, str], Any] | None = None,
    memo: dict[Any, Any] | None = None,
    named: dict[str, list[str]] | None = None,
) -> Side:
    if named is None:
        named = _named(_joined(tree.entries), _NAMES)
    pipeline, ignore, graph = _pipeline(
        project, tree, label, settings, {} if documents is None else documents, named
    )
    dep_ids = dep_content_ids(project, tree, pipeline, graph, ignore=ignore, memo=memo)
    return Side(ref=label, sha=sha, pipeline=pipeline, dep_ids=dep_ids, graph=graph)


def _pipeline(
    project: Project,
    tree: FileTree,
    label: str,
    settings: Settings | None,
    documents: dict[tuple[str, str], Any],
    named: dict[str, list[str]],
) -> tuple[Pipeline, IgnoreRules, Graph]:
    pipeline, ignore = _parse(project, tree, label, documents, named)
    if settings is not None:
        pipeline = apply_settings(pipeline, settings)
    return pipeline, ignore, build_graph(pipeline)


def _worktree_tree(project: Project, head: str | None) -> tuple[FileTree, dict[str, list[str]]]:
    """The working tree's files (the index's, with HEAD's tree ids where they still hold) and
    its pipeline files (`_named`)."""
    git = project.git
    changes = git.start_worktree_changes([project.prefix or "."])
    listing = git.start_ls_index_records(project.prefix)
    # All at once: these are cheap beside status, and `run` and `dag` pay for them.
    staged = git.start_index_vs_commit(head, project.prefix) if head else None
    trees = git.start_ls_trees(head, _paths(project.prefix)) if head else None
    index = IndexListing(listing.result())
    named = _index_named(index)
    tree = FileTree(project, index, worktree=True)
    if staged is not None and trees is not None:
        tree.follow(CommitTrees(trees.result()), (path for _, _, _, path in staged.result()))
    modified, deleted = changes.result()
    _patch(tree, modified, deleted)
    return tree, _without(named, set(deleted))


def _patch(tree: FileTree, modified: list[str], deleted: list[str]) -> None:
    """The working tree's files: the index's, less `deleted`, `modified` hashed again (with
    the mode that `git add` would record)."""
    tree.forget(deleted)
    tree.changed(modified)
    entries, root = tree.entries, tree.project.git.root
    for path, oid in tree.project.git.hash_worktree_files(modified).items():
        index_mode = entries.modes([path])[0] if path in entries else REGULAR
        entries.set(path, oid, worktree_mode(index_mode, os.lstat(root / path).st_mode))


def _parse(
    project: Project,
    tree: FileTree,
    label: str,
    documents: dict[tuple[str, str], Any],
    found: dict[str, list[str]],
) -> tuple[Pipeline, IgnoreRules]:
    # A directory below the root with its own `.dvc/` is a nested DVC project: a repository of
    # its own to DVC, planned with `-C` pointing at it, never part of this pipeline.
    nested = tuple(
        posixpath.dirname(posixpath.dirname(project.from_repo(p))) + "/"
        for p in found["config"]
        if posixpath.basename(posixpath.dirname(p)) == ".dvc"
        and posixpath.dirname(posixpath.dirname(project.from_repo(p)))
    )
    own = {
        name: [p for p in paths if not project.from_repo(p).startswith(nested)]
        for name, paths in found.items()
    }
    ignore = IgnoreRules(
        (project.from_repo(p), tree.read(project.from_repo(p)) or "") for p in own[".dvcignore"]
    )
    files = [
        project.from_repo(p)
        for p in own[PIPELINE_FILE]
        if not ignore.is_ignored(project.from_repo(p))
    ]
    # A new dvc.yaml at the root counts before `git add`; one further down, once git tracks
    # it. Walking the whole tree for untracked files costs more than the rest of a plan.
    if tree.worktree and PIPELINE_FILE not in files and (project.root / PIPELINE_FILE).is_file():
        files.append(PIPELINE_FILE)
    if not files:
        if tree.read(CONFIG_FILE) is None:
            return Pipeline(stages=()), ignore
        files = [CONFIG_FILE]
    try:
        return parse_pipeline(tree.read, sorted(files), documents=documents), ignore
    except PipelineError as e:
        if label == WORKTREE:
            raise
        raise PipelineError(f"at {label}: {e}") from e


def _index_named(listing: IndexListing) -> dict[str, list[str]]:
    """The index's paths whose file name is one of `_NAMES`, by name (a conflict's once)."""
    return {name: list(dict.fromkeys(listing.named(name))) for name in _NAMES}


def _paths(prefix: str) -> list[str]:
    return [prefix] if prefix else []


def _without(named: dict[str, list[str]], paths: set[str]) -> dict[str, list[str]]:
    return {name: [p for p in found if p not in paths] for name, found in named.items()}


def _joined(paths: Iterable[str]) -> str:
    """All paths, each between NULs: searched with `str.find`, no Python work per path."""
    return "\0" + "\0".join(paths) + "\0"


def _named(joined: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    """The paths (`_joined`) whose file name is one of `names`, by name."""
    found: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        needle = name + "\0"
        end = joined.find(needle, 1)
        while end >= 0:
            if joined[end - 1] in "/\0":  # the whole file name, not the end of a longer one
                found[name].append(joined[joined.rfind("\0", 0, end) + 1 : end + len(name)])
            end = joined.find(needle, end + len(needle))
    return found
