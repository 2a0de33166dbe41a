"""snapshot and restore, against a local store: what they refuse and what they leave behind."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ci_ml.cache import Area, CacheHit, CacheStore, LinkEntry, OutputEntry, Trust, open_store
from ci_ml.cache.outputs import BATCH_FILES, _batches, restore, snapshot
from ci_ml.errors import CacheError, CorruptObjectError
from tests.cache.conftest import KEY, make_manifest, sha


@pytest.fixture
def store(tmp_path: Path) -> CacheStore:
    return open_store(str(tmp_path / "cache"), trust=Trust.TRUSTED, root=tmp_path)


def pushed(store: CacheStore, root: Path, outs: list[str]) -> CacheHit:
    outputs, files = snapshot(root, outs)
    store.put_objects(files)
    store.put_manifest(make_manifest(outputs))
    hit = store.get_manifest(KEY)
    assert hit is not None
    return hit


def test_snapshot_of_a_missing_output_names_it(project: Path) -> None:
    with pytest.raises(
        CacheError, match=re.escape("output 'model.pkl' does not exist after the stage ran")
    ):
        snapshot(project, ["model.pkl"])


def test_snapshot_records_sizes_modes_and_sorted_entries(project: Path) -> None:
    (project / "d" / "z").mkdir(parents=True)
    (project / "d" / "z" / "b").write_bytes(b"bb")
    (project / "d" / "a").write_bytes(b"a")
    (project / "d" / "a").chmod(0o755)

    outputs, files = snapshot(project, ["d"])

    assert [(f.path, f.size, f.executable) for f in outputs[0].files] == [
        ("a", 1, True),
        ("z/b", 2, False),
    ]
    assert outputs[0].size == 3
    assert files == {sha(b"a"): project / "d" / "a", sha(b"bb"): project / "d" / "z" / "b"}


def test_snapshot_of_many_files_in_nested_folders_matches_each_file_hashed_alone(
    project: Path,
) -> None:
    """Hashed in batches on the pool: every file's digest, size and mode are its own."""
    out = project / "data"
    expected = {}
    for i in range(700):
        rel = f"{i % 7}/{i % 3}/f{i}.bin"
        body = bytes([i % 251]) * (i * 37 % 5000)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(body)
        if i % 5 == 0:
            (out / rel).chmod(0o755)
        expected[rel] = (sha(body), len(body), i % 5 == 0)
    big = os.urandom(3 << 20)
    (out / "big.bin").write_bytes(big)
    expected["big.bin"] = (sha(big), len(big), False)

    outputs, files = snapshot(project, ["data"])

    found = {f.path: (f.digest, f.size, f.executable) for f in outputs[0].files}
    assert found == expected
    assert [f.path for f in outputs[0].files] == sorted(expected)
    assert outputs[0].size == sum(size for _, size, _ in expected.values())
    assert set(files) == {digest for digest, _, _ in expected.values()}
    assert all(sha(path.read_bytes()) == digest for digest, path in files.items())


def test_hashing_batches_keep_big_files_alone_and_spread_small_ones() -> None:
    """A batch per file would cost more than hashing small files; one batch for all would
    leave the other cores idle."""
    small = [(f"s{i}", Path(f"s{i}"), 20 << 10) for i in range(1000)]
    big = [(f"b{i}", Path(f"b{i}"), 1 << 30) for i in range(3)]

    batches = _batches([*big, *small], workers=2)

    assert batches[:3] == [[Path("b0")], [Path("b1")], [Path("b2")]]
    rest = batches[3:]
    assert sum(len(batch) for batch in rest) == 1000
    assert 2 <= len(rest) <= 1000 // 4  # spread over the workers, many files per batch
    assert max(len(batch) for batch in rest) <= BATCH_FILES
    assert _batches([], workers=2) == []


@pytest.mark.parametrize(
    ("target", "problem"),
    [("../../etc/passwd", "points outside its output"), ("/etc/passwd", "absolute")],
)
def test_snapshot_refuses_a_symlink_leaving_its_output(
    project: Path, target: str, problem: str
) -> None:
    (project / "data").mkdir()
    (project / "data" / "link").symlink_to(target)

    with pytest.raises(CacheError, match="output 'data' holds symlink 'link'") as caught:
        snapshot(project, ["data"])
    assert problem in str(caught.value)


def test_snapshot_refuses_an_output_that_is_a_symlink(project: Path) -> None:
    (project / "real").write_bytes(b"x")
    (project / "model.pkl").symlink_to("real")
    with pytest.raises(CacheError, match=re.escape("output 'model.pkl' is a symlink")):
        snapshot(project, ["model.pkl"])


def test_snapshot_refuses_special_files(project: Path) -> None:
    (project / "data").mkdir()
    os.mkfifo(project / "data" / "pipe")
    with pytest.raises(CacheError, match="'pipe', which is not a regular file"):
        snapshot(project, ["data"])


