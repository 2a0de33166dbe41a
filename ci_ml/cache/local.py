"""LocalStore: a cache in a directory (the default is `.ci-ml/cache` in the project).

Layout as in `ci_ml.cache.layout`. Objects and manifests are written to a temp file in their
own directory and renamed into place, so concurrent writers of the same object or manifest
are safe (same name, same content, rename is atomic) and a crash leaves only a temp file,
which listings ignore. Objects are made read-only so a stray write does not corrupt them.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ci_ml.cache.layout import (
    MAX_MANIFEST_BYTES,
    Area,
    CacheHit,
    Trust,
    check_readable,
    corrupt_objects,
    digest_of,
    key_of,
    manifest_name,
    manifests_dir,
    may_write,
    object_name,
    objects_dir,
    readable_areas,
    writable_area,
)
from ci_ml.cache.manifest import Manifest, decode_manifest, encode_manifest
from ci_ml.cache.progress import Progress
from ci_ml.cache.transfer import (
    CHUNK,
    changed_while_caching,
    copy_to,
    is_sealed,
    read_chunks,
    run_parallel,
    write_atomic,
    write_verified,
)
from ci_ml.errors import CacheError

# Copies are disk-bound; a few threads overlap the waits without thrashing a runner's disk.
WORKERS = 4


@dataclass(frozen=True, slots=True)
class LocalStore:
    path: Path
    trust: Trust

    @property
    def url(self) -> str:
        return str(self.path)

    def get_manifest(self, key: str) -> CacheHit | None:
        for area in readable_areas(self.trust):
            file = self.path / manifest_name(area, key)
            try:
                if file.stat().st_size > MAX_MANIFEST_BYTES:
                    raise CacheError(f"manifest {key} in {self.url} is too big to read")
                data = file.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as e:
                raise CacheError(f"cannot read manifest {key} in {self.url}: {e}") from e
            return CacheHit(manifest=decode_manifest(data, key=key), area=area)
        return None

    def put_manifest(self, manifest: Manifest) -> None:
        data = encode_manifest(manifest)
        dest = self.path / manifest_name(self._writable(), manifest.key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(dest, data)

    def delete_manifests(self, keys: Collection[str]) -> None:
        area = self._writable()
        for key in keys:
            (self.path / manifest_name(area, key)).unlink(missing_ok=True)

    def missing_objects(self, digests: Collection[str]) -> set[str]:
        area = self._writable()
        return {d for d in digests if not (self.path / object_name(area, d)).is_file()}

    def put_objects(self, files: Mapping[str, Path], *, progress: Progress | None = None) -> None:
        area = self._writable()

        def put(item: tuple[str, Path]) -> None:
            digest, source = item
            dest = self.path / object_name(area, digest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                ok = write_verified(
                    read_chunks(source), dest, digest, progress=progress, mode=0o444, seal=True
                )
            except OSError as e:
                raise CacheError(f"cannot store {source} in cache {self.url}: {e}") from e
            if not ok:
                raise changed_while_caching(source, digest)

        run_parallel(put, sorted(files.items()), workers=WORKERS)

    def get_objects(
        self,
        wanted: Mapping[str, Path],
        *,
        area: Area,
        progress: Progress | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        check_readable(self.trust, area, self.url)

        def get(item: tuple[str, Path]) -> str | None:
            digest, dest = item
            source = self.path / object_name(area, digest)
            try:
                stored = _open_object(source)
            except FileNotFoundError:
                return digest
            except _NotAnObject:
                self._discard(area, source)
                return digest
            try:
                with stored:
                    st = os.fstat(stored.fileno())
                    if is_sealed(st, digest):  # verified when written, untouched since
                        copy_to(stored, st.st_size, dest, progress=progress)
                        return None
                    chunks = iter(lambda: stored.read(CHUNK), b"")
                    limit = (sizes or {}).get(digest)
                    ok = write_verified(chunks, dest, digest, progress=progress, max_size=limit)
            except OSError as e:
                raise CacheError(f"cannot copy object {digest} to {dest}: {e}") from e
            if not ok:
                self._discard(area, source)
                return digest
            return None

        results = run_parallel(get, sorted(wanted.items()), workers=WORKERS)
        bad = {digest for digest in results if digest is not None}
        if bad:
            raise corrupt_objects(self.url, area, bad)

    def list_manifest_keys(self) -> Iterator[str]:
        folder = self.path / manifests_dir(self._writable())
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        return filter(None, map(key_of, names))

    def list_objects(self) -> Iterator[str]:
        folder = self.path / objects_dir(self._writable())
        fanouts = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        names = (f"{d.name}/{n}" for d in fanouts for n in sorted(p.name for p in d.iterdir()))
        return filter(None, map(digest_of, names))

    def delete_objects(self, digests: Collection[str]) -> None:
        area = self._writable()
        for digest in digests:
            (self.path / object_name(area, digest)).unlink(missing_ok=True)

    def _writable(self) -> Area:
        return writable_area(self.trust, self.url)

    def _discard(self, area: Area, source: Path) -> None:
        """Delete a corrupt object if this store may write its area, so a push repairs it."""
        if may_write(self.trust, area):
            source.unlink(missing_ok=True)


class _NotAnObject(Exception):
    """Something other than a regular file sits where an object should be."""


def _open_object(path: Path) -> BinaryIO:
    """An object for reading: never through a symlink (one to /dev/zero would stream forever)
    and never a FIFO (opening one blocks), both of which only tampering can put there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _NotAnObject(path) from e
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _NotAnObject(path)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")
