"""Read one side of a comparison: the pipeline and its deps' content ids, at a commit (from
git objects, no checkout) or in the working tree.

Content ids: a file in git is its blob id (read from the index or tree: never re-hashed); a
directory combines its files' ids; data tracked by a `.dvc` pointer is the hash the pointer
records; anything else on disk is hashed once and remembered by stat signature (state.py).
"""

from __future__ import annotations

import bisect
import logging
import os
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ci_ml.config import CONFIG_FILE, OPTIONS, Settings, apply_settings, resolve
from ci_ml.dvcignore import IgnoreRules
from ci_ml.errors import ConfigError, PipelineError, UserError
from ci_ml.fingerprint import combine_ids, file_digest
from ci_ml.git import Git, require_commit
from ci_ml.pipeline.graph import Graph, build_graph
from ci_ml.pipeline.model import Pipeline
from ci_ml.pipeline.parse import parse_pipeline
from ci_ml.plan import Side
from ci_ml.state import STATE_DIR, DigestCache

log = logging.getLogger("ci_ml")

PIPELINE_FILE = "dvc.yaml"
WORKTREE = "working tree"


@dataclass(frozen=True, slots=True)
class Project:
    """The pipeline's root directory inside a git repository."""

    root: Path
    git: Git
    prefix: str  # the root, relative to the repository's top level ('' when they match)

    @classmethod
    def find(cls, start: Path) -> Project:
        """The nearest directory at or above `start` with ci-ml.yaml or `.dvc/`, else the
        nearest with a dvc.yaml; the search stops at the repository's top level."""
        git = Git.discover(start)
        top = git.root.resolve()
        candidates = [start.resolve(), *start.resolve().parents]
        candidates = candidates[: candidates.index(top) + 1] if top in candidates else [top]
        root = next(
            (d for d in candidates if (d / CONFIG_FILE).is_file() or (d / ".dvc").is_dir()), None
        )
        root = root or next((d for d in candidates if (d / PIPELINE_FILE).is_file()), None)
        if root is None:
            raise UserError(
                f"no pipeline found in {start} or above: add a dvc.yaml (DVC stage syntax) or a "
                f"{CONFIG_FILE} with `stages:`, or run `ci-ml init`."
            )
        prefix = root.relative_to(top).as_posix()
        return cls(root=root, git=git, prefix="" if prefix == "." else prefix)

    def to_repo(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.prefix, path)) if self.prefix else path

    def from_repo(self, path: str) -> str:
        return posixpath.relpath(path, self.prefix) if self.prefix else path


class _Tree:
    """The files of one side: git entries (repo-relative) plus how to read them."""

    def __init__(self, project: Project, entries: dict[str, str], worktree: bool) -> None:
        self.project = project
        self.entries = entries
        self.sorted_paths = sorted(entries)
        self.worktree = worktree
        self._blobs: dict[str, bytes] = {}

    def read(self, path: str) -> str | None:
        """Text of a project-relative file on this side, or None when it does not exist."""
        if self.worktree:
            file = self.project.root / path
            return file.read_text(encoding="utf-8") if file.is_file() else None
        entry = self.entries.get(self.project.to_repo(path))
        if entry is None:
            return None
        if entry not in self._blobs:
            self._blobs.update(self.project.git.read_blobs([entry]))
        return self._blobs[entry].decode("utf-8")

    def under(self, repo_dir: str) -> list[str]:
        prefix = repo_dir + "/"
        i = bisect.bisect_left(self.sorted_paths, prefix)
        j = bisect.bisect_left(self.sorted_paths, prefix + "\U0010ffff")
        return self.sorted_paths[i:j]


def open_project(args: Any, env: Mapping[str, str]) -> Project:
    """The project of `-C/--pipeline`, else CI_ML_PIPELINE, else the current directory."""
    path = getattr(args, "pipeline", None) or env.get("CI_ML_PIPELINE")
    start = Path(path) if path else Path.cwd()
    if not start.is_dir():
        raise UserError(f"pipeline directory {start} does not exist; fix -C/--pipeline.")
    return Project.find(start)


def load_settings(project: Project, env: Mapping[str, str], args: Any) -> Settings:
    """Settings from the working tree's ci-ml.yaml (if any), the environment and flags
    (`args`: the parsed argparse namespace, whose option attributes are None when unset)."""
    flags = {option.attr: getattr(args, option.attr, None) for option in OPTIONS}
    path = project.root / CONFIG_FILE
    doc: Any = None
    if path.is_file():
        doc = load_yaml(path.read_text(encoding="utf-8"), CONFIG_FILE)
        if doc is not None and not isinstance(doc, Mapping):
            raise ConfigError(f"{CONFIG_FILE}: expected a mapping of settings at the top level.")
    return resolve(doc, env, flags)


