"""Manifests of runs that did not push (`--no-push`, a read-only cache), kept for `ci-ml push`."""

from __future__ import annotations

import os
from pathlib import Path

from ci_ml.cache.manifest import Manifest, decode_manifest, encode_manifest
from ci_ml.state import STATE_DIR, state_dir


def save_pending(root: Path, manifest: Manifest) -> None:
    """Keep the manifest of a run that did not push (`--no-push`, read-only) for `ci-ml push`."""
    pending = state_dir(root) / "pending"
    pending.mkdir(exist_ok=True)
    path = pending / f"{manifest.key}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(encode_manifest(manifest))
    tmp.replace(path)


def pending_manifests(root: Path) -> list[Manifest]:
    pending = root / STATE_DIR / "pending"
    if not pending.is_dir():
        return []
    return [
        decode_manifest(path.read_bytes(), key=path.stem) for path in sorted(pending.glob("*.json"))
    ]


def drop_pending(root: Path, key: str) -> None:
    (root / STATE_DIR / "pending" / f"{key}.json").unlink(missing_ok=True)
