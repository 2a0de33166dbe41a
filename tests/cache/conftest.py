"""Fixtures for the cache tests: a moto server, and one `backend` fixture that runs a test
against both stores (a local directory and an S3 bucket with a prefix)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ci_ml.cache import CacheStore, Manifest, OutputEntry, RunFacts, Trust, open_store
from tests.helpers.moto_server import S3Bucket, moto_server, s3_bucket

__all__ = ["moto_server", "s3_bucket"]

KEY = "a" * 64
OTHER_KEY = "b" * 64


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_facts() -> RunFacts:
    return RunFacts(
        commit="0" * 40,
        ref="refs/heads/main",
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:02Z",
        duration_s=2.0,
        runner="ubuntu-latest",
        ci_ml_version="0.1.0",
    )


def make_manifest(outputs: list[OutputEntry], *, key: str = KEY, stage: str = "train") -> Manifest:
    return Manifest(key=key, stage=stage, outputs=tuple(outputs), run=run_facts())


@dataclass
class Backend:
    """One store location, with raw access to its bytes that bypasses the store's checks."""

    kind: str
    url: str
    tmp: Path
    write_raw: Callable[[str, bytes], None]
    read_raw: Callable[[str], bytes | None]

    def open(self, trust: Trust = Trust.TRUSTED) -> CacheStore:
        return open_store(self.url, trust=trust, root=self.tmp / "project")


def _local_backend(tmp_path: Path) -> Backend:
    base = tmp_path / "cache"

    def write_raw(name: str, data: bytes) -> None:
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # objects are read-only files
        path.write_bytes(data)

    def read_raw(name: str) -> bytes | None:
        path = base / name
        return path.read_bytes() if path.exists() else None

    return Backend("local", str(base), tmp_path, write_raw, read_raw)


def _s3_backend(tmp_path: Path, bucket: S3Bucket) -> Backend:
    client: Any = bucket.client()
    prefix = "team/ci-ml/"

    def write_raw(name: str, data: bytes) -> None:
        client.put_object(Bucket=bucket.name, Key=prefix + name, Body=data)

    def read_raw(name: str) -> bytes | None:
        try:
            return bytes(client.get_object(Bucket=bucket.name, Key=prefix + name)["Body"].read())
        except client.exceptions.NoSuchKey:
            return None

    return Backend("s3", f"{bucket.url}/{prefix}", tmp_path, write_raw, read_raw)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return _local_backend(tmp_path)
    return _s3_backend(tmp_path, request.getfixturevalue("s3_bucket"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root
