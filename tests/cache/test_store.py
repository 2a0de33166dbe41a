"""Behaviour every store shares, run against a local directory and an S3 bucket (moto)."""

from __future__ import annotations

import json
import multiprocessing
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from ci_ml.cache import Area, CacheStore, OutputEntry, Trust
from ci_ml.cache.manifest import encode_manifest
from ci_ml.cache.outputs import restore, snapshot
from ci_ml.errors import CacheError, CorruptObjectError
from tests.cache import push_worker
from tests.cache.conftest import KEY, OTHER_KEY, Backend, make_manifest, sha

OUTS = ["model.bin", "data"]


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def push(store: CacheStore, root: Path, outs: list[str], *, key: str = KEY) -> list[OutputEntry]:
    outputs, files = snapshot(root, outs)
    store.put_objects({d: files[d] for d in store.missing_objects(files)})
    store.put_manifest(make_manifest(outputs, key=key))
    return outputs


def read_tree(root: Path) -> dict[str, bytes | str]:
    """Every file (its bytes) and symlink (its target) under root, by relative path."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            found[rel] = path.read_bytes()
    return found


def object_name(digest: str, area: str = "trusted") -> str:
    return f"{area}/objects/{digest[:2]}/{digest[2:]}"


@pytest.fixture
def sample(project: Path) -> Path:
    write_tree(
        project,
        {
            "model.bin": b"weights" * 1000,
            "data/train.csv": b"a,b\n1,2\n",
            "data/nested/deep/test.csv": b"a,b\n3,4\n",
            "data/copy.csv": b"a,b\n1,2\n",
            "data/empty.txt": b"",
        },
    )
    (project / "model.bin").chmod(0o755)
    (project / "data" / "latest.csv").symlink_to("nested/deep/test.csv")
    return project


def test_push_then_restore_round_trips_files_dirs_links_and_modes(
    backend: Backend, sample: Path, tmp_path: Path
) -> None:
    store = backend.open()
    push(store, sample, OUTS)
    expected = read_tree(sample)
    other = tmp_path / "clone"
    write_tree(other, {"data/stale.csv": b"old", "model.bin": b"old"})

    hit = store.get_manifest(KEY)
    assert hit is not None
    assert hit.area is Area.TRUSTED
    restore(hit, store, other, OUTS)

    assert read_tree(other) == expected
    assert os.access(other / "model.bin", os.X_OK)
    assert not os.access(other / "data" / "train.csv", os.X_OK)
    assert sorted(p.name for p in other.iterdir()) == ["data", "model.bin"]  # no temp left


def test_identical_content_is_stored_once(backend: Backend, sample: Path) -> None:
    store = backend.open()
    outputs = push(store, sample, OUTS)

    digests = make_manifest(outputs).digests()
    assert sorted(store.list_objects()) == list(digests)
    assert len(digests) == 4  # five files; train.csv and copy.csv share one object
    assert store.missing_objects(digests) == set()


def test_flipped_byte_is_detected_removed_and_repaired_by_the_next_push(
    backend: Backend, sample: Path, tmp_path: Path
) -> None:
    store = backend.open()
    push(store, sample, OUTS)
    digest = sha((sample / "model.bin").read_bytes())
    data = bytearray(backend.read_raw(object_name(digest)) or b"")
    data[100] ^= 0x01
    backend.write_raw(object_name(digest), bytes(data))
    hit = store.get_manifest(KEY)
    assert hit is not None

    with pytest.raises(CorruptObjectError) as caught:
        restore(hit, store, tmp_path / "clone", OUTS)

    assert caught.value.digests == (digest,)
    assert "stage 'train'" in str(caught.value)
    assert KEY in str(caught.value)
    assert not (tmp_path / "clone" / "model.bin").exists()
    assert store.missing_objects([digest]) == {digest}
    push(store, sample, OUTS)  # what the executor does after re-running the stage
    restore(hit, store, tmp_path / "clone", OUTS)
    assert (tmp_path / "clone" / "model.bin").read_bytes() == (sample / "model.bin").read_bytes()


def test_missing_object_raises_corrupt_object_error_naming_stage_and_key(
    backend: Backend, sample: Path, tmp_path: Path
) -> None:
    store = backend.open()
    outputs, files = snapshot(sample, OUTS)
    store.put_manifest(make_manifest(outputs))  # wrongly, without its objects
    hit = store.get_manifest(KEY)
    assert hit is not None

    with pytest.raises(CorruptObjectError, match=f"stage 'train' \\(key {KEY}\\)") as caught:
        restore(hit, store, tmp_path / "clone", OUTS)

    assert set(caught.value.digests) == set(files)
    assert not (tmp_path / "clone" / "data").exists()


def test_objects_without_manifest_are_a_miss_and_the_next_push_completes(
    backend: Backend, sample: Path, tmp_path: Path
) -> None:
    store = backend.open()
    _, files = snapshot(sample, OUTS)
    store.put_objects(files)  # ... and the runner dies before the manifest

    assert store.get_manifest(KEY) is None
    assert store.missing_objects(files) == set()
    push(store, sample, OUTS)
    hit = store.get_manifest(KEY)
    assert hit is not None
    restore(hit, store, tmp_path / "clone", OUTS)
    assert read_tree(tmp_path / "clone") == read_tree(sample)


def test_concurrent_pushes_of_one_key_both_succeed_and_agree(
    backend: Backend, tmp_path: Path
) -> None:
    roots = []
    for n in range(2):
        root = tmp_path / f"runner{n}"
        write_tree(root, {"model.bin": bytes([n]) * 300_000, "data/x.csv": f"{n}\n".encode()})
        roots.append(root)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=push_worker.push, args=(backend.url, str(r), OUTS, barrier, 5))
        for r in roots
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert [w.exitcode for w in workers] == [0, 0]
    store = backend.open()
    hit = store.get_manifest(KEY)
    assert hit is not None
    restore(hit, store, tmp_path / "clone", OUTS)
    assert read_tree(tmp_path / "clone") in [read_tree(root) for root in roots]


def test_untrusted_store_writes_only_the_untrusted_area(backend: Backend, sample: Path) -> None:
    store = backend.open(Trust.UNTRUSTED)
    outputs = push(store, sample, OUTS)

    digest = make_manifest(outputs).digests()[0]
    assert backend.read_raw(f"untrusted/manifests/{KEY}.json") is not None
    assert backend.read_raw(object_name(digest, "untrusted")) is not None
    assert backend.read_raw(f"trusted/manifests/{KEY}.json") is None
    assert backend.read_raw(object_name(digest)) is None
    hit = store.get_manifest(KEY)
    assert hit is not None
    assert hit.area is Area.UNTRUSTED
    assert backend.open(Trust.TRUSTED).get_manifest(KEY) is None


def test_trusted_store_never_reads_an_untrusted_manifest(backend: Backend, sample: Path) -> None:
    outputs, _ = snapshot(sample, OUTS)
    planted = make_manifest(outputs)
    backend.open(Trust.UNTRUSTED).put_manifest(planted)

    trusted = backend.open(Trust.TRUSTED)
    assert trusted.get_manifest(KEY) is None
    with pytest.raises(CacheError, match="may not read the untrusted area"):
        trusted.get_objects({}, area=Area.UNTRUSTED)


def test_untrusted_store_prefers_the_trusted_manifest(backend: Backend, project: Path) -> None:
    write_tree(project, {"model.bin": b"main"})
    push(backend.open(Trust.TRUSTED), project, ["model.bin"])
    write_tree(project, {"model.bin": b"pull request"})
    push(backend.open(Trust.UNTRUSTED), project, ["model.bin"])
    write_tree(project, {"model.bin": b"pull request, other key"})
    push(backend.open(Trust.UNTRUSTED), project, ["model.bin"], key=OTHER_KEY)

    for trust in (Trust.UNTRUSTED, Trust.READ_ONLY):
        store = backend.open(trust)
        hit, other = store.get_manifest(KEY), store.get_manifest(OTHER_KEY)
        assert hit is not None
        assert other is not None
        assert (hit.area, other.area) == (Area.TRUSTED, Area.UNTRUSTED)
        assert hit.manifest.outputs[0].digest == sha(b"main")


def test_read_only_store_refuses_every_write(backend: Backend, sample: Path) -> None:
    store = backend.open(Trust.READ_ONLY)
    outputs, files = snapshot(sample, OUTS)
    writes: list[Callable[[], object]] = [
        lambda: store.put_objects(files),
        lambda: store.put_manifest(make_manifest(outputs)),
        lambda: store.missing_objects(files),
        lambda: store.delete_objects(files),
        lambda: store.delete_manifests([KEY]),
        lambda: list(store.list_objects()),
    ]
    for write in writes:
        with pytest.raises(CacheError, match="open read-only"):
            write()
    assert backend.read_raw(f"trusted/manifests/{KEY}.json") is None


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ({"path": "../escape.txt", "type": "file"}, "goes up with '..'"),
        ({"path": "/etc/passwd", "type": "file"}, "is absolute"),
        ({"path": "data/../../b", "type": "file"}, "goes up with '..'"),
        ({"path": "data\\..\\x", "type": "file"}, "backslash"),
        ({"path": "data", "type": "dir", "link": "../../outside"}, "points outside"),
        ({"path": "data", "type": "dir", "link": "/etc"}, "absolute or malformed"),
    ],
)
def test_hostile_manifest_is_refused_naming_the_key(
    backend: Backend, output: dict[str, str], problem: str
) -> None:
    empty = sha(b"")
    backend.write_raw(object_name(empty), b"")
    entry: dict[str, object] = {"path": output["path"], "type": output["type"], "size": 0}
    if output["type"] == "file":
        entry.update(digest=empty, executable=False)
    else:
        entry.update(files=[], links=[{"path": "evil", "target": output["link"]}])
    doc = json.loads(encode_manifest(make_manifest([])))
    doc["outputs"] = [entry]
    backend.write_raw(f"trusted/manifests/{KEY}.json", json.dumps(doc).encode())

    with pytest.raises(CacheError, match=problem) as caught:
        backend.open().get_manifest(KEY)

    assert KEY in str(caught.value)


def test_manifest_outside_the_stage_outs_is_not_restored(
    backend: Backend, sample: Path, tmp_path: Path
) -> None:
    store = backend.open()
    push(store, sample, OUTS)
    hit = store.get_manifest(KEY)
    assert hit is not None

    with pytest.raises(CacheError, match="'data', which is not among the stage's outs"):
        restore(hit, store, tmp_path / "clone", ["model.bin"])
    assert not (tmp_path / "clone").exists()


def test_gc_listing_and_deleting(backend: Backend, sample: Path) -> None:
    store = backend.open()
    outputs = push(store, sample, OUTS)
    push(store, sample, ["model.bin"], key=OTHER_KEY)
    digests = make_manifest(outputs).digests()

    assert list(store.list_manifest_keys()) == [KEY, OTHER_KEY]
    store.delete_manifests([OTHER_KEY])
    store.delete_objects(digests[:2])
    assert list(store.list_manifest_keys()) == [KEY]
    assert list(store.list_objects()) == list(digests[2:])


def test_pulling_64_mib_keeps_memory_flat(backend: Backend, project: Path, tmp_path: Path) -> None:
    big = project / "model.bin"
    with big.open("wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    store = backend.open()
    push(store, project, ["model.bin"])
    hit = store.get_manifest(KEY)
    assert hit is not None

    tracemalloc.start()
    try:
        restore(hit, store, tmp_path / "clone", ["model.bin"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 16 << 20
    assert sha((tmp_path / "clone" / "model.bin").read_bytes()) == sha(big.read_bytes())


def test_a_file_that_changed_since_snapshot_is_not_stored(backend: Backend, sample: Path) -> None:
    store = backend.open()
    _, files = snapshot(sample, ["model.bin"])
    (sample / "model.bin").write_bytes(b"changed after the snapshot")

    with pytest.raises(CacheError, match="changed while it was being cached"):
        store.put_objects(files)
    assert store.missing_objects(files) == set(files)
