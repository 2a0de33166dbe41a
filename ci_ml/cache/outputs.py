"""Snapshot a stage's outputs into manifest entries, and restore them from a store.

`snapshot` hashes declared outputs (files and directories) on a thread pool.
`restore` treats the manifest as hostile: every path must be one of the stage's declared outs
or inside one, symlinks must resolve inside their output, every byte is verified against its
digest, and nothing in the workspace changes until every output has been fetched into a temp
file or directory beside its final place. Each output is then swapped in with a rename, so a
restored directory holds exactly the manifest's files, with no stale ones left over.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ci_ml.cache.layout import CacheHit
from ci_ml.cache.manifest import FileEntry, LinkEntry, OutputEntry, check_manifest
from ci_ml.cache.packs import get_entries
from ci_ml.cache.progress import Progress
from ci_ml.cache.safe_paths import check_link_target, check_path
from ci_ml.cache.transfer import run_parallel, sha256_file_stat
from ci_ml.errors import CacheError, CorruptObjectError

if TYPE_CHECKING:
    from ci_ml.cache.store import CacheStore

HASH_WORKERS = max(2, os.cpu_count() or 2)
# Files are hashed in batches, each on one worker: a pool task per file costs more than
# hashing a small one (1,000 files of 20 KiB: 0.05 s through the pool, 0.03 s in one thread),
# while big files still spread over the cores. A batch holds up to BATCH_FILES files and
# about a quarter of a worker's share of the bytes, within BATCH_MIN_BYTES..BATCH_MAX_BYTES.
BATCH_FILES = 256
BATCH_MIN_BYTES = 1 << 20
BATCH_MAX_BYTES = 64 << 20

# A file found in an output: its path relative to the output ('' for a file output), where it
# is, and its size when found (which sizes the hashing batches).
_Found = tuple[str, Path, int]
# What hashing a file found: its digest, size and executable bit, from the bytes it read.
_Facts = tuple[str, int, bool]


def snapshot(root: Path, out_paths: Sequence[str]) -> tuple[list[OutputEntry], dict[str, Path]]:
    """Entries for the outputs at `out_paths` (relative to root), and digest -> a file with it."""
    try:
        found = [_scan(root, out) for out in sorted(set(out_paths))]
        files = [file for _, found_files, _ in found for file in found_files]
        facts = _hash_files(files)
        entries = [_entry(out, found_files, links, facts) for out, found_files, links in found]
    except OSError as e:
        raise CacheError(f"cannot read the stage's outputs to cache them: {e}") from e
    by_digest: dict[str, Path] = {}
    for _, source, _ in files:
        by_digest.setdefault(facts[source][0], source)
    return entries, by_digest


def _hash_files(files: list[_Found]) -> dict[Path, _Facts]:
    batches = _batches(files, HASH_WORKERS)
    hashed = run_parallel(_hash_batch, batches, workers=HASH_WORKERS)
    return {
        source: facts
        for batch, done in zip(batches, hashed, strict=True)
        for source, facts in zip(batch, done, strict=True)
    }


def _batches(files: list[_Found], workers: int) -> list[list[Path]]:
    """`files` in batches for `workers` (see BATCH_FILES); a big file is a batch of its own."""
    total = sum(size for _, _, size in files)
    target = min(BATCH_MAX_BYTES, max(BATCH_MIN_BYTES, total // (workers * 4)))
    batches: list[list[Path]] = []
    batch: list[Path] = []
    held = 0
    for _, source, size in files:
        if batch and (held + size > target or len(batch) >= BATCH_FILES):
            batches.append(batch)
            batch, held = [], 0
        batch.append(source)
        held += size
    return [*batches, batch] if batch else batches


def _hash_batch(sources: list[Path]) -> list[_Facts]:
    facts = []
    for source in sources:
        digest, st = sha256_file_stat(source)
        facts.append((digest, st.st_size, bool(st.st_mode & stat.S_IXUSR)))
    return facts


def _scan(root: Path, out: str) -> tuple[str, list[_Found], list[LinkEntry]]:
    """(out, files found, links) for one output."""
    try:
        check_path(out, "output")
    except ValueError as e:
        raise CacheError(f"cannot cache {e}") from e
    path = root / out
    try:
        found = path.lstat()
    except FileNotFoundError:
        found = None
    mode = found.st_mode if found else 0
    if stat.S_ISLNK(mode):
        raise CacheError(
            f"output {out!r} is a symlink; ci-ml caches files and directories only."
            " Make the stage write a real file or directory there."
        )
    if found and stat.S_ISREG(mode):
        return out, [("", path, found.st_size)], []
    if not stat.S_ISDIR(mode):
        raise CacheError(
            f"output {out!r} does not exist after the stage ran: the stage must create every"
            " path in its outs, or the outs list must drop it."
        )
    files: list[_Found] = []
    links: list[LinkEntry] = []
    folders = [(path, "")]
    while folders:
        folder, prefix = folders.pop()
        for entry in _list_dir(folder):
            rel = prefix + entry.name
            # DirEntry's lstat: the kind and the size from one system call per entry.
            kind = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(kind.st_mode):
                links.append(_link(out, path, Path(entry.path), rel))
            elif stat.S_ISDIR(kind.st_mode):
                folders.append((Path(entry.path), rel + "/"))
            elif stat.S_ISREG(kind.st_mode):
                files.append((_checked(out, rel), Path(entry.path), kind.st_size))
            else:
                raise CacheError(f"output {out!r} contains {rel!r}, which is not a regular file")
    return out, sorted(files), sorted(links, key=lambda link: link.path)


def _list_dir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as e:
        raise CacheError(f"cannot read output directory {e.filename}: {e.strerror}") from e


def _link(out: str, top: Path, full: Path, rel: str) -> LinkEntry:
    target = str(full.readlink())
    try:
        check_link_target(_checked(out, rel), target)
        Path(os.path.realpath(full)).relative_to(os.path.realpath(top))
    except ValueError as e:
        raise CacheError(
            f"output {out!r} holds symlink {rel!r} -> {target!r}, which ci-ml cannot restore"
            f" safely ({e}). Use a relative link to a path inside {out!r}, or a copy."
        ) from e
    return LinkEntry(path=rel, target=target)


def _checked(out: str, rel: str) -> str:
    try:
        return check_path(rel, f"{out!r} entry")
    except ValueError as e:
        raise CacheError(f"cannot cache output {out!r}: {e}") from e


def _entry(
    out: str, files: list[_Found], links: list[LinkEntry], facts: dict[Path, _Facts]
) -> OutputEntry:
    if files and files[0][0] == "":
        digest, size, executable = facts[files[0][1]]
        return OutputEntry(path=out, type="file", size=size, digest=digest, executable=executable)
    entries = []
    for rel, source, _ in files:
        digest, size, executable = facts[source]
        entries.append(FileEntry(path=rel, digest=digest, size=size, executable=executable))
    total = sum(entry.size for entry in entries)
    return OutputEntry(path=out, type="dir", size=total, files=tuple(entries), links=tuple(links))


# Restore


@dataclass(frozen=True, slots=True)
class _Planned:
    out: OutputEntry
    final: Path
    temp: Path


def restore(
    hit: CacheHit,
    store: CacheStore,
    root: Path,
    allowed_outs: Sequence[str],
    *,
    progress: Progress | None = None,
) -> None:
    """Put the outputs `hit.manifest` names in place under `root`, or change nothing.

    `allowed_outs` are the stage's declared outs. Raises CacheError for a manifest that names
    anything else, and CorruptObjectError (naming stage and key) for missing or bad objects.
    """
    manifest = hit.manifest
    where = f"stage {manifest.stage!r} (key {manifest.key})"
    check_manifest(manifest)
    _check_allowed([out.path for out in manifest.outputs], allowed_outs, where)
    token = secrets.token_hex(4)
    planned = [_plan(out, root, token, where) for out in manifest.outputs]
    try:
        files = [item for plan in planned for item in _prepare(plan)]
        _fetch(files, store, hit, where, root, progress)
        for plan in planned:
            _make_links(plan, where)
        for plan in planned:
            _swap(plan)
    except OSError as e:
        raise CacheError(f"{where}: cannot restore its outputs: {e}") from e
    finally:
        for plan in planned:
            _remove(plan.temp)


def _check_allowed(paths: list[str], allowed_outs: Sequence[str], where: str) -> None:
    allowed = sorted({posixpath.normpath(out) for out in allowed_outs})
    for path in paths:
        if not any(path == out or path.startswith(out + "/") for out in allowed):
            raise CacheError(
                f"{where}: the cached manifest names output {path!r}, which is not among the"
                f" stage's outs ({', '.join(allowed) or 'none'}). Refusing to restore it; delete"
                " the manifest from the cache so the stage runs again."
            )


def _plan(out: OutputEntry, root: Path, token: str, where: str) -> _Planned:
    final = root / out.path
    # An existing symlink among the parent directories could lead outside the project.
    try:
        final.parent.resolve().relative_to(root.resolve())
    except ValueError as e:
        raise CacheError(
            f"{where}: the parent of output {out.path!r} leads outside the project"
            f" ({final.parent.resolve()}); refusing to restore through it."
        ) from e
    return _Planned(out=out, final=final, temp=final.parent / f".{final.name}.ci-ml-{token}")


_Item = tuple[Path, FileEntry]  # where a file goes, and what the manifest says of it


def _prepare(plan: _Planned) -> list[_Item]:
    """Create the temp directory for `plan`; return the files to put in it."""
    plan.final.parent.mkdir(parents=True, exist_ok=True)
    out = plan.out
    if out.type == "file":
        # check_manifest: a file has its digest
        entry = FileEntry(
            path=out.path, digest=out.digest or "", size=out.size, executable=out.executable
        )
        return [(plan.temp, entry)]
    plan.temp.mkdir()
    items = []
    for entry in out.files:
        dest = plan.temp / entry.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        items.append((dest, entry))
    return items


def _fetch(
    files: list[_Item],
    store: CacheStore,
    hit: CacheHit,
    where: str,
    root: Path,
    progress: Progress | None,
) -> None:
    """Download each digest once, copy it to its other destinations, then set exec bits."""
    first: dict[str, Path] = {}
    wanted: list[tuple[FileEntry, Path]] = []
    for dest, entry in files:
        if entry.digest not in first:
            first[entry.digest] = dest
            wanted.append((entry, dest))
    try:
        get_entries(store, wanted, area=hit.area, root=root, progress=progress)
    except CorruptObjectError as e:
        raise CorruptObjectError(
            f"{where}: cannot restore its outputs: {e}. Run the stage again and push its"
            " outputs, even though the manifest exists.",
            digests=e.digests,
        ) from e
    for dest, entry in files:
        if first[entry.digest] != dest:
            shutil.copyfile(first[entry.digest], dest)
        if entry.executable:
            mode = dest.stat().st_mode
            dest.chmod(mode | (mode & 0o444) >> 2)  # x wherever r is set, as git does


def _make_links(plan: _Planned, where: str) -> None:
    """Create symlinks after the files, then check each really resolves inside the output."""
    for link in plan.out.links:
        path = plan.temp / link.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(link.target)
    top = os.path.realpath(plan.temp)
    for link in plan.out.links:
        # The manifest check is lexical; a chain of links can still climb out, so ask the OS.
        resolved = os.path.realpath(plan.temp / link.path)
        if os.path.commonpath([top, resolved]) != top:
            raise CacheError(
                f"{where}: symlink {plan.out.path}/{link.path} -> {link.target!r} resolves"
                " outside its output; refusing to restore it."
            )


def _swap(plan: _Planned) -> None:
    """Move the fetched output into place; a directory replaces the old one entirely."""
    final = plan.final
    if plan.out.type == "file":
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        plan.temp.replace(final)
        return
    old = final.parent / f".{final.name}.ci-ml-old-{secrets.token_hex(4)}"
    if final.is_dir() and not final.is_symlink():
        final.rename(old)
    elif final.is_symlink() or final.exists():
        final.unlink()
    plan.temp.rename(final)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()
