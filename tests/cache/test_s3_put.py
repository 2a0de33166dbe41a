"""Direct PUTs of small objects (ci_ml/cache/s3_put.py): what reaches S3 is what botocore
would have sent, signed right, and anything unexpected goes back to botocore."""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from ci_ml.cache import Trust, open_store
from ci_ml.cache.outputs import snapshot
from ci_ml.cache.s3 import S3Store
from ci_ml.cache.s3_put import DirectPut, Seen, learn
from tests.cache.conftest import make_manifest
from tests.helpers.moto_server import S3Bucket
from tests.helpers.s3_proxy import Sent, fault_proxy

SECRET = "testing"  # what s3_bucket puts in AWS_SECRET_ACCESS_KEY


def _files(project: Path, count: int, *, size: int = 20 << 10) -> dict[str, Path]:
    for n in range(count):
        (project / "out").mkdir(exist_ok=True)
        (project / "out" / f"{n}.bin").write_bytes(os.urandom(size))
    return snapshot(project, ["out"])[1]


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _signature_is_valid(sent: Sent, secrets: dict[str, str] | None = None) -> bool:
    """SigV4, computed here without botocore, over what the proxy received; `secrets` maps
    access key ids to secret keys (default: the moto fixture's)."""
    auth = sent.headers["authorization"]
    scheme, _, fields = auth.partition(" ")
    parts = dict(item.strip().split("=", 1) for item in fields.split(","))
    key_id, date, region, service, _ = parts["Credential"].split("/")
    signed = parts["SignedHeaders"].split(";")
    canonical = "\n".join(
        [
            sent.method,
            sent.path,  # S3 signs the path as sent (no normalization), no query here
            "",
            "".join(f"{name}:{sent.headers[name].strip()}\n" for name in signed),
            ";".join(signed),
            sent.headers["x-amz-content-sha256"],
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [scheme, sent.headers["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    secret = (secrets or {"testing": SECRET}).get(key_id)
    if secret is None:
        return False
    key = ("AWS4" + secret).encode()
    for step in (date, region, service, "aws4_request"):
        key = hmac.new(key, step.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["Signature"])


def test_small_objects_go_directly_with_their_bytes_checksum_and_a_valid_signature(
    s3_bucket: S3Bucket, project: Path
) -> None:
    files = _files(project, 12)
    first, rest = sorted(files)[0], sorted(files)[1:]
    with fault_proxy(s3_bucket.endpoint_url, keep_bodies=True) as proxy:
        store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project, endpoint_url=proxy.url)
        assert isinstance(store, S3Store)
        store.put_objects({first: files[first]})  # botocore sends it; the template is learned
        store.put_objects({digest: files[digest] for digest in rest})
        store.put_manifest(make_manifest([]))

    assert store._direct is not None
    assert store._direct.sent == len(rest) + 1  # the manifest went directly too
    puts = [sent for sent in proxy.sent if sent.method == "PUT"]
    assert len(puts) == len(files) + 1
    for sent in puts:
        assert sent.headers["x-amz-checksum-sha256"] == _b64_sha256(sent.body)
        signed = sent.headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
        assert "x-amz-checksum-sha256" in signed.split(";")
        assert _signature_is_valid(sent), sent.headers
    direct = puts[1:]
    assert all("expect" not in sent.headers for sent in direct)  # no wait for 100-continue
    assert puts[0].headers["user-agent"] == direct[0].headers["user-agent"]
    client = s3_bucket.client()
    for digest, path in files.items():
        name = f"trusted/objects/{digest[:2]}/{digest[2:]}"
        body = client.get_object(Bucket=s3_bucket.name, Key=name)["Body"].read()
        assert body == path.read_bytes()
        assert hashlib.sha256(body).hexdigest() == digest


def test_a_direct_put_answered_with_slow_down_is_sent_again_by_botocore(
    s3_bucket: S3Bucket, project: Path
) -> None:
    files = _files(project, 3)
    first, second, third = sorted(files)
    with fault_proxy(s3_bucket.endpoint_url, path=second[2:], failures=2) as proxy:
        store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project, endpoint_url=proxy.url)
        assert isinstance(store, S3Store)
        store.put_objects({first: files[first]})
        store.put_objects({second: files[second]})  # direct: 503; botocore: 503, then 200
        store.put_objects({third: files[third]})  # a 503 leaves the direct path on

    assert proxy.faults_served == 2
    assert [path for method, path in proxy.requests if second[2:] in path] == [
        f"/{s3_bucket.name}/trusted/objects/{second[:2]}/{second[2:]}"
    ] * 3
    assert store._direct is not None
    assert store._direct.sent == 1  # the third
    direct_to_moto = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project)
    assert direct_to_moto.missing_objects(files) == set()  # the proxy is gone


def test_a_refused_direct_put_goes_through_botocore_and_turns_direct_puts_off(
    s3_bucket: S3Bucket, project: Path
) -> None:
    files = _files(project, 3)
    first, second, third = sorted(files)
    with fault_proxy(s3_bucket.endpoint_url, path=second[2:], failures=1, status=403) as proxy:
        store = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project, endpoint_url=proxy.url)
        assert isinstance(store, S3Store)
        store.put_objects({first: files[first]})
        store.put_objects({second: files[second]})  # direct: 403; botocore: 200
        store.put_objects({third: files[third]})  # botocore again

    assert proxy.faults_served == 1
    assert store._direct is not None
    assert store._direct.sent == 0
    direct_to_moto = open_store(s3_bucket.url, trust=Trust.TRUSTED, root=project)
    assert direct_to_moto.missing_objects(files) == set()  # the proxy is gone


