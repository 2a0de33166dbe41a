"""`ci-ml keygen`: a key pair for signed manifests (docs/security.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ci_ml.cache import generate_key_pair


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "keygen",
        parents=[common],
        help="make an Ed25519 key pair for signing trusted manifests",
        description="Print a new Ed25519 key pair. Store the private key as the repository "
        "secret CI_ML_SIGNING_KEY (only the trusted job reads it) and put the public key under "
        "`trusted-public-keys:` in ci-ml.yaml.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    private, public = generate_key_pair()
    if args.json:
        print(json.dumps({"private_key": private, "public_key": public}, indent=2))
    else:
        print(f"private key (secret CI_ML_SIGNING_KEY): {private}")
        print(f"public key (ci-ml.yaml trusted-public-keys): {public}")
    return 0
