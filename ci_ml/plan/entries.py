"""A side's files: object id by repo path, as git listed them (a dict, or the index listing
that is bisected instead, `IndexListing`), with the side's own changes on top: the files that
the working tree changed or deleted, or that differ at the base commit.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping

from ci_ml.git import index_entries, split_records_text
from ci_ml.plan.git_tree import REGULAR


def sorted_under(paths: list[str], directory: str) -> list[str]:
    """The paths under `directory` in `paths` (sorted), by bisection. [pure]"""
    prefix = directory + "/"
    i = bisect.bisect_left(paths, prefix)
    return paths[i : bisect.bisect_left(paths, prefix + "\U0010ffff", i)]


class IndexListing(Mapping[str, str]):
    """The index as `ls-files -s -v -z` prints it: object id by path, each looked up by
    bisecting the output (git lists the index sorted by path bytes) instead of splitting all
    of it: at 100,000 files, building a dict of every entry was most of a plan's Python time.
    For a conflict, a path's first stage."""

    def __init__(self, out: bytes, *, bisections: int | None = None) -> None:
        self._out = out
        self._len: int | None = None
        self.known: dict[str, str] = {}  # the ids of the records that `paths_from` split
        self.modes: dict[str, str] = {}  # and the modes of those that are not REGULAR
        self._under: dict[str, list[str]] = {}
        self._missing: set[str] = set()  # paths looked up and not found
        # Past this many bisections, every record is split once: a bisection costs about as
        # much as splitting 50 records, so a plan that asks about many paths pays at most
        # twice what splitting everything at the start would have cost.
        self._bisections_left = len(out) // (50 * 75) if bisections is None else bisections
        self._all = False  # every record is in `known`
        self._sorted: list[str] = []  # then: every path, in Python's order

    def _first(self, key: bytes) -> int:
        """Offset of the first record whose path is not below `key` (len(out) if none)."""
        self._bisections_left -= 1
        out = self._out
        lo, hi = 0, len(out)  # both at record starts; records before lo are below key
        while lo < hi:
            start = out.rfind(b"\0", lo, (lo + hi) // 2) + 1 or lo
            tab = out.index(b"\t", start)
            end = out.index(b"\0", tab)
            if out[tab + 1 : end] < key:
                lo = end + 1
            else:
                hi = start
        return lo

    def _record(self, path: str) -> tuple[str, str] | None:
        key = path.encode("utf-8", "surrogateescape")
        start = self._first(key)
        tab = self._out.find(b"\t", start)
        if tab < 0 or self._out[tab + 1 : tab + 1 + len(key) + 1] != key + b"\0":
            return None
        return self._out[start:tab].decode(), path

    def __getitem__(self, path: str) -> str:
        known = self.known.get(path)
        if known is not None:
            return known
        if path in self._missing:
            raise KeyError(path)
        if self._split_all_when_spent():
            return self.known[path]
        record = self._record(path)
        if record is None:
            self._missing.add(path)
            raise KeyError(path)
        oid = self.known[path] = record[0][9:-2]  # "<tag> <mode> <oid> <stage>"
        if record[0][2:8] != REGULAR:
            self.modes[path] = record[0][2:8]
        return oid

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        try:
            self[path]
        except KeyError:
            return False
        return True

    def __len__(self) -> int:
        if self._len is None:
            self._len = self._out.count(b"\0")
        return self._len

    def estimated_len(self) -> int:
        """About how many records there are (75 bytes each), without counting them: to
        choose between two ways of getting the same answer."""
        return len(self._out) // 75

    def __iter__(self) -> Iterator[str]:
        self._split_all()
        return iter(self.known)

    def _split_all(self) -> None:
        if not self._all:
            metas, paths = split_records_text(self._out.decode("utf-8", "surrogateescape"))
            self.known = index_entries(metas, paths, 9)  # in the index's order
            self.modes = _odd_modes(metas, paths)
            self._sorted = sorted(self.known)
            self._all = True

    def expect(self, lookups: int) -> None:
        """Split every record now if `lookups` bisections would cost more."""
        if lookups > self._bisections_left:
            self._split_all()

    def _split_all_when_spent(self) -> bool:
        """True when every record is split (now, the bisections being spent, or before), and
        so `known` and `_sorted` answer instead of bisections."""
        if self._bisections_left < 0:
            self._split_all()
        return self._all

    def paths_from(self, start: int, end: int) -> list[str]:
        """The paths of the records between offsets `start` and `end`."""
        metas, paths = split_records_text(self._out[start:end].decode("utf-8", "surrogateescape"))
        self.known.update(index_entries(metas, paths, 9))
        self.modes.update(_odd_modes(metas, paths))
        return paths

    def under(self, directory: str) -> list[str]:
        """Paths under `directory`, in the index's order (a conflict's path once)."""
        found = self._under.get(directory)
        if found is None and self._split_all_when_spent():
            found = self._under[directory] = sorted_under(self._sorted, directory)
        if found is None:
            key = directory.encode("utf-8", "surrogateescape")
            # Every path under "dir/" sorts from "dir/" up to, not including, "dir0".
            paths = self.paths_from(self._first(key + b"/"), self._first(key + b"0"))
            found = self._under[directory] = list(dict.fromkeys(paths))
        return found

    def has_under(self, directory: str) -> bool:
        """Whether any path is under `directory` (without splitting its records)."""
        if self._split_all_when_spent():
            return bool(sorted_under(self._sorted, directory))
        key = directory.encode("utf-8", "surrogateescape") + b"/"
        start = self._first(key)
        tab = self._out.find(b"\t", start)
        return tab >= 0 and self._out.startswith(key, tab + 1)

    def named(self, name: str) -> list[str]:
        """Paths whose file name is `name`, in the index's order."""
        out, needle = self._out, name.encode("utf-8", "surrogateescape") + b"\0"
        found = []
        end = out.find(needle)
        while end >= 0:
            if out[end - 1 : end] in (b"/", b"\t"):  # the whole name, not a longer one's end
                start = out.index(b"\t", out.rfind(b"\0", 0, end) + 1) + 1
                found.append(out[start : end + len(needle) - 1])
            end = out.find(needle, end + len(needle))
        return [path.decode("utf-8", "surrogateescape") for path in found]

    def plain_mode(self, path: str) -> str | None:
        """The mode of `path` if it is a plain entry: merged (stage 0), neither
        assume-unchanged nor skip-worktree (for those, `git status` trusts the index, not the
        file); else None. A bisection each: for the few files a plan checks one by one."""
        record = self._record(path)
        if record is None or not record[0].startswith("H ") or not record[0].endswith(" 0"):
            return None
        return record[0][2:8]


def _odd_modes(metas: list[str], paths: list[str]) -> dict[str, str]:
    """The modes that are not REGULAR, by path, of `ls-files -s -v` records (a conflict's
    first stage)."""
    modes = [meta[2:8] for meta in metas]
    if modes.count(REGULAR) == len(modes):  # the common case, without a Python test per path
        return {}
    odd: dict[str, str] = {}
    for mode, path in zip(modes, paths, strict=True):
        if mode != REGULAR:
            odd.setdefault(path, mode)
    return odd


class Entries(Mapping[str, str]):
    """Object id by repo path: `listed`, with `set` and `remove` on top."""

    def __init__(self, listed: Mapping[str, str]) -> None:
        self._listed = listed
        self._changed: dict[str, str] = {}
        self._changed_modes: dict[str, str] = {}  # of changed paths, when not REGULAR
        self._removed: set[str] = set()
        self._added: set[str] = set()  # changed paths that `listed` lacks
        self._sorted: list[str] | None = None  # of a dict's paths, on the first `under`

    def __getitem__(self, path: str) -> str:
        found = self._changed.get(path)
        if found is not None:
            return found
        if path in self._removed:
            raise KeyError(path)
        return self._listed[path]

    def __contains__(self, path: object) -> bool:
        return path in self._changed or (path not in self._removed and path in self._listed)

    def __len__(self) -> int:
        return len(self._listed) + len(self._added) - len(self._removed)

    def __iter__(self) -> Iterator[str]:
        yield from (path for path in self._listed if path not in self._removed)
        yield from (path for path in self._changed if path in self._added)

    def ids(self, paths: list[str]) -> list[str]:
        """The ids of `paths` (each one present), in one pass: a directory's thousands."""
        ids = self._listed.known if isinstance(self._listed, IndexListing) else self._listed
        if self._changed.keys().isdisjoint(paths):
            try:  # the common case, without a Python call per path
                return list(map(ids.__getitem__, paths))
            except KeyError:
                pass
        changed, listed = self._changed.get, ids.get
        return [changed(path) or listed(path) or self[path] for path in paths]

    def modes(self, paths: list[str]) -> list[str]:
        """The modes of `paths` (each one present and, if listed, split by `under`). Only the
        index's listing records modes: a commit's directories are never computed (git lists
        their tree ids)."""
        listed = self._listed.modes if isinstance(self._listed, IndexListing) else {}
        changed, changed_modes = self._changed, self._changed_modes
        if not listed and not changed_modes:
            return [REGULAR] * len(paths)
        return [
            changed_modes.get(path, REGULAR) if path in changed else listed.get(path, REGULAR)
            for path in paths
        ]

    def set(self, path: str, oid: str, mode: str = REGULAR) -> None:
        if path not in self._changed and path not in self._listed:
            self._added.add(path)
        self._removed.discard(path)
        self._changed[path] = oid
        self._changed_modes.pop(path, None)
        if mode != REGULAR:
            self._changed_modes[path] = mode

    def remove(self, path: str) -> None:
        if path not in self:
            return
        self._changed.pop(path, None)
        self._changed_modes.pop(path, None)
        if path in self._added:
            self._added.discard(path)
        else:
            self._removed.add(path)

    def has_under(self, repo_dir: str) -> bool:
        """Whether any path is under `repo_dir`."""
        if isinstance(self._listed, IndexListing) and not self._removed and not self._added:
            return self._listed.has_under(repo_dir)
        return bool(self.under(repo_dir))

    def under(self, repo_dir: str) -> list[str]:
        """The paths under `repo_dir`."""
        if isinstance(self._listed, IndexListing):
            listed = self._listed.under(repo_dir)
        else:
            if self._sorted is None:
                self._sorted = sorted(self._listed)
            listed = sorted_under(self._sorted, repo_dir)
        if self._removed:
            listed = [path for path in listed if path not in self._removed]
        prefix = repo_dir + "/"
        added = [path for path in self._added if path.startswith(prefix)]
        return sorted(listed + added) if added else listed
