"""`ci-ml push`: upload results that a run kept back (`--no-push`, or a read-only cache)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ci_ml.cache import drop_pending, open_cache, pending_manifests, snapshot
from ci_ml.commands.plan import workspace_keys
from ci_ml.mlflow import push_logs
from ci_ml.plan import load_settings, open_project
from ci_ml.run import push_manifest


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "push",
        parents=[common],
        help="upload results of runs that did not push",
        description="Upload the outputs and manifests that `ci-ml run --no-push` kept in "
        ".ci-ml/pending, after checking that each one's key is the key the workspace computes "
        "for its stage now and that the outputs are still the ones it recorded. A pushed "
        "manifest answers every later push of the same key at once.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--mlflow-tracking-uri",
        metavar="URL",
        help="deliver pending MLflow logs here (default: MLFLOW_TRACKING_URI, else "
        "mlflow.tracking-uri in ci-ml.yaml)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    project = open_project(args, env)
    settings = load_settings(project, env, args)
    store = open_cache(project, settings, env)
    pushed, stale, present, foreign = [], [], [], []
    manifests = pending_manifests(project.root)
    # A pending file is only a claim: recompute the key it names from the workspace, so a
    # manifest that was planted (or left from other code) is never uploaded under that key.
    keys = workspace_keys(project, settings, env)[2] if manifests else {}
    for manifest in manifests:
        if keys.get(manifest.stage) != manifest.key:
            foreign.append(manifest.stage)
            continue
        if store.get_manifest(manifest.key) is not None:
            present.append(manifest.stage)
            drop_pending(project.root, manifest.key)
            continue
        entries, files = snapshot(project.root, [out.path for out in manifest.outputs])
        if tuple(entries) != manifest.outputs:
            # The workspace changed since the run: these files are not what the key computed.
            stale.append(manifest.stage)
            continue
        push_manifest(store, manifest, files, env)
        drop_pending(project.root, manifest.key)
        pushed.append(manifest.stage)
    logged, kept = push_logs(project.root, settings.mlflow, env, args.mlflow_tracking_uri)
    document = {
        "cache": store.url,
        "pushed": pushed,
        "already_cached": present,
        "stale": stale,
        "key_mismatch": foreign,
        "mlflow": {"logged": logged, "pending": kept},
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(f"pushed {len(pushed)} stage(s) to {store.url}" + _list(pushed))
        if logged or kept:
            print(f"MLflow: {logged} run log(s) delivered, {kept} still pending")
        if present:
            print(f"already cached: {', '.join(present)}")
        if stale:
            print(f"skipped (outputs changed since the run; run again): {', '.join(stale)}")
        if foreign:
            print(
                "skipped (the key does not match this workspace's stage; run again): "
                + ", ".join(foreign)
            )
    return 0


def _list(names: list[str]) -> str:
    return f": {', '.join(names)}" if names else ""
