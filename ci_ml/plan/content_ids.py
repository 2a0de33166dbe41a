"""Content ids of a side's deps: a file in git is its blob id (read from the index or tree:
never re-hashed); a directory whose files are exactly what git tracks there is its git tree id
(listed by git, or computed where the side changed it), any other combines its files' ids; data
tracked by a `.dvc` pointer is the hash the pointer records; anything else on disk is hashed
once and remembered by stat signature (state.py).
"""

from __future__ import annotations

import logging
import os
import posixpath
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.pipeline import Graph, IgnoreRules, Pipeline
from ci_ml.plan.entries import sorted_under
from ci_ml.plan.git_tree import tree_id
from ci_ml.plan.keys import combine_git_ids, combine_ids, file_digest
from ci_ml.plan.project import FileTree, Project
from ci_ml.state import STATE_DIR, DigestCache
from ci_ml.yaml_load import load_yaml_text

log = logging.getLogger("ci_ml")

MISSING = "missing"


def dep_content_ids(
    project: Project,
    tree: FileTree,
    pipeline: Pipeline,
    graph: Graph,
    *,
    ignore: IgnoreRules | None = None,
    memo: dict[Any, Any] | None = None,
    untracked: tuple[list[str], list[str]] | None = None,
) -> dict[str, str]:
    """Content ids of deps that no stage produces (and of dirs that hold outputs and more).
    Files that `.dvcignore` (`ignore`) ignores do not count in a directory, as in DVC.
    `memo` holds work that the two sides of one plan share: parsed lock files, and directory
    ids by their listing. `untracked`: the working tree's `untracked_dirs` and the untracked
    files in them, when listed already."""
    out_paths = {out for stage in pipeline.stages for out in stage.out_paths}
    resolver = _DepResolver(project, tree, out_paths, ignore or IgnoreRules(()))
    if memo is not None:
        resolver.memo = memo
    # What dvc.lock records is needed only for a dep that neither git nor the disk has, so
    # the lock (thousands of lines in a big pipeline) is read on the first such dep.
    locked: dict[str, str] | None = None
    if tree.worktree:
        dirs, listed = untracked or list_untracked(project, tree, all_deps(pipeline))
        resolver.add_untracked(dirs, listed)
    ids: dict[str, str] = {}
    for stage in pipeline.stages:
        for dep in stage.deps:
            if dep in ids:
                continue
            if dep in graph.producers and is_within_outputs(dep, out_paths):
                continue
            content = resolver.content_id(dep)
            if content is None:
                if locked is None:
                    locked = _locked_deps(tree, pipeline, resolver.memo)
                content = locked.get(dep)
            if content is None:
                if dep in graph.producers:
                    continue
                # Data fetched or tracked elsewhere (a fresh clone has none of it): only the
                # stages reading it are marked (the planner's "unknown input"), as DVC
                # reports such a dep per stage instead of failing the whole pipeline.
                content = MISSING
            ids[dep] = content
    return ids


def all_deps(pipeline: Pipeline) -> set[str]:
    return {dep for stage in pipeline.stages for dep in stage.deps}


def untracked_dirs(project: Project, tree: FileTree, deps: Iterable[str]) -> list[str]:
    """The deps (repo paths) that are tracked directories: their untracked, not ignored files
    count too."""
    return sorted(
        {
            project.to_repo(dep)
            for dep in deps
            if project.to_repo(dep) not in tree.entries and tree.has_under(project.to_repo(dep))
        }
    )


def list_untracked(
    project: Project, tree: FileTree, deps: Iterable[str]
) -> tuple[list[str], list[str]]:
    """`untracked_dirs` and the untracked, not ignored files in them, with one git call."""
    dirs = untracked_dirs(project, tree, deps)
    return dirs, project.git.untracked(dirs)


def is_within_outputs(dep: str, out_paths: set[str]) -> bool:
    path = dep
    while path and path not in (".", ".."):
        if path in out_paths:
            return True
        path = posixpath.dirname(path)
    return False


