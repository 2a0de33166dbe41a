"""The only module that runs git: refs, trees, the index and object contents.

Every path that crosses this module's boundary is repo-relative POSIX, as git prints it.
Output is read with `-z` and split on NUL so no file name can break parsing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from ci_ml.errors import GitError, GitRefError, NotInRepositoryError
from ci_ml.git_spawn import (
    Started,
    index_listing_argv,
    spawn,
    stop,
    take_prestarted,
    worktree_changes_argv,
)

log = logging.getLogger("ci_ml")

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# (status, mode and object id in the commit, path), from `start_index_vs_commit`
IndexChange = tuple[str, str, str, str]


# A record of `ls-tree -r -z` / `ls-files -s -z` is "<mode> <type|oid> <oid|stage>\t<path>\0".
# The output is split on TAB and NUL in one go (metadata and paths alternate) and the object
# ids are sliced out of the metadata: no regex and no Python call per record, which matters
# at 100,000 tracked files.


def _split_records(out: bytes) -> tuple[list[str], list[str]]:
    """(metadata, path) of each record, as two lists."""
    return split_records_text(out.decode("utf-8", "surrogateescape"))


def split_records_text(text: str) -> tuple[list[str], list[str]]:
    parts = text.replace("\t", "\0").split("\0")
    parts.pop()  # after the last NUL
    if len(parts) != 2 * text.count("\0"):  # a path with a TAB in it: split record by record
        records = [record.partition("\t") for record in text.split("\0")[:-1]]
        return [meta for meta, _, _ in records], [path for _, _, path in records]
    return parts[0::2], parts[1::2]


def index_entries(metas: list[str], paths: list[str], oid_at: int) -> dict[str, str]:
    """Path -> object id from `ls-files -s` records, the id at `oid_at` in the metadata and
    the stage (1 digit) after it."""
    entries = dict(zip(paths, [meta[oid_at:-2] for meta in metas], strict=True))
    if len(entries) < len(paths):  # a conflict lists a path once per stage: keep the first
        entries = {}
        for meta, path in zip(metas, paths, strict=True):
            entries.setdefault(path, meta[oid_at:-2])
    return entries


class Git:
    """A git repository at `root` (its top level)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._object_format: str | None = None  # sha1 or sha256, when asked

    @classmethod
    def discover(cls, start: Path) -> Git:
        try:
            out = _run(["git", "rev-parse", "--show-toplevel"], cwd=start)
        except GitError as e:
            raise NotInRepositoryError(
                f"{start} is not inside a git repository. ci-ml compares commits, so the "
                "pipeline must live in a git repository: run `git init` and commit it."
            ) from e
        return cls(Path(out.decode().strip()))

    def run(self, *args: str, stdin: bytes | None = None) -> bytes:
        return _run(["git", *args], cwd=self.root, stdin=stdin)

    def resolve(self, ref: str) -> str | None:
        """The commit id `ref` names, or None when this clone lacks it."""
        try:
            out = self.run(
                "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
            )
        except GitError:
            return None
        return out.decode().strip() or None

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            return self.run("merge-base", a, b).decode().strip() or None
        except GitError:
            return None

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").decode().strip() == "true"

    def remote_default_branch(self) -> str | None:
        try:
            out = self.run("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
        except GitError:
            return None
        return out.decode().strip() or None

    def ls_tree(self, commit: str, prefix: str) -> dict[str, str]:
        """Object id of every file under `prefix` ('' for all) in `commit`, by repo path."""
        args = ["ls-tree", "-r", "-z", "--full-tree", commit]
        if prefix:
            args += ["--", prefix]
        metas, paths = _split_records(self.run(*args))
        return dict(zip(paths, [meta.rpartition(" ")[2] for meta in metas], strict=True))

    def start_ls_trees(self, commit: str, paths: Sequence[str]) -> Pending[bytes]:
        """`ls-tree -r -d -z` of `commit`: the directories at `paths` (all, when empty), those
        above them and those below, each "040000 tree <oid>\t<path>\0"; started in the
        background."""
        args = ["git", "--literal-pathspecs", "ls-tree", "-r", "-d", "-z", "--full-tree", commit]
        return Pending([*args, "--", *paths] if paths else args, self.root, bytes)

    def start_ls_index_records(self, prefix: str) -> Pending[bytes]:
        """`ls-files -s -v -z` of the files under `prefix`, as git prints it (for
        `plan.entries.IndexListing`, which looks paths up in it without splitting it), started
        in the background."""
        return Pending(index_listing_argv(prefix), self.root, bytes)

    def start_index_vs_commit(self, commit: str, prefix: str) -> Pending[list[IndexChange]]:
        """(status, mode and object id in `commit`, path) for each file where the index
        differs from `commit`: A (only in the index), D (only in the commit), M or T (changed);
        started in the background."""
        args = ["git", "diff-index", "--cached", "-z", "--no-renames", commit]
        return Pending([*args, "--", prefix or "."], self.root, _parse_diff_index)

    def worktree_changes(self, prefix: str) -> tuple[list[str], list[str]]:
        """Tracked files under `prefix` that differ from the index: (modified, deleted)."""
        return self.start_worktree_changes([prefix or "."]).result()

    def start_worktree_changes(
        self, paths: Sequence[str], *, speculative: bool = False
    ) -> Pending[tuple[list[str], list[str]]]:
        """`worktree_changes` at or under `paths` (literal paths, not patterns), started in the
        background; `speculative` when the answer may not be needed (see `Pending`)."""
        argv = worktree_changes_argv(paths)
        return Pending(argv, self.root, _parse_status, speculative=speculative)

    def take_prestarted_reads(
        self, prefix: str
    ) -> tuple[Pending[bytes], Pending[tuple[list[str], list[str]]]] | None:
        """The index listing and the speculative status of the files under `prefix`, if the
        console entry started them (`git_spawn.prestart_worktree_reads`)."""
        found = take_prestarted(str(self.root), prefix)
        if found is None:
            return None
        listing, changes = found
        return (
            Pending(index_listing_argv(prefix), self.root, bytes, started=listing),
            Pending(
                worktree_changes_argv([prefix or "."]), self.root, _parse_status, started=changes
            ),
        )

    def untracked(self, paths: Sequence[str]) -> list[str]:
        """Untracked, not ignored files at or under `paths`."""
        return self.start_untracked(paths).result() if paths else []

    def start_untracked(self, paths: Sequence[str]) -> Pending[list[str]]:
        """`untracked`, started in the background (`paths` not empty)."""
        args = ["git", "ls-files", "-o", "--exclude-standard", "-z", "--full-name", "--", *paths]
        return Pending(args, self.root, lambda out: list(_split_z(out)))

    def hash_worktree_files(self, paths: Sequence[str]) -> dict[str, str]:
        """Blob ids of working-tree files, as `git add` would store them (filters applied; a
        symlink as the text of its target, which `hash-object` would follow instead)."""
        links = {p for p in paths if (self.root / p).is_symlink()}
        files = [p for p in paths if p not in links] if links else list(paths)
        ids: dict[str, str] = {}
        if files:
            out = self.run(
                "hash-object", "--stdin-paths", stdin="".join(f"{p}\n" for p in files).encode()
            )
            ids = dict(zip(files, out.decode().split(), strict=True))
        for path in links:
            target = os.fsencode((self.root / path).readlink())  # the bytes, as git stores them
            ids[path] = self._blob_id(target)
        return ids

    def _blob_id(self, content: bytes) -> str:
        """The id git gives a blob of `content`, in this repository's object format."""
        if self._object_format is None:
            self._object_format = self.run("rev-parse", "--show-object-format").decode().strip()
        algorithm = "sha256" if self._object_format == "sha256" else "sha1"
        return hashlib.new(algorithm, b"blob %d\0" % len(content) + content).hexdigest()

    def read_blobs(self, object_ids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Contents of blobs, through one `git cat-file --batch` process."""
        ids = list(dict.fromkeys(object_ids))
        if not ids:
            return
        out = self.run("cat-file", "--batch", stdin="".join(f"{i}\n" for i in ids).encode())
        pos = 0
        for object_id in ids:
            header_end = out.index(b"\n", pos)
            header = out[pos:header_end].decode().split()
            if header[-1] == "missing":
                raise GitError(f"git object {object_id} is missing from the repository")
            size = int(header[2])
            yield object_id, out[header_end + 1 : header_end + 1 + size]
            pos = header_end + 1 + size + 1

    def fetch(
        self, remote: str, ref: str, *, depth: int | None = None, deepen: int | None = None
    ) -> None:
        args = ["fetch", "--no-tags", "--quiet"]
        args += [f"--depth={depth}"] if depth else []
        args += [f"--deepen={deepen}"] if deepen else []
        self.run(*args, remote, ref)

    def head_sha(self) -> str | None:
        return self.resolve("HEAD")


T = TypeVar("T")


class Pending(Generic[T]):
    """A git command running in the background, its output parsed by `parse` on `result()`.
    Its output goes to a temporary file, not a pipe: a pipe holds 64 KiB, and a thread that
    drained it would wait for the GIL (a switch interval, 5 ms) for every read while the main
    thread parses; an index listing at 100,000 files is 7.5 MB.

    A `speculative` command, one that may be cancelled unread, runs at a lower CPU priority:
    where the cores are busy it yields to the work that decides whether it is needed, instead
    of slowing that work down (a status over 100,000 files is 0.15 s of CPU)."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        parse: Callable[[bytes], T],
        *,
        speculative: bool = False,
        started: Started | None = None,
    ) -> None:
        """Start `argv` in `cwd`, or take it `started` already (by `git_spawn`)."""
        log.debug("+ %s", " ".join(argv))
        self._argv = argv
        self._parse = parse
        if started is None:
            try:
                started = spawn(argv, cwd, nice=speculative)
            except FileNotFoundError as e:
                raise _not_installed() from e
        self._proc, self._out = started

    @property
    def pid(self) -> int:
        return self._proc.pid

    def result(self) -> T:
        _, err = self._proc.communicate()
        with self._out:
            self._out.seek(0)
            out = self._out.read()
        if self._proc.returncode != 0:
            raise _failed(self._argv, self._proc.returncode, err)
        return self._parse(out)

    def cancel(self) -> None:
        """Stop the command: SIGTERM, on which git removes the lock files it holds."""
        stop((self._proc, self._out))


def _parse_diff_index(out: bytes) -> list[IndexChange]:
    records = out.decode("utf-8", "surrogateescape").split("\0")
    changes = []
    for meta, path in zip(records[0::2], records[1::2], strict=False):
        if meta.startswith(":"):
            old_mode, _new_mode, old_oid, _new_oid, status = meta[1:].split(" ")
            changes.append((status[0], old_mode, old_oid, path))
    return changes


def _parse_status(out: bytes) -> tuple[list[str], list[str]]:
    """(modified, deleted) from `git status --porcelain=v2 -z` of tracked files."""
    modified: list[str] = []
    deleted: list[str] = []
    for record in _split_z(out):
        if not record.startswith("1 "):
            continue
        fields = record.split(" ", 8)
        worktree_state, path = fields[1][1], fields[8]
        if worktree_state == "D":
            deleted.append(path)
        elif worktree_state != ".":
            modified.append(path)
    return modified, deleted


def _split_z(out: bytes) -> Iterator[str]:
    for record in out.split(b"\0"):
        if record:
            yield record.decode("utf-8", "surrogateescape")


def _run(argv: list[str], *, cwd: Path, stdin: bytes | None = None) -> bytes:
    log.debug("+ %s", " ".join(argv))
    try:
        proc = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as e:
        raise _not_installed() from e
    if proc.returncode != 0:
        raise _failed(argv, proc.returncode, proc.stderr)
    return proc.stdout


def _not_installed() -> GitError:
    return GitError("git is not installed or not on PATH; install git and retry")


def _failed(argv: Sequence[str], code: int, stderr: bytes) -> GitError:
    text = stderr.decode(errors="replace").strip()
    return GitError(f"`{' '.join(argv)}` failed with exit code {code}: {text}")


def require_commit(git: Git, ref: str, *, what: str) -> str:
    """Resolve `ref` or say why not: a name that does not exist, or a commit a shallow clone
    lacks (with how to fetch it)."""
    sha = git.resolve(ref)
    if sha is not None:
        return sha
    shallow = git.is_shallow()
    if shallow and _HEX_SHA.fullmatch(ref):
        raise GitRefError(
            f"{what} {ref!r} is not a commit in this clone. This clone is shallow: fetch it "
            f"with `git fetch --no-tags --depth=1 origin {ref}` or check out with "
            "`fetch-depth: 0` (actions/checkout)."
        )
    fetch = f"git fetch --no-tags --depth=1 origin {ref}" if shallow else f"git fetch origin {ref}"
    raise GitRefError(
        f"{what} {ref!r} does not exist in this clone: no branch, tag or commit has that name."
        f" Check the name, or fetch it with `{fetch}`."
    )


_HEX_SHA = re.compile(r"[0-9a-f]{7,64}")
