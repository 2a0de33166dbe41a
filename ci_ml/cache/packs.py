"""Packs: the many small files of a push sent as a few objects.

Every object is a request of its own, and for small files the request, not the bytes, sets
the pace (and the bill, on S3): 1,000 files of 20 KiB are 1,000 PUTs. So a push gathers the
small files it must upload (each at most MEMBER_MAX bytes, when there are at least
MIN_MEMBERS of them) into packs of about PACK_TARGET bytes. A pack is its members' bytes
concatenated in digest order, nothing else, stored as an ordinary object under its own sha256;
the manifest (version 2) says for each packed file which pack holds it and at what offset.

Restore downloads a pack like any object, verified against the pack's digest, then cuts the
files out of it, each verified against its own digest and size as it is written, so a
manifest whose offsets lie restores nothing. Nothing else changes: gc keeps a pack while a
manifest names it, the trust areas apply to packs as to any object, and only directory
entries are packed (a file output stays an object of its own, so the report can fetch it).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ci_ml.cache.layout import Area, corrupt_objects
from ci_ml.cache.manifest import FileEntry, Manifest, OutputEntry
from ci_ml.cache.progress import Progress
from ci_ml.cache.transfer import (
    CHUNK,
    FileRange,
    changed_while_caching,
    remember_digest,
    write_verified,
)
from ci_ml.errors import CacheError
from ci_ml.state import state_dir

if TYPE_CHECKING:
    from ci_ml.cache.store import CacheStore

MEMBER_MAX = 256 << 10  # bigger files go alone: their bytes, not the request, set their pace
MIN_MEMBERS = 16  # fewer small files than this cost few requests anyway
PACK_TARGET = 16 << 20  # one PUT part (s3.PART_SIZE); restore fetches packs in parallel
# The most a pack may hold, whatever writes it: a download that streams more is refused, so a
# forged pack cannot fill the disk. Room above PACK_TARGET for future writers.
PACK_MAX = 64 << 20
PACKS_AT_ONCE = 8  # packs written (push) or downloaded (restore) before the next batch

Member = tuple[str, int]  # digest, size
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cut:
    """A packed file to restore: `size` bytes at `offset` of `pack`, into `dest`."""

    digest: str
    pack: str
    offset: int
    size: int
    dest: Path


# Push


@dataclass(frozen=True, slots=True)
class Upload:
    """What a push sends before the manifest: the objects the store lacks, the small ones in
    packs, and how many bytes that is (for the progress bar)."""

    loose: tuple[str, ...]
    packs: tuple[tuple[Member, ...], ...]
    size: int


def plan_upload(store: CacheStore, manifest: Manifest, files: Mapping[str, Path]) -> Upload:
    """The `Upload` for `manifest`, whose objects are `files` (digest -> a file with it)."""
    missing = store.missing_objects(files)
    packs = plan_packs(manifest, missing)
    loose = sorted(missing - {digest for pack in packs for digest, _ in pack})
    size = sum(files[d].stat().st_size for d in loose) + sum(s for p in packs for _, s in p)
    return Upload(tuple(loose), tuple(packs), size)


def upload(
    store: CacheStore,
    manifest: Manifest,
    files: Mapping[str, Path],
    plan: Upload,
    *,
    progress: Progress | None = None,
) -> None:
    """Send `plan`'s objects, then the manifest, saying where each packed file is: never the
    other way round, so a manifest never names a missing object."""
    store.put_objects({digest: files[digest] for digest in plan.loose}, progress=progress)
    located = put_packs(store, plan.packs, files, progress=progress)
    store.put_manifest(with_packs(manifest, located))


def plan_packs(manifest: Manifest, missing: AbstractSet[str]) -> list[tuple[Member, ...]]:
    """The packs to make from the directory files in `missing`, each a tuple of members in
    digest order; [] when too few files are small. Same files, same packs. [pure]"""
    loose = {out.digest for out in manifest.outputs if out.digest is not None}
    sizes = {
        entry.digest: entry.size
        for out in manifest.outputs
        for entry in out.files
        if entry.digest in missing and entry.size <= MEMBER_MAX and entry.digest not in loose
    }
    if len(sizes) < MIN_MEMBERS:
        return []
    packs: list[tuple[Member, ...]] = []
    current: list[Member] = []
    total = 0
    for digest in sorted(sizes):
        if current and total + sizes[digest] > PACK_TARGET:
            packs.append(tuple(current))
            current, total = [], 0
        current.append((digest, sizes[digest]))
        total += sizes[digest]
    packs.append(tuple(current))
    return packs


def with_packs(manifest: Manifest, located: Mapping[str, tuple[str, int]]) -> Manifest:
    """`manifest` with each directory file in `located` (digest -> pack, offset) marked as
    packed there. [pure]"""
    if not located:
        return manifest
    return replace(manifest, outputs=tuple(_located(out, located) for out in manifest.outputs))


def _located(out: OutputEntry, located: Mapping[str, tuple[str, int]]) -> OutputEntry:
    if not any(entry.digest in located for entry in out.files):
        return out
    files = tuple(
        replace(entry, pack=located[entry.digest][0], offset=located[entry.digest][1])
        if entry.digest in located
        else entry
        for entry in out.files
    )
    return replace(out, files=files)


def put_packs(
    store: CacheStore,
    packs: Sequence[tuple[Member, ...]],
    files: Mapping[str, Path],
    *,
    progress: Progress | None = None,
) -> dict[str, tuple[str, int]]:
    """Write each pack to a temp file and upload it; return where each member went (digest ->
    pack digest, offset). At most PACKS_AT_ONCE packs are on disk at a time."""
    located: dict[str, tuple[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="ci-ml-packs-") as tmp:
        for batch in _batches(packs):
            written: dict[str, Path] = {}
            for number, members in enumerate(batch):
                path = Path(tmp) / f"{number}.pack"
                pack, offsets = write_pack(members, files, path)
                written[pack] = path
                located.update((digest, (pack, offset)) for digest, offset in offsets.items())
            # The same files make the same pack: one already there (pushed under another
            # key) is not sent again.
            missing = store.missing_objects(written)
            store.put_objects({pack: written[pack] for pack in missing}, progress=progress)
            if progress is not None:
                sent = set(written) - missing
                progress.advance(sum(written[pack].stat().st_size for pack in sent))
            for path in written.values():
                path.unlink()
    return located


def write_pack(
    members: Sequence[Member], files: Mapping[str, Path], dest: Path
) -> tuple[str, dict[str, int]]:
    """Concatenate `members` into `dest`, checking each is still the file the snapshot hashed;
    return the pack's sha256 and each member's offset."""
    pack = hashlib.sha256()
    offsets: dict[str, int] = {}
    try:
        with dest.open("wb") as out:
            for digest, size in members:
                source = files[digest]
                data = source.read_bytes()  # at most MEMBER_MAX
                if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                    raise changed_while_caching(source, digest)
                offsets[digest] = out.tell()
                out.write(data)
                pack.update(data)
    except OSError as e:
        raise CacheError(f"cannot write a pack of small files to {dest}: {e}") from e
    found = pack.hexdigest()
    remember_digest(dest, found)  # the upload need not read it again to hash it
    return found, offsets


# Restore


def get_entries(
    store: CacheStore,
    wanted: Sequence[tuple[FileEntry, Path]],
    *,
    area: Area,
    root: Path,
    progress: Progress | None = None,
) -> None:
    """Put each entry's bytes at its path (each digest once): an object of its own, or cut
    from its pack, the packs downloaded under `root`'s .ci-ml/ (which git ignores, should a
    crash leave one behind). Raises CorruptObjectError for missing or bad objects."""
    loose = {entry.digest: dest for entry, dest in wanted if entry.pack is None}
    sizes = {entry.digest: entry.size for entry, _ in wanted if entry.pack is None}
    cuts = [
        Cut(entry.digest, entry.pack, entry.offset, entry.size, dest)
        for entry, dest in wanted
        if entry.pack is not None
    ]
    store.get_objects(loose, area=area, progress=progress, sizes=sizes)
    if cuts:
        get_packed(store, cuts, area=area, workdir=state_dir(root), progress=progress)


def get_packed(
    store: CacheStore,
    cuts: Sequence[Cut],
    *,
    area: Area,
    workdir: Path,
    progress: Progress | None = None,
) -> None:
    """Restore each of `cuts` from its pack, downloading every pack once (into a temp
    directory under `workdir`, PACKS_AT_ONCE at a time). Raises CorruptObjectError naming
    the files whose bytes in the pack are not what the manifest says."""
    by_pack: dict[str, list[Cut]] = {}
    for cut in cuts:
        by_pack.setdefault(cut.pack, []).append(cut)
    bad: list[str] = []
    with tempfile.TemporaryDirectory(prefix=".ci-ml-packs-", dir=workdir) as tmp:
        for batch in _batches(sorted(by_pack)):
            paths = {pack: Path(tmp) / pack for pack in batch}
            limits = dict.fromkeys(batch, PACK_MAX)
            store.get_objects(paths, area=area, progress=progress, sizes=limits)
            for pack in batch:
                bad += _cut_all(paths[pack], by_pack[pack])
                paths[pack].unlink()
    if bad:
        raise corrupt_objects(store.url, area, bad)


def _cut_all(pack: Path, cuts: Sequence[Cut]) -> list[str]:
    """Write each cut from the downloaded `pack`; return the digests that did not match."""
    bad = []
    for cut in cuts:
        with FileRange(pack, cut.offset, cut.size) as body:
            if not write_verified(_chunks(body), cut.dest, cut.digest, max_size=cut.size):
                bad.append(cut.digest)
    return bad


def _chunks(body: FileRange) -> Iterator[bytes]:
    while block := body.read(CHUNK):
        yield block


def _batches(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), PACKS_AT_ONCE):
        yield items[start : start + PACKS_AT_ONCE]
