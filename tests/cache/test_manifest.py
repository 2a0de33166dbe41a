"""Manifest encoding and the checks that make a manifest from the cache safe to restore."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from ci_ml.cache.manifest import (
    FileEntry,
    LinkEntry,
    Manifest,
    OutputEntry,
    RunFacts,
    decode_manifest,
    encode_manifest,
)
from ci_ml.errors import CacheError

KEY = "c" * 64
D1, D2, P = "1" * 64, "2" * 64, "9" * 64


def sample() -> Manifest:
    return Manifest(
        key=KEY,
        stage="train@0",
        outputs=(
            OutputEntry(path="model.pkl", type="file", size=10, digest=D1, executable=True),
            OutputEntry(
                path="data/features",
                type="dir",
                size=7,
                files=(
                    FileEntry(path="a.csv", digest=D2, size=3),
                    FileEntry(path="sub/b.csv", digest=D2, size=4, executable=False),
                ),
                links=(LinkEntry(path="sub/latest.csv", target="b.csv"),),
            ),
        ),
        metrics={"metrics.json": {"acc": 0.9, "loss": [1, 2]}},
        run=RunFacts(
            commit="abc",
            ref="refs/pull/1/merge",
            started_at="2026-01-01T00:00:00Z",
            finished_at="2026-01-01T00:01:00Z",
            duration_s=60.0,
            runner="gpu-1",
            ci_ml_version="0.1.0",
            gpu="NVIDIA H100",
            param_overrides=("train.lr=0.1",),
            labels=("self-hosted", "gpu"),
        ),
    )


def test_round_trip_is_exact_and_deterministic() -> None:
    data = encode_manifest(sample())

    assert decode_manifest(data, key=KEY) == sample()
    assert encode_manifest(decode_manifest(data, key=KEY)) == data
    assert json.loads(data)["version"] == 1


def test_a_manifest_from_before_labels_were_recorded_still_decodes() -> None:
    doc = json.loads(encode_manifest(sample()))
    del doc["run"]["labels"]
    data = json.dumps(doc).encode()
    assert decode_manifest(data, key=KEY).run.labels == ()
    assert decode_manifest(data, key=KEY).run.duration_s == 60.0


def test_digests_lists_each_object_once_sorted() -> None:
    assert sample().digests() == (D1, D2)


def tampered(change: Any) -> bytes:
    doc = json.loads(encode_manifest(sample()))
    change(doc)
    return json.dumps(doc).encode()


def set_out(field: str, value: object, index: int = 0) -> Any:
    return lambda doc: doc["outputs"][index].__setitem__(field, value)


def set_file(field: str, value: object) -> Any:
    return lambda doc: doc["outputs"][1]["files"][0].__setitem__(field, value)


def set_link(value: str) -> Any:
    return lambda doc: doc["outputs"][1]["links"][0].__setitem__("target", value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (set_out("path", "../x"), "goes up with '..'"),
        (set_out("path", "/abs"), "is absolute"),
        (set_out("path", "a/../../b"), "goes up with '..'"),
        (set_out("path", "a/./b"), "not normalised"),
        (set_out("path", "a//b"), "not normalised"),
        (set_out("path", "."), "not normalised"),
        (set_out("path", ""), "empty"),
        (set_out("path", "a\\..\\..\\b"), "backslash"),
        (set_out("path", "C:/x"), "drive letter"),
        (set_out("path", "x\0y"), "NUL"),
        (set_out("path", ".git/hooks/pre-commit"), "inside a .git directory"),
        (set_out("path", "data/features/x"), "overlap"),
        (set_out("path", "data/features"), "appears twice"),
        (set_out("digest", "A" * 64), "bad digest"),
        (set_out("digest", "1" * 63), "bad digest"),
        (set_out("digest", None), "not a str"),
        (set_out("size", -1), "bad size"),
        (set_out("size", True), "not a int"),
        (set_out("type", "fifo"), "unknown type"),
        (set_out("surprise", 1), "unknown"),
        (set_file("path", "../../x"), "goes up with '..'"),
        (set_file("digest", "z" * 64), "bad digest"),
        (set_link("../../../etc/passwd"), "points outside its output"),
        (set_link("../../x"), "points outside its output"),
        (set_link("/etc/passwd"), "absolute or malformed"),
        (set_link(""), "empty target"),
        (set_link("..\\..\\x"), "absolute or malformed"),
        (lambda doc: doc["run"].__setitem__("labels", "gpu"), "labels is not a list"),
        (lambda doc: doc["run"].__setitem__("labels", [1]), "runner label is not a str"),
        (set_link("../.git/config"), "points into a .git directory"),
        (set_out("size", 8, index=1), "size unequal to its files' total"),
        (lambda doc: doc.__setitem__("version", 3), "version 3 is not one this ci-ml reads"),
        (lambda doc: doc.__setitem__("version", True), "version True is not one"),
        (lambda doc: doc.__setitem__("version", 2), "does not match whether its files are packed"),
        (
            lambda doc: doc["outputs"][1]["files"][0].update(pack=P, offset=0),
            "does not match whether its files are packed",
        ),
        (lambda doc: doc.__setitem__("key", "d" * 64), "not the key it is stored under"),
        (lambda doc: doc.pop("run"), "missing fields"),
        (lambda doc: doc["metrics"].__setitem__("../m.json", 1), "goes up with '..'"),
        (lambda doc: doc["run"].__setitem__("duration_s", "1"), "not a number"),
    ],
)
def test_decode_refuses_unsafe_or_malformed_manifests(change: Any, problem: str) -> None:
    with pytest.raises(CacheError, match=f"manifest {KEY} in the cache is invalid") as caught:
        decode_manifest(tampered(change), key=KEY)
    assert problem in str(caught.value)


def packed(change: Any = None) -> bytes:
    """The sample as a version 2 manifest with its first directory file packed, then `change`."""
    doc = json.loads(encode_manifest(sample()))
    doc["version"] = 2
    doc["outputs"][1]["files"][0].update(pack=P, offset=5)
    if change is not None:
        change(doc)
    return json.dumps(doc).encode()


def test_a_packed_manifest_round_trips_as_version_2() -> None:
    manifest = decode_manifest(packed(), key=KEY)
    entry = manifest.outputs[1].files[0]
    assert (entry.pack, entry.offset) == (P, 5)
    assert manifest.is_packed()
    data = encode_manifest(manifest)
    assert json.loads(data)["version"] == 2
    assert decode_manifest(data, key=KEY) == manifest


def test_digests_name_the_pack_not_what_is_packed_unless_also_loose() -> None:
    # D2 is packed in one entry and an object of its own in the other: gc keeps both.
    assert decode_manifest(packed(), key=KEY).digests() == (D1, D2, P)
    both = packed(lambda doc: doc["outputs"][1]["files"][1].update(pack=P, offset=0))
    assert decode_manifest(both, key=KEY).digests() == (D1, P)


def set_packed(field: str, value: object) -> Any:
    return lambda doc: doc["outputs"][1]["files"][0].__setitem__(field, value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (set_packed("pack", "Z" * 64), "pack' has a bad digest"),
        (set_packed("pack", None), "file pack is not a str"),
        (set_packed("offset", -1), "offset' has a bad size"),
        (set_packed("offset", 1.5), "file offset is not a int"),
        (lambda doc: doc["outputs"][1]["files"][0].pop("offset"), "both pack and offset"),
        (lambda doc: doc["outputs"][1]["files"][1].__setitem__("offset", 3), "both pack and"),
    ],
)
def test_decode_refuses_a_malformed_pack_reference(change: Any, problem: str) -> None:
    with pytest.raises(CacheError, match=f"manifest {KEY} in the cache is invalid") as caught:
        decode_manifest(packed(change), key=KEY)
    assert problem in str(caught.value)


def test_encode_refuses_an_offset_without_a_pack() -> None:
    out = sample().outputs[1]
    files = (FileEntry(path="a.csv", digest=D2, size=3, offset=2), *out.files[1:])
    bad = dataclasses.replace(
        sample(), outputs=(sample().outputs[0], dataclasses.replace(out, files=files))
    )
    with pytest.raises(CacheError, match="has an offset but no pack"):
        encode_manifest(bad)


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b"\xff\xfe", b"[" * 100_000])
def test_decode_refuses_what_is_not_a_manifest(data: bytes) -> None:
    with pytest.raises(CacheError, match=KEY):
        decode_manifest(data, key=KEY)


def test_encode_refuses_what_decode_would_refuse() -> None:
    bad = Manifest(
        key=KEY,
        stage="train",
        outputs=(OutputEntry(path="../x", type="file", size=0, digest=D1),),
        run=sample().run,
    )
    with pytest.raises(CacheError, match=f"refusing to write manifest {KEY}"):
        encode_manifest(bad)


def test_link_inside_its_output_is_accepted() -> None:
    data = tampered(set_link("../a.csv"))  # sub/latest.csv -> a.csv, inside data/features
    assert decode_manifest(data, key=KEY).outputs[1].links[0].target == "../a.csv"
