"""The repository state that tests arrange and inspect, and the git objects behind it.

Owns the records (comments, pull requests, workflow runs, artifacts, recorded requests) and
`RepositoryState`: the collections the routes read and change (check runs, statuses, commit
comments, runners...), git's blobs, trees, commits and refs, and the arranging methods tests
call (`add_pull`, `commit_files`...). `GitHubServer` serves this state over HTTP.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NOW = "2026-01-01T00:00:00Z"  # every timestamp; output stays deterministic


@dataclass(kw_only=True)
class Comment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: str = NOW
    updated_at: str = NOW


@dataclass(kw_only=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str = "feature"
    head_repo: str = ""  # full name; "" means the server's repository, another one a fork
    base_ref: str = "main"
    base_sha: str = ""  # "" means the base branch's head when the pull request is added
    merge_sha: str | None = None
    title: str = "Change the model"
    body: str | None = None
    user: str = "octocat"
    state: str = "open"
    files: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class WorkflowRun:
    id: int
    head_sha: str
    head_branch: str = "feature"
    event: str = "pull_request"
    status: str = "completed"
    conclusion: str | None = "success"
    name: str = "ci-ml"
    path: str = ".github/workflows/ci-ml.yml"
    pull_numbers: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class Artifact:
    id: int
    run_id: int
    name: str
    files: dict[str, bytes]
    expired: bool = False

    def zip_bytes(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, data in sorted(self.files.items()):
                archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
        return out.getvalue()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the /api/v3 prefix for API requests; query string apart
    query: dict[str, str]
    body: Any  # decoded JSON, or None
    operation: str | None  # operationId; None outside the API (raw files, artifact blobs)
    status: int


def _sha(kind: str, data: bytes) -> str:
    return hashlib.sha1(b"%s %d\0%s" % (kind.encode(), len(data), data)).hexdigest()


def fake_sha(seed: str) -> str:
    """A 40-hex commit id for arranging, e.g. `fake_sha("pr-7-head")`."""
    return hashlib.sha1(seed.encode()).hexdigest()


class RepositoryState:
    """One repository's issues, pull requests, checks, Actions runs and git data.

    Every change holds `_lock`: the HTTP server answers from several threads.
    """

    def __init__(self, *, repository: str, default_branch: str) -> None:
        self.repository = repository
        self.owner, self.repo = repository.split("/")
        self.default_branch = default_branch
        self.comments: dict[int, Comment] = {}
        self.pulls: dict[int, PullRequest] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.commit_comments: list[dict[str, Any]] = []
        self.workflow_runs: dict[int, WorkflowRun] = {}
        self.artifacts: dict[int, Artifact] = {}
        self.runners: dict[int, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, str]] = {}  # sha -> {path: blob sha}, flattened
        self.commits: dict[str, dict[str, Any]] = {}  # sha -> {tree, parents, message}
        self.refs: dict[str, str] = {}  # "refs/heads/main" -> commit sha
        self._ids = itertools.count(1_000_001)
        self._lock = threading.RLock()

    def add_pull(self, number: int, **fields: Any) -> PullRequest:
        fields.setdefault("head_sha", fake_sha(f"pr-{number}-head"))
        pull = PullRequest(number=number, **fields)
        with self._lock:
            pull.base_sha = pull.base_sha or self.refs.get(f"refs/heads/{pull.base_ref}", "")
            for sha in (pull.head_sha, pull.base_sha, pull.merge_sha):
                if sha and sha not in self.commits:
                    self.add_commit(sha)
            self.pulls[number] = pull
        return pull

    def add_comment(self, issue_number: int, body: str, *, user: str = "octocat") -> Comment:
        with self._lock:
            comment = Comment(id=next(self._ids), issue_number=issue_number, body=body, user=user)
            self.comments[comment.id] = comment
        return comment

    def add_comments(
        self, issue_number: int, count: int, *, user: str = "octocat"
    ) -> list[Comment]:
        """`count` comments by someone other than the token's user, oldest first."""
        return [self.add_comment(issue_number, f"comment {i + 1}", user=user) for i in range(count)]

    def comments_on(self, issue_number: int) -> list[Comment]:
        return [c for c in self.comments.values() if c.issue_number == issue_number]

    def add_workflow_run(self, run_id: int | None = None, **fields: Any) -> WorkflowRun:
        with self._lock:
            run_id = next(self._ids) if run_id is None else run_id
            fields.setdefault("head_sha", fake_sha(f"run-{run_id}-head"))
            run = WorkflowRun(id=run_id, **fields)
            if run.head_sha not in self.commits:
                self.add_commit(run.head_sha)
            self.workflow_runs[run.id] = run
        return run

    def add_artifact(
        self, run_id: int, name: str, files: Mapping[str, bytes | str], *, expired: bool = False
    ) -> Artifact:
        data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        with self._lock:
            assert run_id in self.workflow_runs, f"add_workflow_run({run_id}) first"
            artifact = Artifact(
                id=next(self._ids), run_id=run_id, name=name, files=data, expired=expired
            )
            self.artifacts[artifact.id] = artifact
        return artifact

    def add_commit(self, sha: str, files: Mapping[str, bytes | str] | None = None) -> str:
        """Register a commit under a chosen id (a PR head, say), with `files` as its tree."""
        with self._lock:
            self.commits[sha] = {
                "tree": self._store_tree(self._store_files({}, files or {})),
                "parents": [],
                "message": "arranged",
            }
        return sha

    def commit_files(
        self, branch: str, files: Mapping[str, bytes | str | None], *, message: str = "Update"
    ) -> str:
        """Commit `files` (None deletes) on `branch`, creating it as an orphan if missing."""
        with self._lock:
            head = self.refs.get(f"refs/heads/{branch}")
            base = dict(self.trees[self.commits[head]["tree"]]) if head else {}
            tree = self._store_tree(self._store_files(base, files))
            sha = self._store_commit(tree, [head] if head else [], message)
            self.refs[f"refs/heads/{branch}"] = sha
        return sha

    def file_at(self, ref: str, path: str) -> bytes | None:
        with self._lock:
            sha = self._resolve_commit(ref)
            blob = self.trees[self.commits[sha]["tree"]].get(path) if sha else None
            return None if blob is None else self.blobs[blob]

    # -- git model -----------------------------------------------------------------------------

    def _store_files(
        self, base: dict[str, str], files: Mapping[str, bytes | str | None]
    ) -> dict[str, str]:
        for path, data in files.items():
            if data is None:
                base.pop(path, None)
            else:
                base[path] = self._store_blob(data.encode() if isinstance(data, str) else data)
        return base

    def _store_blob(self, data: bytes) -> str:
        sha = _sha("blob", data)  # git's own blob id: `git hash-object` agrees
        self.blobs[sha] = data
        return sha

    def _store_tree(self, files: Mapping[str, str]) -> str:
        sha = _sha("tree", json.dumps(sorted(files.items())).encode())
        self.trees[sha] = dict(sorted(files.items()))
        return sha

    def _store_commit(self, tree: str, parents: list[str], message: str) -> str:
        record = {"tree": tree, "parents": parents, "message": message}
        sha = _sha("commit", json.dumps(record, sort_keys=True).encode())
        self.commits[sha] = record
        return sha

    def _resolve_commit(self, ref: str) -> str | None:
        if ref in self.commits:
            return ref
        for name in (ref, f"refs/{ref}", f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if name in self.refs:
                return self.refs[name]
        return None

    def _is_ancestor(self, old: str, new: str) -> bool:
        todo, seen = [new], set()
        while todo:
            sha = todo.pop()
            if sha == old:
                return True
            if sha not in seen:
                seen.add(sha)
                todo += self.commits.get(sha, {}).get("parents", [])
        return False

    def _subtree(self, ref: str, directory: str) -> dict[str, str]:
        sha = self._resolve_commit(ref) or ""
        prefix = f"{directory}/" if directory else ""
        files = self.trees[self.commits[sha]["tree"]] if sha else {}
        return {p.removeprefix(prefix): b for p, b in files.items() if p.startswith(prefix)}
