"""open_store's URL forms, and what only the local store does on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci_ml.cache import Trust, open_store
from ci_ml.cache.local import LocalStore
from ci_ml.cache.outputs import snapshot
from ci_ml.cache.s3 import S3Store
from ci_ml.errors import CacheConfigError
from tests.cache.conftest import KEY, make_manifest, sha


@pytest.mark.parametrize("url", [None, "", ".ci-ml/cache"])
def test_no_url_means_the_project_cache_which_git_ignores(url: str | None, project: Path) -> None:
    store = open_store(url, trust=Trust.TRUSTED, root=project)

    assert isinstance(store, LocalStore)
    assert store.path == project / ".ci-ml" / "cache"
    assert (project / ".ci-ml" / ".gitignore").read_text(encoding="utf-8").endswith("*\n")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("shared-cache", "{root}/shared-cache"),
        ("./odd:name", "{root}/odd:name"),
        ("/abs/cache", "/abs/cache"),
        ("file:///abs/my%20cache", "/abs/my cache"),
        ("file://localhost/abs/cache", "/abs/cache"),
    ],
)
def test_paths_and_file_urls_open_a_local_store(url: str, expected: str, project: Path) -> None:
    store = open_store(url, trust=Trust.UNTRUSTED, root=project)

    assert isinstance(store, LocalStore)
    assert str(store.path) == expected.format(root=project)
    assert store.trust is Trust.UNTRUSTED


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "normalised"),
    [
        ("s3://bucket", "bucket", "", "s3://bucket"),
        ("s3://bucket/", "bucket", "", "s3://bucket"),
        ("s3://my.bucket/team/ci-ml/", "my.bucket", "team/ci-ml/", "s3://my.bucket/team/ci-ml"),
    ],
)
def test_s3_urls_open_an_s3_store_without_any_request(
    url: str, bucket: str, prefix: str, normalised: str, project: Path
) -> None:
    store = open_store(url, trust=Trust.TRUSTED, root=project)

    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.url) == (bucket, prefix, normalised)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("gs://bucket/x", "the scheme 'gs' is not supported"),
        ("https://example.com/cache", "the scheme 'https' is not supported"),
        ("s3://", "needs a bucket name"),
        ("s3:///prefix", "needs a bucket name"),
        ("s3:bucket", "needs a bucket name"),
        ("s3://a b/x", "needs a bucket name"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket/a//b", "empty"),
        ("s3://bucket/x?region=eu", "query"),
        ("file://relative/path", "absolute path"),
        ("file:relative", "absolute path"),
    ],
)
def test_bad_url_is_a_config_error_naming_it(url: str, why: str, project: Path) -> None:
    with pytest.raises(CacheConfigError) as caught:
        open_store(url, trust=Trust.TRUSTED, root=project)

    message = str(caught.value)
    assert f"cache URL {url!r} cannot be used" in message
    assert why in message
    assert "s3://bucket/prefix" in message
    assert caught.value.exit_code == 2


def test_bad_s3_options_are_config_errors(project: Path) -> None:
    with pytest.raises(CacheConfigError, match="addressing style 'sideways'"):
        open_store("s3://b", trust=Trust.TRUSTED, root=project, addressing_style="sideways")
    with pytest.raises(CacheConfigError, match="endpoint 'minio:9000' must start with http"):
        open_store("s3://b", trust=Trust.TRUSTED, root=project, endpoint_url="minio:9000")


def test_layout_on_disk_and_read_only_objects(project: Path, tmp_path: Path) -> None:
    (project / "m").write_bytes(b"m")
    outputs, files = snapshot(project, ["m"])
    store = open_store(str(tmp_path / "c"), trust=Trust.TRUSTED, root=project)

    store.put_objects(files)
    store.put_manifest(make_manifest(outputs))

    digest = sha(b"m")
    stored = tmp_path / "c" / "trusted" / "objects" / digest[:2] / digest[2:]
    assert stored.read_bytes() == b"m"
    assert stored.stat().st_mode & 0o777 == 0o444
    assert (tmp_path / "c" / "trusted" / "manifests" / f"{KEY}.json").is_file()


def test_leftover_temp_files_from_a_crash_are_invisible(project: Path, tmp_path: Path) -> None:
    (project / "m").write_bytes(b"m")
    _, files = snapshot(project, ["m"])
    store = open_store(str(tmp_path / "c"), trust=Trust.TRUSTED, root=project)
    store.put_objects(files)
    digest = sha(b"m")
    fanout = tmp_path / "c" / "trusted" / "objects" / digest[:2]
    (fanout / f".{digest[2:]}.tmp-123-abcd").write_bytes(b"half")
    manifests = tmp_path / "c" / "trusted" / "manifests"
    manifests.mkdir()
    (manifests / f".{KEY}.json.tmp-123-abcd").write_bytes(b"{")

    assert list(store.list_objects()) == [digest]
    assert list(store.list_manifest_keys()) == []
    assert store.get_manifest(KEY) is None


def _cached_model(project: Path, tmp_path: Path) -> tuple[LocalStore, Path]:
    (project / "model.bin").write_bytes(b"weights" * 100)
    outputs, files = snapshot(project, ["model.bin"])
    store = open_store(str(tmp_path / "cache"), trust=Trust.TRUSTED, root=project)
    store.put_objects(files)
    store.put_manifest(make_manifest(outputs))
    [digest] = files
    [obj] = (tmp_path / "cache").rglob(digest[2:])
    assert isinstance(store, LocalStore)
    return store, obj


@pytest.mark.parametrize("planted", ["link to /dev/zero", "fifo"])
def test_a_planted_object_that_never_ends_is_corrupt_not_a_hang(
    project: Path, tmp_path: Path, planted: str
) -> None:
    from ci_ml.cache.outputs import restore
    from ci_ml.errors import CorruptObjectError

    store, obj = _cached_model(project, tmp_path)
    obj.chmod(0o644)
    obj.unlink()
    if planted == "fifo":
        os.mkfifo(obj)
    else:
        obj.symlink_to("/dev/zero")
    hit = store.get_manifest(KEY)
    assert hit is not None
    with pytest.raises(CorruptObjectError):
        restore(hit, store, tmp_path / "clone", ["model.bin"])
    assert not (tmp_path / "clone" / "model.bin").exists()


def test_an_object_longer_than_its_manifest_says_stops_there(project: Path, tmp_path: Path) -> None:
    from ci_ml.cache.outputs import restore
    from ci_ml.errors import CorruptObjectError

    store, obj = _cached_model(project, tmp_path)
    obj.chmod(0o644)
    obj.write_bytes(b"\0" * (64 << 20))  # 64 MiB where the manifest says 700 bytes
    hit = store.get_manifest(KEY)
    assert hit is not None
    written: list[int] = []
    with pytest.raises(CorruptObjectError):
        restore(hit, store, tmp_path / "clone", ["model.bin"], progress=_Count(written))
    assert sum(written) <= 700 + (1 << 20)  # at most the recorded size and one chunk


class _Count:
    def __init__(self, into: list[int]) -> None:
        self.into = into

    def advance(self, n: int) -> None:
        self.into.append(n)
