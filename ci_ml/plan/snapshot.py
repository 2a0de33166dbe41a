"""Read one side of a comparison: the pipeline and its deps' content ids, at a commit (from
git objects, no checkout) or in the working tree (content ids: content_ids.py).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ci_ml.config import CONFIG_FILE, Settings, apply_settings
from ci_ml.errors import PipelineError
from ci_ml.git import require_commit
from ci_ml.pipeline import IgnoreRules, Pipeline, build_graph, parse_pipeline
from ci_ml.plan.content_ids import dep_content_ids
from ci_ml.plan.planner import Side
from ci_ml.plan.project import PIPELINE_FILE, FileTree, Project

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
        with ThreadPoolExecutor(1) as pool:
            changes = pool.submit(git.worktree_changes, project.prefix)
            index = git.ls_index(project.prefix)
            tree = _worktree_tree(project, index, changes.result())
        return _side(project, tree, git.head_sha(), WORKTREE, settings=settings)
    sha = require_commit(git, ref, what="--head" if label is None else "commit")
    tree = FileTree(project, git.ls_tree(sha, project.prefix), worktree=False)
    return _side(project, tree, sha, label or ref, settings=settings)


@dataclass(frozen=True)
class WorktreeReads:
    """The working tree's two whole-index git calls, started before the base is resolved:
    `git status` (a tenth of a second at 100,000 files) and the index listing."""

    changes: Future[tuple[list[str], list[str]]]
    index: Future[dict[str, str]]


def start_worktree_reads(project: Project) -> WorktreeReads:
    """Start `WorktreeReads` now, each in a thread of its own (they need neither the settings
    nor the base)."""
    pool = ThreadPoolExecutor(2)
    reads = WorktreeReads(
        changes=pool.submit(project.git.worktree_changes, project.prefix),
        index=pool.submit(project.git.ls_index, project.prefix),
    )
    pool.shutdown(wait=False)  # its threads end with the calls
    return reads


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
    by hash and skips whole unchanged directories), instead of a second listing of every file."""
    git = project.git
    with ThreadPoolExecutor(2) as pool:
        if reads is None:  # else started by the caller (start_worktree_reads)
            reads = WorktreeReads(
                changes=pool.submit(git.worktree_changes, project.prefix),
                index=pool.submit(git.ls_index, project.prefix),
            )
        changes = reads.changes
        base_diff = pool.submit(git.index_vs_commit, base_sha, project.prefix)
        head_sha = pool.submit(git.head_sha)  # after diff-index, while the index is split
        index = reads.index.result()
        # Both sides' pipeline files from one search of the index, patched like the entries.
        named = _named(index, _NAMES)
        worktree_changes = changes.result()
        head_tree = _worktree_tree(project, dict(index), worktree_changes)
        head_named = _without(named, set(worktree_changes[1]))  # less the deleted files
        added: list[str] = []
        removed: set[str] = set()
        for status, oid, path in base_diff.result():
            if status == "A":
                index.pop(path, None)
                removed.add(path)
            else:
                if path not in index:
                    added.append(path)
                index[path] = oid
        base_named = _without(named, removed)
        for name, paths in _named(added, _NAMES).items():
            base_named[name] += paths
    documents: dict[tuple[str, str], Any] = {}  # a dvc.yaml unchanged by the PR is read once
    memo: dict[Any, Any] = {}  # and so are a dvc.lock and a directory's files
    head = _side(
        project,
        head_tree,
        head_sha.result(),
        WORKTREE,
        settings=settings,
        documents=documents,
        memo=memo,
        named=head_named,
    )
    base_tree = FileTree(project, index, worktree=False)
    base = _side(
        project,
        base_tree,
        base_sha,
        base_label,
        settings=None,
        documents=documents,
        memo=memo,
        named=base_named,
    )
    return head, base


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
        named = _named(tree.entries, _NAMES)
    pipeline, ignore = _parse(project, tree, label, {} if documents is None else documents, named)
    if settings is not None:
        pipeline = apply_settings(pipeline, settings)
    graph = build_graph(pipeline)
    dep_ids = dep_content_ids(project, tree, pipeline, graph, ignore=ignore, memo=memo)
    return Side(ref=label, sha=sha, pipeline=pipeline, dep_ids=dep_ids, graph=graph)


def _worktree_tree(
    project: Project, entries: dict[str, str], changes: tuple[list[str], list[str]]
) -> FileTree:
    modified, deleted = changes
    for path in deleted:
        entries.pop(path, None)
    entries.update(project.git.hash_worktree_files(modified))
    return FileTree(project, entries, worktree=True)


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


def _without(named: dict[str, list[str]], paths: set[str]) -> dict[str, list[str]]:
    return {name: [p for p in found if p not in paths] for name, found in named.items()}


def _named(paths: Iterable[str], names: tuple[str, ...]) -> dict[str, list[str]]:
    """The paths whose file name is one of `names`, by name. One regex search over all paths
    joined by NUL finds the few candidates: no Python work per path."""
    found: dict[str, list[str]] = {name: [] for name in names}
    blob = "\0" + "\0".join(paths) + "\0"
    pattern = re.compile("(?:" + "|".join(re.escape(name) for name in names) + ")(?=\0)")
    for match in pattern.finditer(blob):
        start = match.start()
        if blob[start - 1] in "/\0":  # the whole file name, not the end of a longer one
            found[match.group()].append(blob[blob.rfind("\0", 0, start) + 1 : match.end()])
    return found
