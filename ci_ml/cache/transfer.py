"""Streaming, verified file writes shared by the stores and by restore.

Every object reaches its destination through a temp file in the destination's directory,
hashed while it is written, and is renamed into place only if its sha256 matches: a reader
never sees a half-written or wrong file, and memory stays flat whatever the size.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from ci_ml.cache.progress import Progress
from ci_ml.errors import CacheError

CHUNK = 1 << 20
T = TypeVar("T")
R = TypeVar("R")


def read_chunks(path: Path, *, chunk: int = CHUNK) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(chunk):
            yield block


# Digests this process computed, by the stat signature the file had while it was read: an
# upload of the same, unchanged file (same inode, size, mtime and ctime) reuses the digest
# instead of reading and hashing every byte again.
_Signature = tuple[int, int, int, int, int]
_HASHED: dict[_Signature, str] = {}
_HASHED_LOCK = threading.Lock()
_HASHED_MAX = 1_000_000


def _signature(st: os.stat_result) -> _Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def sha256_file(path: Path) -> str:
    return sha256_file_stat(path)[0]


def sha256_file_stat(path: Path) -> tuple[str, os.stat_result]:
    """The file's sha256, and its stat once it was read (the size and mode of what was hashed,
    unless something wrote to it meanwhile)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        st = os.fstat(f.fileno())
        before = _signature(st)
        while block := f.read(CHUNK):
            digest.update(block)
        st = os.fstat(f.fileno())
        after = _signature(st)
    found = digest.hexdigest()
    if before == after:  # nothing wrote to it while it was read
        _remember(after, found)
    return found, st


def remember_digest(path: Path, digest: str) -> None:
    """Record `digest` as the sha256 of `path` as it is now (a file this process wrote and
    hashed while writing), for `hashed_digest`."""
    _remember(_signature(path.stat()), digest)


def _remember(signature: _Signature, digest: str) -> None:
    with _HASHED_LOCK:
        if len(_HASHED) >= _HASHED_MAX:
            _HASHED.clear()
        _HASHED[signature] = digest


def hashed_digest(path: Path) -> str | None:
    """The sha256 `sha256_file` found for `path` in this process, if the file has not changed
    since (by its stat signature); else None."""
    try:
        return _HASHED.get(_signature(path.stat()))
    except OSError:
        return None


def sha256_range(path: Path, offset: int, length: int) -> bytes:
    """The sha256 of `length` bytes of `path` from `offset`."""
    digest = hashlib.sha256()
    with FileRange(path, offset, length) as body:
        while block := body.read(CHUNK):
            digest.update(block)
    return digest.digest()


def changed_while_caching(source: Path, digest: str) -> CacheError:
    return CacheError(
        f"{source} changed while it was being cached (its sha256 is no longer {digest})."
        " Make sure nothing writes to a stage's outputs after the stage ends."
    )


def temp_path(dest: Path, tag: str = "tmp") -> Path:
    """A unique sibling of `dest`: same filesystem, so `os.replace` is atomic."""
    return dest.parent / f".{dest.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}"


def write_verified(
    chunks: Iterable[bytes],
    dest: Path,
    digest: str,
    *,
    progress: Progress | None = None,
    mode: int | None = None,
    seal: bool = False,
    max_size: int | None = None,
) -> bool:
    """Write `chunks` to `dest` if their sha256 is `digest`; else leave `dest` alone.

    Returns False on a digest mismatch. `mode`, if given, is set before the rename, and with
    `seal` the file is marked as verified (see `is_sealed`). With `max_size` (what the manifest
    records), a stream that runs past it stops there and counts as a mismatch: an object
    that streams zeros forever cannot fill the disk.
    Errors (OSError, or whatever `chunks` raises) propagate for the caller to name.
    """
    tmp = temp_path(dest)
    try:
        hasher = hashlib.sha256()
        written = 0
        with tmp.open("wb") as f:
            for block in chunks:
                written += len(block)
                if max_size is not None and written > max_size:
                    return False
                hasher.update(block)
                f.write(block)
                if progress is not None:
                    progress.advance(len(block))
        if hasher.hexdigest() != digest:
            return False
        if mode is not None:
            tmp.chmod(mode)
        if seal:
            os.utime(tmp, ns=(_sealed_mtime_ns(digest), _sealed_mtime_ns(digest)))
        tmp.replace(dest)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# A local cache object is verified as it is written. Its mtime is then set to a value derived
# from its digest, and it is made read-only: any later write to it (or a file put in its place)
# gets the current time instead, so restore re-hashes only objects that lost the mark, and
# copies the others without reading them through Python (a copy costs a third of a sha256).
_SEAL_EPOCH_S = 946_684_800  # 2000-01-01: no file written by a tool today has such an mtime


