"""A side's files: object id by repo path, as git listed them (a dict, or the index listing
that is bisected instead, `git.IndexListing`), with the side's own changes on top: the files
that the working tree changed or deleted, or that differ at the base commit.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping

from ci_ml.git import IndexListing


class Entries(Mapping[str, str]):
    """Object id by repo path: `listed`, with `set` and `remove` on top."""

    def __init__(self, listed: Mapping[str, str]) -> None:
        self._listed = listed
        self._changed: dict[str, str] = {}
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

    def set(self, path: str, oid: str) -> None:
        if path not in self._changed and path not in self._listed:
            self._added.add(path)
        self._removed.discard(path)
        self._changed[path] = oid

    def update(self, ids: Mapping[str, str]) -> None:
        for path, oid in ids.items():
            self.set(path, oid)

    def remove(self, path: str) -> None:
        if path not in self:
            return
        self._changed.pop(path, None)
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
            prefix = repo_dir + "/"
            i = bisect.bisect_left(self._sorted, prefix)
            j = bisect.bisect_left(self._sorted, prefix + "\U0010ffff")
            listed = self._sorted[i:j]
        if self._removed:
            listed = [path for path in listed if path not in self._removed]
        prefix = repo_dir + "/"
        added = [path for path in self._added if path.startswith(prefix)]
        return sorted(listed + added) if added else listed