class _DepResolver:
    """Finds the content id of one dep path on one side."""

    def __init__(
        self, project: Project, tree: FileTree, out_paths: set[str], ignore: IgnoreRules
    ) -> None:
        self.project = project
        self.tree = tree
        self.out_paths = out_paths
        self._sorted_outs = sorted(out_paths)  # to find the outputs under a directory
        self.ignore = ignore
        self.digests = DigestCache(project.root)
        self._untracked: dict[str, list[str]] = {}
        self.memo: dict[Any, Any] = {}

    def add_untracked(self, dir_list: list[str], paths: list[str]) -> None:
        """The untracked files `paths` in the directory deps `dir_list` (`list_untracked`)."""
        dirs = set(dir_list)
        for path in paths:
            for parent in _parents(path):
                if parent in self._untracked or parent in dirs:
                    self._untracked.setdefault(parent, []).append(path)

    def content_id(self, dep: str) -> str | None:
        repo_path = self.project.to_repo(dep)
        entry = self.tree.entries.get(repo_path)
        if entry is not None:
            return "git:" + entry
        may_exclude = self._may_exclude(dep)
        extra = self._extra(repo_path)
        known = None if extra else self.tree.tree_id(repo_path)
        if known is not None and not may_exclude:
            return "tree:" + known  # git's own id, from one look-up: no file listed one by one
        tracked = self.tree.under(repo_path)
        inside = [p for p in tracked if not self._is_excluded(p)] if may_exclude else tracked
        if inside and not extra and len(inside) == len(tracked):
            return "tree:" + (known or self._computed_tree_id(repo_path, inside))
        if inside:
            return self._git_dir_id(dep, repo_path, inside, extra)
        pointer = self._pointer_id(dep)
        if pointer is not None:
            return pointer
        return self._disk_id(dep)

    def _may_exclude(self, dep: str) -> bool:
        """Whether an output or a .dvcignore rule can touch files under `dep`: when neither
        can, its files need no check one by one."""
        if self.ignore:
            return True
        return is_within_outputs(dep, self.out_paths) or bool(sorted_under(self._sorted_outs, dep))

    def _is_excluded(self, repo_path: str) -> bool:
        """An output, or ignored by .dvcignore: either way not part of a directory dep."""
        path = self.project.from_repo(repo_path)
        return is_within_outputs(path, self.out_paths) or (
            bool(self.ignore) and self.ignore.is_ignored(path)
        )

    def _extra(self, repo_dir: str) -> list[str]:
        """The untracked, not ignored files in the directory `repo_dir` that count in it: they
        are what the stage would read."""
        extra = self._untracked.get(repo_dir, []) if self.tree.worktree else []
        return [p for p in extra if not self._is_excluded(p)]

    def _computed_tree_id(self, repo_dir: str, paths: list[str]) -> str:
        """The tree id of the directory `repo_dir` whose files are `paths` (repo-relative, all
        it holds), as committing this side would record it."""
        entries = self.tree.entries
        cut = len(repo_dir) + 1
        names = [path[cut:] for path in paths]
        return tree_id(zip(names, entries.modes(paths), entries.ids(paths), strict=True))

    def _git_dir_id(self, dep: str, repo_dir: str, paths: list[str], extra: list[str]) -> str:
        """The id of a directory holding more (`extra`, untracked) or fewer (excluded) files
        than git tracks there: its files' relative paths and ids combined."""
        entries = self.tree.entries
        cut = len(repo_dir) + 1
        if not extra:
            # Base and head usually list the same files under a directory: combined once.
            oids = entries.ids(paths)
            memo_key = (repo_dir, tuple(paths), tuple(oids))
            found = self.memo.get(memo_key)
            if found is None:
                names = [path[cut:] for path in paths]
                found = self.memo[memo_key] = combine_git_ids(names, oids)
            return found
        files = {p[cut:]: "git:" + oid for p, oid in zip(paths, entries.ids(paths), strict=True)}
        for path, digest in self._hash(
            [self.project.root / self.project.from_repo(p) for p in extra]
        ):
            files[posixpath.relpath(path.relative_to(self.project.root).as_posix(), dep)] = digest
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
            if not self._is_excluded(
                self.project.to_repo(f.relative_to(self.project.root).as_posix())
            )
        ]
        return combine_ids({f.relative_to(target).as_posix(): d for f, d in self._hash(files)})

    def _hash(self, paths: Iterable[Path]) -> list[tuple[Path, str]]:
        """Content ids of files on disk. A symlink is identified by where it points, never
        followed (a link to /dev/zero would be read forever); a FIFO, socket or device is
        skipped (reading a FIFO blocks until someone writes)."""
        regular, links = [], []
        for path in paths:
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                regular.append(path)
            elif stat.S_ISLNK(mode):
                links.append((path, "link:" + str(path.readlink())))
            else:
                log.warning("%s is not a regular file or a link: not part of the dep", path)
        return sorted([*self.digests.digests(regular, _digest).items(), *links])


def _walk_files(top: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in (".git", STATE_DIR)]
        files.extend(Path(dirpath) / name for name in filenames)
    return files


def _digest(path: Path, pool: Any) -> str:
    return file_digest(path, pool=pool)


def _locked_deps(tree: FileTree, pipeline: Pipeline, memo: dict[Any, Any]) -> dict[str, str]:
    """The hashes that dvc.lock files (beside each dvc.yaml) record for stages' deps, by
    project-relative path; a lock names deps relative to the stage's wdir."""
    found: dict[str, str] = {}
    docs: dict[str, Any] = {}
    for stage in pipeline.stages:
        lock = posixpath.join(posixpath.dirname(stage.source), "dvc.lock")
        if lock not in docs:
            text = tree.read(lock)
            if ("lock", lock, text) not in memo:
                memo["lock", lock, text] = _load_lock(lock, text)
            docs[lock] = memo["lock", lock, text]
        entry = docs[lock].get(stage.name.rpartition(":")[2])
        for dep in entry.get("deps", []) if isinstance(entry, dict) else []:
            digest = _recorded_hash(dep) if isinstance(dep, dict) else None
            if digest is not None and isinstance(dep.get("path"), str):
                path = posixpath.normpath(posixpath.join(stage.wdir, dep["path"]))
                found.setdefault(path, f"dvc:{digest}")
    return found


def _load_lock(path: str, text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        doc = load_yaml_text(path, text)
    except PipelineError as e:
        raise PipelineError(f"{e} Regenerate it with `dvc commit`.") from e
    stages = doc.get("stages") if isinstance(doc, dict) else None
    return stages if isinstance(stages, dict) else {}


def _recorded_hash(out: dict[str, Any]) -> str | None:
    for field in ("md5", "sha256", "etag", "checksum"):
        if out.get(field):
            return f"{field}:{out[field]}"
    return None


def _pointer_hash(path: str, text: str) -> str:
    try:
        out = load_yaml_text(path, text)["outs"][0]
    except (PipelineError, KeyError, IndexError, TypeError) as e:
        raise PipelineError(
            f"{path}: not a valid DVC pointer file (expected `outs: [{{md5: ..., path: ...}}]`). "
            "Regenerate it with `dvc add`."
        ) from e
    digest = _recorded_hash(out)
    if digest is None:
        raise PipelineError(f"{path}: the pointer records no hash; regenerate it with `dvc add`.")
    return digest


def _parents(path: str) -> Iterator[str]:
    parent = posixpath.dirname(path)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)
