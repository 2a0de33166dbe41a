"""Git tree ids computed from a directory's files, as `git write-tree` would write them: the id
a directory dep gets when its files are exactly what git tracks there. A commit's trees are
listed by git (`ls-tree -d`); only a directory that the index or the working tree changed is
computed here, so the same content gets the same id whichever way it was read. [pure]
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable, Iterable

REGULAR = "100644"
EXECUTABLE = "100755"
SYMLINK = "120000"
GITLINK = "160000"
_TREE = b"40000"

# name -> (mode, oid) for a file, name -> _Dir for a subdirectory
_Dir = dict[bytes, "tuple[str, str] | _Dir"]


def tree_id(files: Iterable[tuple[str, str, str]]) -> str:
    """The id of the tree holding `files`: (path relative to the tree, mode, hex object id).
    SHA-1 or SHA-256 as the object ids are (40 or 64 hex digits); `files` not empty."""
    root: _Dir = {}
    algorithm = ""
    for path, mode, oid in files:
        algorithm = algorithm or ("sha1" if len(oid) == 40 else "sha256")
        *parents, name = path.encode("utf-8", "surrogateescape").split(b"/")
        node = root
        for parent in parents:
            child = node.setdefault(parent, {})
            assert isinstance(child, dict), f"{path}: a file and a directory at once"
            node = child
        node[name] = (mode, oid)
    return _write(root, algorithm)


def _write(node: _Dir, algorithm: str) -> str:
    # Git sorts a tree's entries by name bytes, a subtree's name compared as if it ended in
    # "/" (so "sub.x" < "sub/" < "sub0").
    keyed = sorted(node.items(), key=_sort_name)
    body = bytearray()
    for name, value in keyed:
        if isinstance(value, dict):
            mode, oid = _TREE, _write(value, algorithm)
        else:
            mode, oid = value[0].encode(), value[1]
        body += mode + b" " + name + b"\0" + bytes.fromhex(oid)
    return hashlib.new(algorithm, b"tree %d\0" % len(body) + body).hexdigest()


def _sort_name(item: tuple[bytes, tuple[str, str] | _Dir]) -> bytes:
    return item[0] + b"/" if isinstance(item[1], dict) else item[0]


def worktree_mode(index_mode: str, st_mode: int) -> str:
    """The mode `git add` would record for a working-tree file that `lstat` gave `st_mode`
    (a submodule keeps its gitlink mode)."""
    if index_mode == GITLINK:
        return GITLINK
    if stat.S_ISLNK(st_mode):
        return SYMLINK
    return EXECUTABLE if st_mode & stat.S_IXUSR else REGULAR


class CommitTrees:
    """The tree ids of a commit's directories, as `ls-tree -r -d -z` prints them
    ("040000 tree <oid>\\t<path>\\0" each), each looked up with one search of the output
    instead of splitting all of it. `listing`: that output, or what reads it on the first
    look-up (a pipeline without directory deps never lists its trees)."""

    def __init__(self, listing: bytes | Callable[[], bytes]) -> None:
        self._listing = listing

    def get(self, repo_dir: str) -> str | None:
        if not isinstance(self._listing, bytes):
            self._listing = self._listing()
        out = self._listing
        needle = b"\t" + repo_dir.encode("utf-8", "surrogateescape") + b"\0"
        end = out.find(needle)
        while end >= 0:
            meta = out[out.rfind(b"\0", 0, end) + 1 : end]
            # A path with a TAB in it can end in the needle: a record's metadata has none.
            if meta.startswith(b"040000 tree ") and b"\t" not in meta:
                return meta[12:].decode()
            end = out.find(needle, end + 1)
        return None
