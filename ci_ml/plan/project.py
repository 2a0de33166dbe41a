"""The project: the pipeline's root inside a git repository, its settings, and the files of
one side (a commit's tree or the working tree)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_ml.config import CONFIG_FILE, OPTIONS, Settings, resolve
from ci_ml.errors import ConfigError, UserError
from ci_ml.git import Git
from ci_ml.plan.entries import Entries
from ci_ml.plan.git_tree import CommitTrees
from ci_ml.project_root import find_root, repo_prefix
from ci_ml.state import STATE_DIR
from ci_ml.workspace_files import read_text
from ci_ml.yaml_guard import safe_load


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
        root = find_root(str(start), str(git.root))
        if root is None:
            raise UserError(
                f"no pipeline found in {start} or above: add a dvc.yaml (DVC stage syntax) or a "
                f"{CONFIG_FILE} with `stages:`, or run `ci-ml init`."
            )
        return cls(root=Path(root), git=git, prefix=repo_prefix(root, str(git.root)))

    def to_repo(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.prefix, path)) if self.prefix else path

    def from_repo(self, path: str) -> str:
        return posixpath.relpath(path, self.prefix) if self.prefix else path


class FileTree:
    """The files of one side: git entries (repo-relative) plus how to read them."""

    def __init__(
        self,
        project: Project,
        entries: Mapping[str, str],
        worktree: bool,
        *,
        trees: CommitTrees | None = None,
    ) -> None:
        self.project = project
        self.entries = entries if isinstance(entries, Entries) else Entries(entries)
        self.worktree = worktree
        # The tree ids of a commit whose files these are, but for the directories above a
        # path in `changed` (set by `changed`).
        self.trees = trees
        self._changed_dirs: set[str] = set()
        self._blobs: dict[str, bytes] = {}

    def follow(self, trees: CommitTrees, diff: Iterable[str]) -> None:
        """These files are the commit that `trees` lists, but for the paths in `diff`."""
        self.trees = trees
        self.changed(diff)

    def changed(self, paths: Iterable[str]) -> None:
        """`paths` (repo-relative) differ from the commit `trees` lists: the directories above
        them are no longer that commit's."""
        dirs = self._changed_dirs
        for path in paths:
            parent = posixpath.dirname(path)
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = posixpath.dirname(parent)

    def tree_id(self, repo_dir: str) -> str | None:
        """The git tree id of `repo_dir` when known without computing it: listed for the
        commit and not changed since."""
        if self.trees is None or repo_dir in self._changed_dirs:
            return None
        return self.trees.get(repo_dir)

    def read(self, path: str) -> str | None:
        """Text of a project-relative file on this side, or None when it does not exist."""
        if self.worktree:
            file = self.project.root / path
            return read_text(file, follow_symlinks=True) if file.is_file() else None
        entry = self.entries.get(self.project.to_repo(path))
        if entry is None:
            return None
        if entry not in self._blobs:
            self._blobs.update(self.project.git.read_blobs([entry]))
        try:
            return self._blobs[entry].decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(
                f"{path} (git blob {entry[:12]}) is not UTF-8 text; ci-ml reads pipeline, "
                "params and pointer files as UTF-8. Re-save it as UTF-8."
            ) from e

    def forget(self, paths: list[str]) -> None:
        """Drop `paths` from the entries (files deleted from the working tree)."""
        self.changed(paths)
        for path in paths:
            self.entries.remove(path)

    def under(self, repo_dir: str) -> list[str]:
        return self.entries.under(repo_dir)

    def has_under(self, repo_dir: str) -> bool:
        return self.entries.has_under(repo_dir)


def open_project(args: Any, env: Mapping[str, str], *, check_state: bool = True) -> Project:
    """The project of `-C/--pipeline`, else CI_ML_PIPELINE, else the current directory.
    Without `check_state`, the caller checks `refuse_tracked_state` itself (from a listing of
    the index it makes anyway)."""
    path = getattr(args, "pipeline", None) or env.get("CI_ML_PIPELINE")
    start = Path(path) if path else Path.cwd()
    if not start.is_dir():
        raise UserError(f"pipeline directory {start} does not exist; fix -C/--pipeline.")
    project = Project.find(start)
    if check_state:
        state = project.to_repo(STATE_DIR)
        tracked = project.git.run("ls-files", "-z", "--", state).split(b"\0")
        refuse_tracked_state(project, [p.decode("utf-8", "replace") for p in tracked if p])
    return project


def refuse_tracked_state(project: Project, tracked: list[str]) -> None:
    """ci-ml's local cache, pending uploads and digests live in `.ci-ml/`: committed there,
    they would be read as this machine's own (a planted trusted cache entry, a pending manifest
    uploaded under a key nobody computed). `tracked`: the files git tracks there."""
    if tracked:
        state = project.to_repo(STATE_DIR)
        example = tracked[0].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise UserError(
            f"{state}/ is tracked by git ({len(tracked)} file(s), e.g. {example}). ci-ml keeps "
            "its local cache and state there, and never reads them from a commit. Remove it "
            f"from git with `git rm -r --cached {state}` and commit."
        )


def load_settings(project: Project, env: Mapping[str, str], args: Any) -> Settings:
    """Settings from the working tree's ci-ml.yaml (if any), the environment and flags
    (`args`: the parsed argparse namespace, whose option attributes are None when unset)."""
    flags = {option.attr: getattr(args, option.attr, None) for option in OPTIONS}
    path = project.root / CONFIG_FILE
    doc: Any = None
    if path.is_file():
        doc = load_yaml(read_text(path, follow_symlinks=True), CONFIG_FILE)
        if doc is not None and not isinstance(doc, Mapping):
            raise ConfigError(f"{CONFIG_FILE}: expected a mapping of settings at the top level.")
    return resolve(doc, env, flags)


def load_yaml(text: str, source: str) -> Any:
    import yaml  # here, not at the top: a plan without ci-ml.yaml reads no YAML through PyYAML

    try:
        return safe_load(text, source)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: malformed YAML: {problem}. Fix the syntax and retry.") from e
