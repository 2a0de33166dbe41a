"""`ci-ml gc`: delete cache entries no chosen ref needs. A dry run unless --delete."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ci_ml.cache import open_cache
from ci_ml.errors import UserError
from ci_ml.git import require_commit
from ci_ml.github import resolve_base
from ci_ml.pipeline import build_graph
from ci_ml.plan import Project, compute_keys, load_settings, open_project, read_side


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "gc",
        parents=[common],
        help="remove cache entries that no chosen ref needs (dry run by default)",
        description="Keep the manifests of the stage keys at the chosen refs (default: the "
        "base branch and HEAD) and the objects they name; report, or with --delete remove, "
        "everything else in the area this run may write.",
    )
    parser.add_argument(
        "--keep-ref",
        action="append",
        default=[],
        metavar="REF",
        help="keep entries computed at this ref; repeatable (default: base branch and HEAD)",
    )
    parser.add_argument("--delete", action="store_true", help="delete; without it, only report")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    project = open_project(args, env)
    settings = load_settings(project, env, args)
    store = open_cache(project, settings, env)
    refs = args.keep_ref or _default_refs(project, settings.base_branch, env)
    keep = _keys_at(project, refs)
    stored = set(store.list_manifest_keys())
    live_objects: set[str] = set()
    dead_manifests = sorted(stored - keep)
    for key in sorted(stored & keep):
        hit = store.get_manifest(key)
        if hit is not None:
            live_objects.update(hit.manifest.digests())
    dead_objects = sorted(set(store.list_objects()) - live_objects)
    if args.delete:
        # Manifests first: a manifest must never outlive an object it names.
        store.delete_manifests(dead_manifests)
        store.delete_objects(dead_objects)
    document = {
        "cache": store.url,
        "kept_refs": list(refs),
        "manifests_kept": len(stored & keep),
        "manifests_removed": len(dead_manifests),
        "objects_removed": len(dead_objects),
        "deleted": bool(args.delete),
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        verb = "removed" if args.delete else "would remove"
        print(
            f"{store.url}: keeping {document['manifests_kept']} manifest(s) for "
            f"{', '.join(refs)}; {verb} {len(dead_manifests)} manifest(s) and "
            f"{len(dead_objects)} object(s)" + ("" if args.delete else " (pass --delete)")
        )
    return 0


def _default_refs(project: Project, base_branch: str | None, env: Mapping[str, str]) -> list[str]:
    base = resolve_base(project.git, explicit=None, env=env, event={}, base_branch=base_branch)
    return sorted({base.label, "HEAD"})


def _keys_at(project: Project, refs: Sequence[str]) -> set[str]:
    keys: set[str] = set()
    for ref in refs:
        sha = require_commit(project.git, ref, what="--keep-ref")
        side = read_side(project, sha, label=ref)
        graph = build_graph(side.pipeline)
        keys.update(compute_keys(side.pipeline, graph, side.dep_ids, sha).values())
    if not keys:
        raise UserError(f"no stages at {', '.join(refs)}: refusing to remove everything.")
    return keys
