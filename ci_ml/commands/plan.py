"""`ci-ml plan`: which stages the change touched, and why. Runs nothing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ci_ml import gha
from ci_ml.config import Settings
from ci_ml.plan import Plan, plan
from ci_ml.plan_output import plan_document, render_plan
from ci_ml.refs import resolve_base
from ci_ml.sides import Project, load_settings, open_project, read_side


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "plan",
        parents=[common],
        help="show which stages changed, which are affected, and why",
        description="Compare the pipeline at the base commit with head, statically: nothing runs.",
    )
    add_side_flags(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--github-output",
        action="store_true",
        help="also write stages, any-will-run, needs-gpu, runs-on and matrix to $GITHUB_OUTPUT",
    )
    parser.set_defaults(run=run)


def add_side_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        metavar="REF",
        default=None,
        help="commit to compare with (default: the pull request's base from the GitHub event "
        "or GITHUB_BASE_REF, else the merge base with the base branch; env CI_ML_BASE)",
    )
    parser.add_argument(
        "--head",
        metavar="REF",
        default=None,
        help="commit to plan (default: the working tree)",
    )


def make_plan(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Project, Settings, Plan]:
    project = open_project(args.pipeline or env.get("CI_ML_PIPELINE"))
    settings = load_settings(project, env, {"base_branch": args.base_branch})
    base = resolve_base(
        project.git,
        explicit=args.base or env.get("CI_ML_BASE"),
        env=env,
        event=gha.load_event(env),
        base_branch=settings.base_branch,
        head=args.head or "HEAD",
    )
    head_side = read_side(project, args.head, settings=settings)
    base_side = read_side(project, base.sha, label=base.label)
    return project, settings, plan(base_side, head_side)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    _project, settings, result = make_plan(args, env)
    document = plan_document(result, settings)
    if args.github_output:
        gha.set_outputs(github_outputs(document), env)
    print(
        json.dumps(document, indent=2) if args.json else render_plan(result),
        end="\n" if args.json else "",
    )
    return 0


def github_outputs(document: Mapping[str, Any]) -> dict[str, str]:
    will_run = [s["name"] for s in document["stages"] if s["will_run"]]
    return {
        "stages": json.dumps(will_run),
        "any-will-run": json.dumps(document["any_will_run"]),
        "needs-gpu": json.dumps(document["needs_gpu"]),
        "runs-on": json.dumps(document["runs_on"]),
        "matrix": json.dumps(document["matrix"]),
    }
