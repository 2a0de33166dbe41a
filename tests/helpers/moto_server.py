"""A moto S3 server on 127.0.0.1, in its own process, and a fresh bucket per test.

Register in a conftest by importing `moto_server` and `s3_bucket` (and listing them in
`__all__`). `s3_bucket` sets the AWS_* variables a store needs, so code under test finds the
server exactly as it would find real S3: through boto3's own environment lookup.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers.servers import free_port, stop, wait_until_answering

STARTUP_TIMEOUT_S = 60


@dataclass(frozen=True)
class S3Bucket:
    """A bucket on the moto server; `url` is the cache URL of its root."""

    name: str
    endpoint_url: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    def client(self) -> Any:
        """A plain boto3 client, for arranging and inspecting what the code under test did."""
        return s3_client(self.endpoint_url)


@functools.cache  # building a client loads botocore's S3 model: about 0.3 s each time
def s3_client(endpoint_url: str) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint_url)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a moto server that lives as long as the test session."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(
            f"{url}/moto-api/",
            process,
            name="moto server",
            log=str(log),
            timeout_s=STARTUP_TIMEOUT_S,
        )
        yield url
    finally:
        stop(process)


@pytest.fixture
def s3_bucket(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A new, empty bucket; AWS_* env points boto3 at the moto server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = S3Bucket(name=f"ci-ml-test-{uuid.uuid4().hex[:16]}", endpoint_url=moto_server)
    bucket.client().create_bucket(Bucket=bucket.name)
    return bucket
