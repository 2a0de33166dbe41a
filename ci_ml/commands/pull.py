"""`ci-ml pull`: restore stages' outputs from the cache into the workspace."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ci_ml.cache import open_cache, restore
from ci_ml.commands.plan import workspace_keys
from ci_ml.errors import CacheError, UserError, did_you_mean
from ci_ml.plan import load_settings, open_project
from ci_ml.state import record_run


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "pull",
        parents=[common],
        help="restore cached outputs of stages into the workspace",
        description="Restore the outputs of the given stages (default: all) for their "
        "current keys. Stages whose key is not cached are listed, not run.",
    )
    parser.add_argument(
        "stages", nargs="*", metavar="STAGE", help="stages to restore (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    project = open_project(args, env)
    settings = load_settings(project, env, args)
    side, graph, keys = workspace_keys(project, settings, env)
    for name in args.stages:
        if name not in keys:
            raise UserError(f"no stage named {name!r}{did_you_mean(name, keys)}. See `ci-ml dag`.")
    store = open_cache(project, settings, env, reading_only=True)
    restored, missing, corrupt = [], [], []
    for name in [n for n in graph.order if not args.stages or n in args.stages]:
        hit = store.get_manifest(keys[name])
        if hit is None:
            missing.append(name)
            continue
        try:
            restore(hit, store, project.root, side.pipeline.stage(name).out_paths)
        except CacheError as e:
            corrupt.append(f"{name}: {e}")
            continue
        restored.append(name)
    record_run(project.root, {name: keys[name] for name in restored})
    document = {"restored": restored, "not_cached": missing, "failed": corrupt}
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(
            f"restored {len(restored)} stage(s)" + (f": {', '.join(restored)}" if restored else "")
        )
        if missing:
            print(f"not in the cache (run them): {', '.join(missing)}")
        for line in corrupt:
            print(f"failed: {line}")
    return 1 if corrupt else 0
