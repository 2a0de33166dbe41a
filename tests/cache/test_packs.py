"""Packs: many small files pushed as a few objects, restored each checked against its digest,
against both stores (a local directory and an S3 bucket on a moto server)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ci_ml.cache import CacheHit, FileEntry, Manifest, OutputEntry, restore, snapshot
from ci_ml.cache.layout import manifest_name, object_name
from ci_ml.cache.manifest import encode_manifest
from ci_ml.cache.packs import MEMBER_MAX, MIN_MEMBERS, PACK_TARGET, plan_packs
from ci_ml.errors import CacheError, CorruptObjectError
from ci_ml.report.data import _file_from_entry
from ci_ml.run import push_manifest
from tests.cache.conftest import KEY, OTHER_KEY, Backend, _local_backend, make_manifest, sha

SMALL_FILES = 40


def manifest_of(*outputs: OutputEntry) -> Manifest:
    return make_manifest(list(outputs))


def dir_of(sizes: dict[str, int]) -> OutputEntry:
    files = tuple(
        FileEntry(path=f"f{n}", digest=digest, size=size)
        for n, (digest, size) in enumerate(sizes.items())
    )
    return OutputEntry(path="d", type="dir", size=sum(sizes.values()), files=files)


def test_too_few_small_files_are_not_packed() -> None:
    sizes = {f"{n:064x}": 10 for n in range(MIN_MEMBERS - 1)}
    assert plan_packs(manifest_of(dir_of(sizes)), set(sizes)) == []


def test_only_missing_small_directory_files_are_packed_in_digest_order() -> None:
    small = {f"{n:064x}": 10 for n in range(MIN_MEMBERS)}
    big, present, file_out = "b" * 64, "c" * 64, "d" * 64
    sizes = {**small, big: MEMBER_MAX + 1, present: 10, file_out: 10}
    manifest = manifest_of(
        dir_of(dict(reversed(sizes.items()))),
        OutputEntry(path="model.pkl", type="file", size=10, digest=file_out),
    )
    packs = plan_packs(manifest, set(sizes) - {present})
    # The big file goes alone; so does the file output's content, wherever else it appears.
    assert packs == [tuple(sorted(small.items()))]


def test_packs_hold_about_the_target_size_and_the_same_files_make_the_same_packs() -> None:
    sizes = {f"{n:064x}": MEMBER_MAX for n in range(PACK_TARGET // MEMBER_MAX * 2 + 3)}
    packs = plan_packs(manifest_of(dir_of(sizes)), set(sizes))
    assert [sum(size for _, size in pack) for pack in packs] == [
        PACK_TARGET,
        PACK_TARGET,
        3 * MEMBER_MAX,
    ]
    shuffled = manifest_of(dir_of(dict(sorted(sizes.items(), reverse=True))))
    assert plan_packs(shuffled, set(sizes)) == packs


def make_output(project: Path) -> Path:
    """`out/`: SMALL_FILES small files (two with the same bytes, one executable), one file
    too big to pack, and a symlink."""
    out = project / "out"
    (out / "sub").mkdir(parents=True)
    for n in range(SMALL_FILES):
        (out / "sub" / f"part-{n:03d}.csv").write_text(f"row,{n}\n" * (n + 1))
    (out / "copy.csv").write_text("row,0\n")
    (out / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (out / "run.sh").chmod(0o755)
    (out / "big.bin").write_bytes(os.urandom(MEMBER_MAX + 1))
    (out / "latest.csv").symlink_to("sub/part-001.csv")
    return out


def tree(root: Path) -> dict[str, tuple[bytes | str, bool]]:
    found: dict[str, tuple[bytes | str, bool]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = (str(path.readlink()), False)
        elif path.is_file():
            found[rel] = (path.read_bytes(), os.access(path, os.X_OK))
    return found


def push(backend: Backend, project: Path) -> CacheHit:
    store = backend.open()
    outputs, files = snapshot(project, ["out"])
    push_manifest(store, make_manifest(outputs), files, {})
    hit = store.get_manifest(KEY)
    assert hit is not None
    return hit


def test_small_files_go_up_in_one_pack_and_come_back_exact(
    backend: Backend, project: Path, tmp_path: Path
) -> None:
    original = tree(make_output(project))
    hit = push(backend, project)

    store = backend.open()
    entries = hit.manifest.outputs[0].files
    packs = {entry.pack for entry in entries if entry.pack}
    assert len(packs) == 1
    unpacked = sorted(entry.path for entry in entries if entry.pack is None)
    assert unpacked == ["big.bin"]
    # One pack and the big file: not 42 objects.
    assert sorted(store.list_objects()) == sorted(
        {*packs, sha((project / "out/big.bin").read_bytes())}
    )
    assert json.loads(backend.read_raw(manifest_name(hit.area, KEY)) or b"")["version"] == 2

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    restore(hit, store, elsewhere, ["out"])
    assert tree(elsewhere / "out") == original
    assert [p.name for p in (elsewhere / ".ci-ml").iterdir()] == [".gitignore"]  # no pack left


def test_gc_keeps_the_pack_and_the_same_files_under_another_key_share_it(
    backend: Backend, project: Path
) -> None:
    make_output(project)
    hit = push(backend, project)
    store = backend.open()
    assert set(hit.manifest.digests()) == set(store.list_objects())  # what gc keeps

    outputs, files = snapshot(project, ["out"])
    push_manifest(store, make_manifest(outputs, key=OTHER_KEY), files, {})
    other = store.get_manifest(OTHER_KEY)
    assert other is not None
    assert other.manifest.digests() == hit.manifest.digests()
    assert set(store.list_objects()) == set(hit.manifest.digests())


def test_a_pack_already_in_the_store_is_not_sent_again(tmp_path: Path, project: Path) -> None:
    make_output(project)
    backend = _local_backend(tmp_path)
    hit = push(backend, project)
    pack = next(entry.pack for entry in hit.manifest.outputs[0].files if entry.pack)
    assert pack is not None
    stored = tmp_path / "cache" / object_name(hit.area, pack)
    before = stored.stat()

    outputs, files = snapshot(project, ["out"])
    push_manifest(backend.open(), make_manifest(outputs, key=OTHER_KEY), files, {})
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_corrupt_pack_restores_nothing(backend: Backend, project: Path, tmp_path: Path) -> None:
    make_output(project)
    hit = push(backend, project)
    pack = next(entry.pack for entry in hit.manifest.outputs[0].files if entry.pack)
    assert pack is not None
    name = object_name(hit.area, pack)
    data = bytearray(backend.read_raw(name) or b"")
    data[10] ^= 1
    backend.write_raw(name, bytes(data))

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "out").mkdir(parents=True)
    (elsewhere / "out" / "mine.txt").write_text("keep me")
    with pytest.raises(CorruptObjectError, match=pack):
        restore(hit, backend.open(), elsewhere, ["out"])
    assert tree(elsewhere / "out") == {"mine.txt": (b"keep me", False)}


def _lying(hit: CacheHit, change: dict[str, object]) -> bytes:
    """The manifest of `hit`, re-encoded with the first packed entry changed."""
    doc = json.loads(encode_manifest(hit.manifest))
    entry = next(e for e in doc["outputs"][0]["files"] if "pack" in e)
    entry.update(change)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("offset", [1, 1 << 40])
def test_a_manifest_whose_offsets_lie_restores_nothing(
    backend: Backend, project: Path, tmp_path: Path, offset: int
) -> None:
    """An attacker who may write manifests points a file at other bytes of a genuine pack (or
    past its end): each cut file is checked against its own digest, so nothing lands."""
    make_output(project)
    hit = push(backend, project)
    backend.write_raw(manifest_name(hit.area, KEY), _lying(hit, {"offset": offset}))
    forged = backend.open().get_manifest(KEY)
    assert forged is not None

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(CorruptObjectError, match="cannot restore its outputs"):
        restore(forged, backend.open(), elsewhere, ["out"])
    assert not (elsewhere / "out").exists()


def test_a_file_changed_after_the_snapshot_is_not_packed(backend: Backend, project: Path) -> None:
    out = make_output(project)
    store = backend.open()
    outputs, files = snapshot(project, ["out"])
    (out / "sub" / "part-005.csv").write_text("changed after the run\n")
    with pytest.raises(CacheError, match=r"part-005\.csv changed while it was being cached"):
        push_manifest(store, make_manifest(outputs), files, {})
    assert store.get_manifest(KEY) is None


def test_the_report_reads_a_base_file_out_of_its_pack(backend: Backend, project: Path) -> None:
    make_output(project)
    hit = push(backend, project)
    assert _file_from_entry(backend.open(), hit, "out/sub/part-002.csv") == b"row,2\n" * 3
    assert _file_from_entry(backend.open(), hit, "out/sub/missing.csv") is None
    # Reading one file fetched the whole pack, which is fine: it is not taken for corrupt.
    assert set(backend.open().list_objects()) == set(hit.manifest.digests())
