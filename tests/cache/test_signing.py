"""Signed manifests: with the bucket writable by the wrong people, a planted or altered
trusted manifest is a cache miss, and what the trusted job signed is restored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ci_ml.cache import generate_key_pair
from tests.helpers.gitrepo import GitRepo, run_cli
from tests.helpers.moto_server import S3Bucket

PIPELINE = """\
stages:
  train:
    cmd: echo "model $(cat data.txt)" > model.txt && echo ran >> runs.log
    deps: [data.txt]
    outs: [model.txt]
"""


@pytest.fixture
def keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture
def signed_repo(git_repo: GitRepo, s3_bucket: S3Bucket, keys: tuple[str, str]) -> GitRepo:
    git_repo.write(
        {
            "dvc.yaml": PIPELINE,
            "data.txt": "1\n",
            "ci-ml.yaml": f"trusted-public-keys: [{keys[1]}]\n",
            ".gitignore": "model.txt\nruns.log\n",
        },
        commit="base",
    )
    env = {"CI_ML_CACHE": s3_bucket.url, "CI_ML_SIGNING_KEY": keys[0]}
    code, _out, err = run_cli("run", "--all", "--trust", "trusted", cwd=git_repo.path, env=env)
    assert code == 0, err
    return git_repo


def _clone_and_run(repo: GitRepo, s3_bucket: S3Bucket, tmp_path: Path) -> tuple[dict, str]:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    env = {"CI_ML_CACHE": s3_bucket.url}
    code, out, err = run_cli("run", "--all", "--trust", "untrusted", "--json", cwd=clone, env=env)
    assert code == 0, err
    return {s["name"]: s["status"] for s in json.loads(out)["stages"]}, err


def _trusted_manifest(s3_bucket: S3Bucket) -> tuple[str, dict]:
    client = s3_bucket.client()
    [name] = [
        o["Key"]
        for o in client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
        if "/manifests/" in o["Key"] and o["Key"].startswith("trusted/")
    ]
    return name, json.loads(client.get_object(Bucket=s3_bucket.name, Key=name)["Body"].read())


def test_a_signed_trusted_manifest_is_restored(
    signed_repo: GitRepo, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    _name, manifest = _trusted_manifest(s3_bucket)
    assert manifest["signature"]
    statuses, _err = _clone_and_run(signed_repo, s3_bucket, tmp_path)
    assert statuses == {"train": "unchanged"}  # a hit: cached, nothing to restore for


@pytest.mark.parametrize("tamper", ["strip", "alter"])
def test_a_planted_trusted_manifest_is_a_miss(
    signed_repo: GitRepo, s3_bucket: S3Bucket, tmp_path: Path, tamper: str
) -> None:
    # Someone who can write the bucket (a wrong policy) rewrites the trusted entry.
    name, manifest = _trusted_manifest(s3_bucket)
    if tamper == "strip":
        del manifest["signature"]
    else:
        manifest["run"]["runner"] = "attacker"
    s3_bucket.client().put_object(
        Bucket=s3_bucket.name, Key=name, Body=json.dumps(manifest).encode()
    )
    statuses, err = _clone_and_run(signed_repo, s3_bucket, tmp_path)
    assert statuses == {"train": "ran"}
    assert "is not signed" in err
    assert "treating it as a miss" in err


def test_a_bad_public_key_is_a_clear_error(git_repo: GitRepo, s3_bucket: S3Bucket) -> None:
    git_repo.write(
        {"dvc.yaml": PIPELINE, "data.txt": "1\n", "ci-ml.yaml": "trusted-public-keys: [abc]\n"},
        commit="base",
    )
    code, _out, err = run_cli("run", "--all", cwd=git_repo.path, env={"CI_ML_CACHE": s3_bucket.url})
    assert code == 2
    assert "not an Ed25519 public key" in err