def load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: malformed YAML: {problem}. Fix the syntax and retry.") from e


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
    sha = require_commit(git, ref, what="commit")
    tree = _Tree(project, git.ls_tree(sha, project.prefix), worktree=False)
    return _side(project, tree, sha, label or ref, settings=settings)


def read_worktree_and_base(
    project: Project, base_sha: str, *, base_label: str, settings: Settings
) -> tuple[Side, Side]:
    """The working tree and a base commit, from one listing of the index: the base's files are
    the index's, patched with what `git diff-index` says differs (cheap: git compares trees
    by hash and skips whole unchanged directories), instead of a second listing of every file."""
    git = project.git
    with ThreadPoolExecutor(2) as pool:
        changes = pool.submit(git.worktree_changes, project.prefix)
        base_diff = pool.submit(git.index_vs_commit, base_sha, project.prefix)
        index = git.ls_index(project.prefix)
        head_tree = _worktree_tree(project, dict(index), changes.result())
        for status, oid, path in base_diff.result():
            if status == "A":
                index.pop(path, None)
            else:
                index[path] = oid
    documents: dict[tuple[str, str], Any] = {}  # a dvc.yaml unchanged by the PR is read once
    head = _side(
        project, head_tree, git.head_sha(), WORKTREE, settings=settings, documents=documents
    )
    base_tree = _Tree(project, index, worktree=False)
    base = _side(project, base_tree, base_sha, base_label, settings=None, documents=documents)
    return head, base


def _side(
    project: Project,
    tree: _Tree,
    sha: str | None,
    label: str,
    *,
    settings: Settings | None,
    documents: dict[tuple[str, str], Any] | None = None,
) -> Side:
    pipeline = _parse(project, tree, label, {} if documents is None else documents)
    if settings is not None:
        pipeline = apply_settings(pipeline, settings)
    graph = build_graph(pipeline)
    dep_ids = _dep_ids(project, tree, pipeline, graph, strict=tree.worktree)
    return Side(ref=label, sha=sha, pipeline=pipeline, dep_ids=dep_ids, graph=graph)


def _worktree_tree(
    project: Project, entries: dict[str, str], changes: tuple[list[str], list[str]]
) -> _Tree:
    modified, deleted = changes
    for path in deleted:
        entries.pop(path, None)
    entries.update(project.git.hash_worktree_files(modified))
    return _Tree(project, entries, worktree=True)


def _parse(
    project: Project, tree: _Tree, label: str, documents: dict[tuple[str, str], Any]
) -> Pipeline:
    found = _named(tree.entries, (PIPELINE_FILE, ".dvcignore"))
    ignore = IgnoreRules(
        (project.from_repo(p), tree.read(project.from_repo(p)) or "") for p in found[".dvcignore"]
    )
    files = [
        project.from_repo(p)
        for p in found[PIPELINE_FILE]
        if not ignore.is_ignored(project.from_repo(p))
    ]
    # A new dvc.yaml at the root counts before `git add`; one further down, once git tracks
    # it. Walking the whole tree for untracked files costs more than the rest of a plan.
    if tree.worktree and PIPELINE_FILE not in files and (project.root / PIPELINE_FILE).is_file():
        files.append(PIPELINE_FILE)
    if not files:
        if tree.read(CONFIG_FILE) is None:
            return Pipeline(stages=())
        files = [CONFIG_FILE]
    try:
        return parse_pipeline(tree.read, sorted(files), documents=documents)
    except PipelineError as e:
        if label == WORKTREE:
            raise
        raise PipelineError(f"at {label}: {e}") from e


def _parents(path: str) -> Iterator[str]:
    parent = posixpath.dirname(path)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)


def _named(paths: Iterable[str], names: tuple[str, ...]) -> dict[str, list[str]]:
    """The paths whose file name is one of `names`, by name (one pass over the listing)."""
    suffixes = tuple("/" + name for name in names)
    found: dict[str, list[str]] = {name: [] for name in names}
    for path in paths:
        if path.endswith(suffixes) or path in found:
            found[posixpath.basename(path)].append(path)
    return found


def _dep_ids(
    project: Project, tree: _Tree, pipeline: Pipeline, graph: Graph, *, strict: bool
) -> dict[str, str]:
    """Content ids of deps that no stage produces (and of dirs that hold outputs and more)."""
    out_paths = {out for stage in pipeline.stages for out in stage.out_paths}
    resolver = _DepResolver(project, tree, out_paths)
    if tree.worktree:
        resolver.list_untracked({dep for stage in pipeline.stages for dep in stage.deps})
    ids: dict[str, str] = {}
    for stage in pipeline.stages:
        for dep in stage.deps:
            if dep in ids:
                continue
            if dep in graph.producers and _is_within_outputs(dep, out_paths):
                continue
            content = resolver.content_id(dep)
            if content is None:
                if dep in graph.producers:
                    continue
                if strict:
                    raise PipelineError(
                        f"{stage.source}: stage {stage.name!r} depends on {dep!r}, which does "
                        "not exist and which no stage produces. Create it, track it with git "
                        "or DVC, or fix the stage's deps."
                    )
                content = "missing"
            ids[dep] = content
    return ids


