"""Local state under `.ci-ml/`: the digest cache of files outside git.

A file's digest is reused while its (size, mtime_ns, inode) are unchanged, so unchanged
data is hashed once, ever. The directory ignores itself so it never shows up in git.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

STATE_DIR = ".ci-ml"


def state_dir(root: Path) -> Path:
    path = root / STATE_DIR
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        (path / ".gitignore").write_text("# ci-ml's local state and cache\n*\n", encoding="utf-8")
    return path


class DigestCache:
    """Digests of untracked files, keyed by absolute path and stat signature."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            # Imported here, not by every plan: most plans hash no untracked file.
            import sqlite3

            self._db = sqlite3.connect(state_dir(self._root) / "digests.db", timeout=30)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER,"
                " mtime_ns INTEGER, inode INTEGER, digest TEXT)"
            )
        return self._db

    def digests(
        self, paths: Iterable[Path], compute: Callable[[Path, ThreadPoolExecutor], str]
    ) -> dict[Path, str]:
        """Digest of every path: cached where the stat signature matches, computed otherwise."""
        db = self._open()
        result: dict[Path, str] = {}
        todo: list[tuple[Path, os.stat_result]] = []
        for path in paths:
            st = path.stat()
            row = db.execute(
                "SELECT size, mtime_ns, inode, digest FROM digests WHERE path = ?", (str(path),)
            ).fetchone()
            if row is not None and tuple(row[:3]) == (st.st_size, st.st_mtime_ns, st.st_ino):
                result[path] = row[3]
            else:
                todo.append((path, st))
        if todo:
            workers = max(2, os.cpu_count() or 2)
            with ThreadPoolExecutor(workers) as pieces, ThreadPoolExecutor(workers) as files:
                computed = files.map(lambda item: compute(item[0], pieces), todo)
                for (path, st), digest in zip(todo, computed, strict=True):
                    result[path] = digest
                    db.execute(
                        "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)",
                        (str(path), st.st_size, st.st_mtime_ns, st.st_ino, digest),
                    )
            db.commit()
        return result


def read_last_run(root: Path) -> dict[str, str]:
    """Stage name -> the key it had when `ci-ml run` last completed it here."""
    path = root / STATE_DIR / "last-run.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.get("stages", {}).items()}


def outputs_current(
    root: Path, name: str, key: str, out_paths: Iterable[str], last_run: Mapping[str, str]
) -> bool:
    """The last local run left `name`'s outputs for `key`, and they are all still there."""
    return last_run.get(name) == key and all((root / path).exists() for path in out_paths)


def record_run(root: Path, keys: dict[str, str]) -> None:
    """Remember the keys of stages that just ran or were restored (atomically)."""
    merged = {**read_last_run(root), **keys}
    path = state_dir(root) / "last-run.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"stages": merged}, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def write_run_summary(root: Path, document: dict[str, object]) -> None:
    """The last run's outcome per stage, for `ci-ml report` (atomically)."""
    path = state_dir(root) / "run.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def read_run_summary(root: Path) -> dict[str, Any] | None:
    path = root / STATE_DIR / "run.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


# Temp files ci-ml writes before an atomic rename: `.NAME.tmp-PID-HEX` (cache/transfer.py) and
# `NAME.tmpPID` (state and pending files). A run killed mid-write leaves them behind.
_TEMP_NAME = re.compile(r"^\..+\.[a-z]+-(?P<pid>\d+)-[0-9a-f]{8}$|^.+\.tmp(?P<pid2>\d+)$")
STALE_AFTER_S = 24 * 3600
SWEEP_MARK = ".swept"


def remove_stale_temps(top: Path, *, now: float, every_s: float = 0) -> int:
    """Delete temp files under `top` whose writer is gone (its pid is not running here) or
    that are over a day old; with `every_s`, at most once per that many seconds (a marker file
    records the last sweep), since a big cache directory costs a walk. Returns how many."""
    mark = top / SWEEP_MARK
    if every_s and mark.exists() and now - mark.stat().st_mtime < every_s:
        return 0
    removed = 0
    for folder, _dirs, files in os.walk(top):
        for name in files:
            found = _TEMP_NAME.match(name)
            if found is None:
                continue
            path = Path(folder) / name
            pid = int(found["pid"] or found["pid2"])
            with contextlib.suppress(FileNotFoundError):
                if not _is_running(pid) or now - path.lstat().st_mtime > STALE_AFTER_S:
                    path.unlink()
                    removed += 1
    if every_s and top.is_dir():
        mark.touch()
    return removed


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