def test_restore_swaps_file_and_directory_kinds(
    store: CacheStore, project: Path, tmp_path: Path
) -> None:
    (project / "a").mkdir()
    (project / "a" / "x").write_bytes(b"x")
    (project / "b").write_bytes(b"b")
    hit = pushed(store, project, ["a", "b"])
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "a").write_bytes(b"was a file")
    (clone / "b").mkdir()
    (clone / "b" / "stale").write_bytes(b"was a dir")

    restore(hit, store, clone, ["a", "b"])

    assert (clone / "a" / "x").read_bytes() == b"x"
    assert (clone / "b").read_bytes() == b"b"
    assert sorted(p.name for p in clone.iterdir()) == ["a", "b"]


def test_restore_of_a_corrupt_object_changes_nothing(
    store: CacheStore, project: Path, tmp_path: Path
) -> None:
    (project / "a").write_bytes(b"good a")
    (project / "b").write_bytes(b"good b")
    hit = pushed(store, project, ["a", "b"])
    digest = sha(b"good b")
    stored = tmp_path / "cache" / "trusted" / "objects" / digest[:2] / digest[2:]
    stored.unlink()
    stored.write_bytes(b"evil b")
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "a").write_bytes(b"old a")

    with pytest.raises(CorruptObjectError, match=digest):
        restore(hit, store, clone, ["a", "b"])

    assert [(p.name, p.read_bytes()) for p in clone.iterdir()] == [("a", b"old a")]
    assert not stored.exists()


def test_restore_of_an_intact_object_that_lost_its_seal_verifies_and_restores(
    store: CacheStore, project: Path, tmp_path: Path
) -> None:
    (project / "a").write_bytes(b"good a")
    hit = pushed(store, project, ["a"])
    digest = sha(b"good a")
    stored = tmp_path / "cache" / "trusted" / "objects" / digest[:2] / digest[2:]
    os.utime(stored)  # as a copy of the cache by a tool that does not keep mtimes leaves it
    clone = tmp_path / "clone"
    clone.mkdir()

    restore(hit, store, clone, ["a"])

    assert (clone / "a").read_bytes() == b"good a"
    assert stored.exists()


def test_restore_of_an_object_rewritten_in_place_is_refused(
    store: CacheStore, project: Path, tmp_path: Path
) -> None:
    (project / "a").write_bytes(b"good a")
    hit = pushed(store, project, ["a"])
    digest = sha(b"good a")
    stored = tmp_path / "cache" / "trusted" / "objects" / digest[:2] / digest[2:]
    stored.chmod(0o644)
    with stored.open("r+b") as f:
        f.write(b"evil")
    clone = tmp_path / "clone"
    clone.mkdir()

    with pytest.raises(CorruptObjectError, match=digest):
        restore(hit, store, clone, ["a"])

    assert list(clone.iterdir()) == []


def test_restore_refuses_a_link_chain_that_climbs_out(
    store: CacheStore, project: Path, tmp_path: Path
) -> None:
    # Each link looks inside the output on paper; followed, b leads to data/.. = outside.
    links = (
        LinkEntry(path="x/y/a", target="../.."),
        LinkEntry(path="b", target="x/y/a/.."),
    )
    out = OutputEntry(path="data", type="dir", size=0, links=links)
    store.put_manifest(make_manifest([out]))
    hit = store.get_manifest(KEY)
    assert hit is not None

    with pytest.raises(
        CacheError, match=re.escape("symlink data/b -> 'x/y/a/..' resolves outside")
    ):
        restore(hit, store, project, ["data"])
    assert list(project.iterdir()) == []


def test_restore_refuses_to_write_through_a_parent_symlink(
    store: CacheStore, project: Path, tmp_path: Path
) -> None:
    (project / "out").mkdir()
    (project / "out" / "f").write_bytes(b"f")
    hit = pushed(store, project, ["out/f"])
    clone = tmp_path / "clone"
    clone.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (clone / "out").symlink_to(elsewhere)

    with pytest.raises(CacheError, match="parent of output 'out/f' leads outside the project"):
        restore(hit, store, clone, ["out/f"])
    assert list(elsewhere.iterdir()) == []


def test_restore_refuses_an_unchecked_manifest_built_in_memory(
    store: CacheStore, project: Path
) -> None:
    out = OutputEntry(path="../x", type="file", size=0, digest=sha(b""))
    hit = CacheHit(manifest=make_manifest([out]), area=Area.TRUSTED)
    with pytest.raises(CacheError, match=f"manifest {KEY} is invalid"):
        restore(hit, store, project, ["../x"])


def test_restore_creates_missing_parent_directories(
    store: CacheStore, project: Path, tmp_path: Path
) -> None:
    (project / "models" / "v1").mkdir(parents=True)
    (project / "models" / "v1" / "m.bin").write_bytes(b"m")
    hit = pushed(store, project, ["models/v1/m.bin"])

    restore(hit, store, tmp_path / "clone", ["models"])

    assert (tmp_path / "clone" / "models" / "v1" / "m.bin").read_bytes() == b"m"