def _is_within_outputs(dep: str, out_paths: set[str]) -> bool:
    path = dep
    while path and path not in (".", ".."):
        if path in out_paths:
            return True
        path = posixpath.dirname(path)
    return False


class _DepResolver:
    """Finds the content id of one dep path on one side."""

    def __init__(self, project: Project, tree: _Tree, out_paths: set[str]) -> None:
        self.project = project
        self.tree = tree
        self.out_paths = out_paths
        self.digests = DigestCache(project.root)
        self._untracked: dict[str, list[str]] = {}

    def list_untracked(self, deps: set[str]) -> None:
        """Untracked, not ignored files in tracked directory deps, with one git call."""
        dirs = {
            self.project.to_repo(dep)
            for dep in deps
            if self.project.to_repo(dep) not in self.tree.entries
            and self.tree.under(self.project.to_repo(dep))
        }
        if not dirs:
            return
        for path in self.project.git.untracked(sorted(dirs)):
            for parent in _parents(path):
                if parent in self._untracked or parent in dirs:
                    self._untracked.setdefault(parent, []).append(path)

    def content_id(self, dep: str) -> str | None:
        repo_path = self.project.to_repo(dep)
        entry = self.tree.entries.get(repo_path)
        if entry is not None:
            return "git:" + entry
        inside = [p for p in self.tree.under(repo_path) if not self._is_output(p)]
        if inside:
            return self._git_dir_id(dep, repo_path, inside)
        pointer = self._pointer_id(dep)
        if pointer is not None:
            return pointer
        return self._disk_id(dep)

    def _is_output(self, repo_path: str) -> bool:
        return _is_within_outputs(self.project.from_repo(repo_path), self.out_paths)

    def _git_dir_id(self, dep: str, repo_dir: str, paths: list[str]) -> str:
        files = {posixpath.relpath(p, repo_dir): "git:" + self.tree.entries[p] for p in paths}
        if self.tree.worktree:
            # Untracked, not ignored files count too: they are what the stage would read.
            extra = [p for p in self._untracked.get(repo_dir, []) if not self._is_output(p)]
            for path, digest in self._hash(
                [self.project.root / self.project.from_repo(p) for p in extra]
            ):
                files[posixpath.relpath(path.relative_to(self.project.root).as_posix(), dep)] = (
                    digest
                )
        return combine_ids(files)

    def _pointer_id(self, dep: str) -> str | None:
        # DVC-tracked data: `data/raw.dvc` records the hash of `data/raw`; a file inside a
        # tracked directory is identified by the directory's hash and its own path.
        path = dep
        while path and path not in (".", ".."):
            text = self.tree.read(path + ".dvc")
            if text is not None:
                digest = _pointer_hash(path + ".dvc", text)
                return f"dvc:{digest}" + ("" if path == dep else f":{posixpath.relpath(dep, path)}")
            path = posixpath.dirname(path)
        return None

    def _disk_id(self, dep: str) -> str | None:
        target = self.project.root / dep
        if target.is_file():
            return dict(self._hash([target]))[target]
        if not target.is_dir():
            return None
        files = [
            f
            for f in _walk_files(target)
            if not self._is_output(
                self.project.to_repo(f.relative_to(self.project.root).as_posix())
            )
        ]
        return combine_ids({f.relative_to(target).as_posix(): d for f, d in self._hash(files)})

    def _hash(self, paths: Iterable[Path]) -> list[tuple[Path, str]]:
        return sorted(self.digests.digests(paths, _digest).items())


def _walk_files(top: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in (".git", STATE_DIR)]
        files.extend(Path(dirpath) / name for name in filenames)
    return files


def _digest(path: Path, pool: Any) -> str:
    return file_digest(path, pool=pool)


def _pointer_hash(path: str, text: str) -> str:
    try:
        doc = yaml.safe_load(text)
        out = doc["outs"][0]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as e:
        raise PipelineError(
            f"{path}: not a valid DVC pointer file (expected `outs: [{{md5: ..., path: ...}}]`). "
            "Regenerate it with `dvc add`."
        ) from e
    for field in ("md5", "sha256", "etag", "checksum"):
        if out.get(field):
            return f"{field}:{out[field]}"
    raise PipelineError(f"{path}: the pointer records no hash; regenerate it with `dvc add`.")