def _sealed_mtime_ns(digest: str) -> int:
    return (_SEAL_EPOCH_S + int(digest[:6], 16)) * 1_000_000_000 + int(digest[6:11], 16)


def is_sealed(st: os.stat_result, digest: str) -> bool:
    """Whether an object file still carries the mark `write_verified(seal=True)` gave it."""
    return st.st_mtime_ns == _sealed_mtime_ns(digest) and not st.st_mode & 0o222


_FICLONE = 0x40049409  # linux/fs.h: share the source's blocks (btrfs, XFS, bcachefs)


def copy_to(source: BinaryIO, size: int, dest: Path, *, progress: Progress | None = None) -> None:
    """Copy the open file `source` (`size` bytes) to `dest` through a temp file and a rename:
    a reflink where the filesystem has them, else copy_file_range (in the kernel), else a
    plain copy."""
    tmp = temp_path(dest)
    try:
        with tmp.open("wb") as out:
            _copy_fd(source.fileno(), out, size)
        tmp.replace(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if progress is not None:
        progress.advance(size)


def _copy_fd(src: int, out: BinaryIO, size: int) -> None:
    dst = out.fileno()
    try:
        import fcntl  # here: POSIX only

        fcntl.ioctl(dst, _FICLONE, src)
        return
    except (ImportError, OSError):
        pass
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(src, dst, size - copied, copied, copied)
            if n == 0:
                break
            copied += n
    except (AttributeError, OSError):  # no copy_file_range here, or not between these files
        os.lseek(src, copied, os.SEEK_SET)
        out.seek(copied)
        while block := os.read(src, CHUNK):
            out.write(block)
        return
    if copied != size:
        raise OSError(f"copied {copied} of {size} bytes: the object changed size while copied")


def write_atomic(dest: Path, data: bytes) -> None:
    """Replace `dest` with `data` in one rename: readers see the old or the new file, whole."""
    tmp = temp_path(dest)
    try:
        tmp.write_bytes(data)
        tmp.replace(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def run_parallel(fn: Callable[[T], R], items: Iterable[T], *, workers: int) -> list[R]:
    """`fn` over `items` on a bounded pool; the first failure cancels what has not started."""
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


@dataclass(frozen=True, slots=True)
class Part:
    number: int  # 1-based, as S3 counts
    offset: int
    length: int
    sha256: bytes | None  # None: hashed when the part is sent


def part_ranges(size: int, part_size: int) -> list[Part]:
    """The parts of a file of `size` bytes, not yet hashed (an empty file has one)."""
    return [
        Part(number, offset, min(part_size, size - offset), None)
        for number, offset in enumerate(range(0, max(size, 1), part_size), start=1)
    ]


def hash_parts(path: Path, part_size: int) -> tuple[str, list[Part]]:
    """The file's sha256 and its parts' sha256s, from a single read in 1 MiB chunks.
    (A file of one part has one digest: it is not hashed twice.)"""
    size = path.stat().st_size
    if size <= part_size:
        digest = sha256_file(path)
        return digest, [Part(1, 0, size, bytes.fromhex(digest))]
    full = hashlib.sha256()
    parts: list[Part] = []
    with path.open("rb") as f:
        offset = 0
        while True:
            piece, length = hashlib.sha256(), 0
            while length < part_size and (block := f.read(min(CHUNK, part_size - length))):
                full.update(block)
                piece.update(block)
                length += len(block)
            if length == 0 and parts:
                break
            parts.append(Part(len(parts) + 1, offset, length, piece.digest()))
            offset += length
            if length < part_size:
                break
    return full.hexdigest(), parts


class FileRange:
    """A read-only, seekable window on a file: one part's body, resent as-is on retries."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._file = path.open("rb")
        self._offset, self._length, self._pos = offset, length, 0
        self._file.seek(offset)

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        size = left if size is None or size < 0 else min(size, left)
        data = self._file.read(size)
        self._pos += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        self._file.seek(self._offset + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FileRange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_by_size(
    items: Mapping[str, Path], sizes: Mapping[str, int | None], limit: int
) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """`items` sorted and split into those known to be at most `limit` bytes (sent many at a
    time) and the rest. [pure]"""
    small: list[tuple[str, Path]] = []
    big: list[tuple[str, Path]] = []
    for digest, path in sorted(items.items()):
        size = sizes.get(digest)
        (small if size is not None and size <= limit else big).append((digest, path))
    return small, big


def file_size(path: Path) -> int | None:
    """The size of `path`, or None when it cannot be read (the transfer reports why)."""
    try:
        return path.stat().st_size
    except OSError:
        return None
