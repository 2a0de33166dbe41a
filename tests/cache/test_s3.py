"""What only the S3 store does: retries, multipart uploads, request counts, error messages.

The behaviour both stores share is in test_store.py.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import random
from pathlib import Path

import boto3
import pytest

from ci_ml.cache import Area, Trust, open_store
from ci_ml.cache.outputs import restore, snapshot
from ci_ml.cache.s3 import ClientOptions, S3Store
from ci_ml.cache.s3_client import make_client
from ci_ml.errors import CacheError, CorruptObjectError
from tests.cache.conftest import KEY, make_manifest, sha
from tests.helpers.moto_server import S3Bucket
from tests.helpers.s3_proxy import fault_proxy


def test_slow_down_answers_are_retried_until_the_upload_succeeds(
    s3_bucket: S3Bucket, project: Path
) -> None:
    (project / "model.bin").write_bytes(b"weights")
    outputs, files = snapshot(project, ["model.bin"])
    with fault_proxy(s3_bucket.endpoint_url, method="PUT", path="/objects/", failures=2) as proxy:
        store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project, endpoint_url=proxy.url)
        store.put_objects(files)
        store.put_manifest(make_manifest(outputs))

    assert proxy.faults_served == 2
    assert proxy.count("PUT") == 4  # the object three times, then the manifest
    digest = sha(b"weights")
    stored = s3_bucket.client().get_object(
        Bucket=s3_bucket.name, Key=f"trusted/objects/{digest[:2]}/{digest[2:]}"
    )
    assert stored["Body"].read() == b"weights"


def test_slow_down_on_reads_is_retried(s3_bucket: S3Bucket, project: Path, tmp_path: Path) -> None:
    (project / "model.bin").write_bytes(b"weights")
    outputs, files = snapshot(project, ["model.bin"])
    writer = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project)
    writer.put_objects(files)
    writer.put_manifest(make_manifest(outputs))

    with fault_proxy(s3_bucket.endpoint_url, method="GET", path=".", failures=2) as proxy:
        store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project, endpoint_url=proxy.url)
        hit = store.get_manifest(KEY)
        assert hit is not None
        restore(hit, store, tmp_path / "clone", ["model.bin"])

    assert proxy.faults_served == 2
    assert (tmp_path / "clone" / "model.bin").read_bytes() == b"weights"


def test_big_file_goes_up_in_parts_and_comes_back_whole(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 << 20))
    digest = sha(source.read_bytes())
    store = S3Store(
        bucket=s3_bucket.name,
        prefix="p",
        trust=Trust.TRUSTED,
        options=ClientOptions(endpoint_url=s3_bucket.endpoint_url),
        part_size=5 << 20,  # moto, like S3, wants parts of 5 MiB at least
    )

    store.put_objects({digest: source})
    store.get_objects({digest: tmp_path / "back.bin"}, area=Area.TRUSTED)

    head = s3_bucket.client().head_object(
        Bucket=s3_bucket.name,
        Key=f"p/trusted/objects/{digest[:2]}/{digest[2:]}",
        ChecksumMode="ENABLED",
    )
    assert head["ETag"].endswith('-3"')  # 5 + 5 + 2 MiB
    parts = [source.read_bytes()[i : i + (5 << 20)] for i in range(0, 12 << 20, 5 << 20)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert head["ChecksumSHA256"].split("-")[0] == base64.b64encode(composite).decode()
    assert sha((tmp_path / "back.bin").read_bytes()) == digest
    uploads = s3_bucket.client().list_multipart_uploads(Bucket=s3_bucket.name)
    assert uploads.get("Uploads", []) == []


def test_a_snapshotted_big_file_is_sent_in_parts_hashed_as_they_go(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(12 << 20))
    _, files = snapshot(tmp_path, ["big.bin"])  # the digest this upload reuses
    (digest,) = files
    store = S3Store(
        bucket=s3_bucket.name,
        prefix="p",
        trust=Trust.TRUSTED,
        options=ClientOptions(endpoint_url=s3_bucket.endpoint_url),
        part_size=5 << 20,
    )

    store.put_objects(files)

    head = s3_bucket.client().head_object(
        Bucket=s3_bucket.name,
        Key=f"p/trusted/objects/{digest[:2]}/{digest[2:]}",
        ChecksumMode="ENABLED",
    )
    data = (tmp_path / "big.bin").read_bytes()
    parts = [data[i : i + (5 << 20)] for i in range(0, 12 << 20, 5 << 20)]
    composite = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    assert head["ChecksumSHA256"].split("-")[0] == base64.b64encode(composite).decode()


def test_missing_objects_costs_one_list_for_many_and_a_head_each_for_few(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    rng = random.Random(7)
    files = {}
    for n in range(100):
        path = tmp_path / f"f{n}"
        path.write_bytes(rng.randbytes(16))
        files[sha(path.read_bytes())] = path
    stored = dict(list(files.items())[:60])
    open_store(s3_bucket.url, trust=Trust.TRUSTED, root=tmp_path).put_objects(stored)

    with fault_proxy(s3_bucket.endpoint_url) as proxy:
        store = open_store(
            s3_bucket.url, trust=Trust.TRUSTED, root=tmp_path, endpoint_url=proxy.url
        )
        missing = store.missing_objects(files)
        many = proxy.count()
        proxy.reset()
        one = store.missing_objects([next(iter(files))])

    assert missing == set(files) - set(stored)
    assert many == 1  # one LIST of the objects' prefix: 60 names fit one page
    assert (one, proxy.count("HEAD"), proxy.count()) == (set(), 1, 1)


def test_the_endpoint_comes_from_aws_endpoint_url_s3(s3_bucket: S3Bucket, project: Path) -> None:
    store = open_store(f"{s3_bucket.url}/x", trust=Trust.TRUSTED, root=project)
    # Only moto answers None: real S3 would refuse these credentials.
    assert store.get_manifest(KEY) is None


def test_path_style_addressing_works(s3_bucket: S3Bucket, project: Path) -> None:
    (project / "a").write_bytes(b"a")
    _, files = snapshot(project, ["a"])
    store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project, addressing_style="path")
    store.put_objects(files)
    assert store.missing_objects(files) == set()


def test_missing_bucket_says_to_create_it(s3_bucket: S3Bucket, project: Path) -> None:
    (project / "a").write_bytes(b"a")
    _, files = snapshot(project, ["a"])
    store = open_store("s3://no-such-bucket-here/p", trust=Trust.TRUSTED, root=project)

    with pytest.raises(CacheError, match="create bucket 'no-such-bucket-here'") as caught:
        store.put_objects(files)
    assert "s3://no-such-bucket-here/p" in str(caught.value)


def test_no_credentials_gives_one_clean_cache_error(
    s3_bucket: S3Bucket, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project)
    with pytest.raises(CacheError, match="no AWS credentials for cache s3://"):
        store.get_manifest(KEY)


def test_a_client_that_cannot_be_made_fails_at_first_use_and_is_tried_again(
    s3_bucket: S3Bucket, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client is made in the background when the store opens; its failure waits for the
    # first request, with the message a request would have given.
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-here")
    store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project)
    for _ in range(2):  # raised once from the background, then by a fresh attempt
        with pytest.raises(CacheError, match=r"cannot connect to .*no-such-profile-here"):
            store.get_manifest(KEY)

    monkeypatch.delenv("AWS_PROFILE")
    assert store.get_manifest(KEY) is None


@pytest.mark.parametrize("enabled", [True, False])
def test_making_a_client_leaves_the_gc_as_it_found_it(s3_bucket: S3Bucket, enabled: bool) -> None:
    # The GC is paused while botocore loads its models; a GC someone else paused stays so.
    (gc.enable if enabled else gc.disable)()
    try:
        client = make_client(ClientOptions(endpoint_url=s3_bucket.endpoint_url))
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
    assert client.list_objects_v2(Bucket=s3_bucket.name)["KeyCount"] == 0


def test_missing_objects_falls_back_to_head_when_listing_would_cost_more(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    # Ten blobs in one fan-out directory and a store that lists one key per page: like a huge
    # store, where the range between the wanted names spans many pages of 1000.
    blobs = [n.to_bytes(4, "big") for n in range(5000) if sha(n.to_bytes(4, "big"))[:2] == "ab"]
    files = {}
    for n, data in enumerate(blobs[:10]):
        (tmp_path / f"f{n}").write_bytes(data)
        files[sha(data)] = tmp_path / f"f{n}"
    digests = sorted(files)
    options = ClientOptions(endpoint_url=s3_bucket.endpoint_url)
    writer = S3Store(bucket=s3_bucket.name, prefix="", trust=Trust.TRUSTED, options=options)
    writer.put_objects({d: files[d] for d in digests[:8]})

    with fault_proxy(s3_bucket.endpoint_url) as proxy:
        options = ClientOptions(endpoint_url=proxy.url)
        store = S3Store(
            bucket=s3_bucket.name,
            prefix="",
            trust=Trust.TRUSTED,
            options=options,
            page_size=1,
            head_limit=0,
        )
        missing = store.missing_objects([digests[0], digests[5], digests[9]])

    assert missing == {digests[9]}
    # One page (the budget for three names) finds digests[0]; the two names beyond it cost
    # a HEAD each.
    assert (proxy.count("GET"), proxy.count("HEAD")) == (1, 2)


def _fill(s3_bucket: S3Bucket, project: Path, count: int) -> tuple[dict[str, Path], Path]:
    names = [f"out/{i}.bin" for i in range(count)]
    for i, name in enumerate(names):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(f"object {i} ".encode() * 100)
    outputs, files = snapshot(project, ["out"])
    writer = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project)
    writer.put_objects(files)
    writer.put_manifest(make_manifest(outputs))
    return files, project / "out"


def _objects_in_bucket(s3_bucket: S3Bucket) -> int:
    client = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket.name)
    return sum(
        1 for page in pages for item in page.get("Contents", []) if "/objects/" in item["Key"]
    )


def test_a_byte_flipped_in_transit_loses_no_good_object(
    s3_bucket: S3Bucket, project: Path, tmp_path: Path
) -> None:
    files, _ = _fill(s3_bucket, project, 8)
    before = _objects_in_bucket(s3_bucket)
    with fault_proxy(s3_bucket.endpoint_url, method="GET", path="/objects/", flips=8) as proxy:
        store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project, endpoint_url=proxy.url)
        hit = store.get_manifest(KEY)
        assert hit is not None
        restore(hit, store, tmp_path / "clone", ["out"])
    assert proxy.flips_served == 8
    assert _objects_in_bucket(s3_bucket) == before == len(files)
    assert (tmp_path / "clone" / "out" / "3.bin").read_bytes() == b"object 3 " * 100


def test_an_untrusted_run_never_deletes_a_trusted_object(
    s3_bucket: S3Bucket, project: Path, tmp_path: Path
) -> None:
    files, _ = _fill(s3_bucket, project, 3)
    with fault_proxy(
        s3_bucket.endpoint_url, method="GET", path="/objects/", flip_every_read=True
    ) as proxy:
        store = open_store(
            s3_bucket.url, trust=Trust.UNTRUSTED, root=project, endpoint_url=proxy.url
        )
        hit = store.get_manifest(KEY)
        assert hit is not None
        with pytest.raises(CorruptObjectError):
            restore(hit, store, tmp_path / "clone", ["out"])
        assert proxy.flips_served, proxy.requests
    assert _objects_in_bucket(s3_bucket) == len(files)