def test_direct_puts_sign_with_the_clients_refreshed_credentials(s3_bucket: S3Bucket) -> None:
    # Credentials that are always about to expire: botocore fetches new ones for every
    # request, and so must direct PUTs.
    import botocore.session
    from botocore.credentials import (
        CredentialProvider,
        CredentialResolver,
        RefreshableCredentials,
    )

    counter = itertools.count()

    def fetch() -> dict[str, Any]:
        n = next(counter)
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30)
        return {
            "access_key": f"key{n}",
            "secret_key": f"secret{n}",
            "token": None,
            "expiry_time": expiry.isoformat(),
        }

    class Rotating(CredentialProvider):
        METHOD = "rotating"

        def load(self) -> RefreshableCredentials:
            return RefreshableCredentials.create_from_metadata(fetch(), fetch, self.METHOD)

    session = botocore.session.get_session()
    session.register_component("credential_provider", CredentialResolver([Rotating()]))
    with fault_proxy(s3_bucket.endpoint_url, keep_bodies=True) as proxy:
        client = session.create_client("s3", endpoint_url=proxy.url, region_name="us-east-1")
        direct = DirectPut(client)
        for n in range(4):
            data = f"object {n}".encode()
            put = functools.partial(
                client.put_object,
                Bucket=s3_bucket.name,
                Key=f"k{n}",
                Body=data,
                ChecksumSHA256=_b64_sha256(data),
            )
            direct.put(f"k{n}", data, _b64_sha256(data), client_put=put)

    assert direct.sent == 3
    secrets = {f"key{n}": f"secret{n}" for n in range(20)}
    puts = [sent for sent in proxy.sent if sent.method == "PUT"]
    key_ids = [sent.headers["authorization"].split("Credential=")[1].split("/")[0] for sent in puts]
    assert len(set(key_ids)) == len(puts) == 4  # a fresh key for each request
    assert all(_signature_is_valid(sent, secrets) for sent in puts)


def test_a_client_without_an_http_session_sends_everything_itself(
    s3_bucket: S3Bucket, project: Path
) -> None:
    # botocore keeps the HTTP session in a private attribute; without it, no direct PUTs.
    class WithoutEndpoint:
        def __init__(self, client: Any) -> None:
            self.meta = client.meta

    client = s3_bucket.client()
    direct = DirectPut(WithoutEndpoint(client))
    for n in range(3):
        data = f"object {n}".encode()
        direct.put(
            f"k{n}",
            data,
            _b64_sha256(data),
            client_put=lambda n=n, data=data: client.put_object(
                Bucket=s3_bucket.name, Key=f"k{n}", Body=data, ChecksumSHA256=_b64_sha256(data)
            ),
        )
    assert direct.sent == 0
    stored = client.get_object(Bucket=s3_bucket.name, Key="k2")["Body"].read()
    assert stored == b"object 2"


_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/s3/aws4_request,"
    " SignedHeaders=host;x-amz-date, Signature=00"
)
_HEADERS = (
    ("User-Agent", "Botocore/1"),
    ("x-amz-checksum-sha256", "x"),
    ("Expect", "100-continue"),
    ("X-Amz-Date", "20260101T000000Z"),
    ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),
    ("Authorization", _AUTH),
    ("amz-sdk-request", "attempt=3; max=11"),
    ("Content-Length", "5"),
)


def _seen(**changes: Any) -> Seen:
    fields: dict[str, Any] = {
        "signer": object(),
        "signature_version": "s3v4",
        "signing_name": "s3",
        "region": "eu-west-1",
        "extra_signing": False,
        "url": "https://h/bkt/k",
        "headers": _HEADERS,
    }
    return Seen(**{**fields, **changes})


@pytest.mark.parametrize(
    ("url", "key", "base"),
    [
        (
            "http://127.0.0.1:9000/bkt/p/objects/ab/cd",
            "p/objects/ab/cd",
            "http://127.0.0.1:9000/bkt",
        ),
        (
            "https://bkt.s3.eu-west-1.amazonaws.com/o/ab/cd",
            "o/ab/cd",
            "https://bkt.s3.eu-west-1.amazonaws.com",
        ),
        ("https://h/bkt/a%20b/c~d%2Be", "a b/c~d+e", "https://h/bkt"),
    ],
)
def test_learning_keeps_the_url_up_to_the_key(url: str, key: str, base: str) -> None:
    template = learn(_seen(url=url), key)
    assert template is not None
    assert (template.base, template.region, template.attempt_header) == (
        base,
        "eu-west-1",
        "attempt=1; max=11",
    )
    assert dict(template.copied) == {"user-agent": "Botocore/1"}


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"signature_version": "v4a"}, "k"),
        ({"extra_signing": True}, "k"),  # S3 Express: a session per request
        ({"url": "https://h/bkt/k?x-id=PutObject"}, "k"),
        ({"url": "https://h/bkt/other"}, "k"),
        ({"region": "us-east-1"}, "k"),  # the signature's scope is not what botocore said
        ({"headers": (*_HEADERS, ("x-amz-s3session-token", "t"))}, "k"),
        ({"headers": (*_HEADERS, ("Content-MD5", "m"))}, "k"),
        ({"headers": (("Authorization", "AWS4-ECDSA-P256-SHA256 Credential=a"),)}, "k"),
    ],
)
def test_a_request_this_module_cannot_reproduce_is_not_learned(
    changes: dict[str, Any], key: str
) -> None:
    assert learn(_seen(**changes), key) is None
