"""The transfer benchmark's data sets: one big file and a directory of small files, random bytes
(so nothing deduplicates), written once under the work area and kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from transfer_model import Case, log


def make_cases(work: Path, *, big: int, small_count: int, small_size: int) -> list[Case]:
    """The data sets, random bytes (so nothing deduplicates), written once and kept."""
    data = work / "data"
    big_case = Case(
        name="big",
        label=f"1 file of {_size(big)}",
        root=data / f"big-{big}",
        out="big.bin",
        is_dir=False,
        size=big,
        files=1,
    )
    small_case = Case(
        name="small",
        label=f"{small_count:,} files of {_size(small_size)}",
        root=data / f"small-{small_count}x{small_size}",
        out="small",
        is_dir=True,
        size=small_count * small_size,
        files=small_count,
    )
    if not _marker(big_case.root).exists():
        _write_big(big_case.root / big_case.out, big)
    if not _marker(small_case.root).exists():
        _write_small(small_case.root / small_case.out, small_count, small_size)
    return [big_case, small_case]


def _write_big(path: Path, size: int) -> None:
    log(f"writing {path} ({_size(size)})")
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        for start in range(0, size, 8 << 20):
            f.write(os.urandom(min(8 << 20, size - start)))
    _marker(path.parent).write_text("done\n", encoding="utf-8")


def _write_small(folder: Path, count: int, size: int) -> None:
    log(f"writing {count} files of {_size(size)} into {folder}")
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"{n:05d}.bin").write_bytes(os.urandom(size))
    _marker(folder.parent).write_text("done\n", encoding="utf-8")


def _marker(root: Path) -> Path:
    """Written when a data set is complete; beside its root, since `sync <root>/` sends all."""
    return root.parent / f"{root.name}.done"


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"
