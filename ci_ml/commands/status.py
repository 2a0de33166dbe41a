"""`ci-ml status`: which stages changed since the last local run."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ci_ml.commands.plan import workspace_keys
from ci_ml.plan import load_settings, open_project
from ci_ml.state import read_last_run


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "status",
        parents=[common],
        help="show stages whose inputs changed since the last local run",
        description="Compare every stage's key in the working tree with the key it had when "
        "`ci-ml run` last ran it here.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    project = open_project(args, env)
    _side, graph, keys = workspace_keys(project, load_settings(project, env, args), env)
    last = read_last_run(project.root)
    rows = []
    for name in graph.order:
        recorded = last.get(name)
        rows.append(
            {
                "name": name,
                "key": keys[name],
                "last_run_key": recorded,
                "status": _status(recorded, keys[name]),
            }
        )
    if args.json:
        print(json.dumps({"stages": rows}, indent=2))
    else:
        width = max([len("stage"), *(len(str(r["name"])) for r in rows)])
        print("\n".join(f"{r['name']:<{width}}  {r['status']}" for r in rows) or "no stages")
    return 0


def _status(recorded: str | None, key: str) -> str:
    if recorded is None:
        return "never run"
    return "up to date" if recorded == key else "changed since the last run"
