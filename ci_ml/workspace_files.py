"""Reading files the pull request controls: regular files only, bounded, UTF-8 or a clear error.

Metrics, plot data, params and ci-ml.yaml are written by PR code. A symlink to /dev/zero would
be read until memory runs out, a FIFO would block the reader forever, and a 50 GiB "metrics"
file would fill memory too. So such files are opened without following a final symlink (unless
the caller allows it, for files git tracks), without blocking, and must be regular files under
a size limit.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ci_ml.errors import UserError

READ_LIMIT = 64 << 20  # bytes: far more than any metrics, params or plot file needs


class UnsafeFileError(UserError):
    """A file ci-ml was asked to read is not a bounded regular file."""


def read_bytes(path: Path, *, limit: int = READ_LIMIT, follow_symlinks: bool = False) -> bytes:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafeFileError(
                f"{path} is a symbolic link; ci-ml reads it only as a regular file. Write the "
                "file itself there."
            ) from e
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(
                f"{path} is not a regular file (a FIFO, device, socket or directory); "
                "ci-ml reads only regular files there."
            )
        if info.st_size > limit:
            raise UnsafeFileError(_too_big(path, limit))
        chunks, total = [], 0
        while block := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(block)
            total += len(block)
            if total > limit:  # it grew while we read
                raise UnsafeFileError(_too_big(path, limit))
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path, *, limit: int = READ_LIMIT, follow_symlinks: bool = False) -> str:
    data = read_bytes(path, limit=limit, follow_symlinks=follow_symlinks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnsafeFileError(
            f"{path} is not UTF-8 text (byte {e.start}: {data[e.start : e.start + 1]!r}); "
            "ci-ml reads metrics, params and pipeline files as UTF-8."
        ) from e


def _too_big(path: Path, limit: int) -> str:
    return (
        f"{path} is over {limit >> 20} MiB, the limit for files ci-ml parses; "
        "metrics, params and plot data files are expected to be small."
    )
