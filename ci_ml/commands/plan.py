"""`ci-ml plan`: which stages the change touched, and why. Runs nothing."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_ml.config import Settings
from ci_ml.errors import GitError, UserError
from ci_ml.git import require_commit
from ci_ml.github import gha, resolve_base
from ci_ml.pipeline import Graph, build_graph
from ci_ml.plan import (
    Available,
    Plan,
    Project,
    Reason,
    Side,
    apply_availability,
    compute_keys,
    load_settings,
    open_project,
    plan,
    plan_document,
    read_side,
    read_worktree_and_base,
    render_plan,
)
from ci_ml.state import STATE_DIR, outputs_current, read_last_run

if TYPE_CHECKING:
    from ci_ml.cache import CacheStore


log = logging.getLogger("ci_ml")


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
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not consult the cache: report every affected stage as will_run",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="plan what `ci-ml run --all` does: every stage whose key the cache lacks will "
        "run, changed or not (frozen stages excepted)",
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


@dataclass(frozen=True, slots=True)
class Sides:
    project: Project
    settings: Settings
    base: Side
    head: Side


def read_sides(args: argparse.Namespace, env: Mapping[str, str]) -> Sides:
    """Both sides of the comparison: the base commit (from git objects) and head."""
    project = open_project(args, env)
    settings = load_settings(project, env, args)
    head_ref = getattr(args, "head", None)
    if head_ref is not None:
        # First: a head that does not exist is the error, not the merge base it cannot have.
        require_commit(project.git, head_ref, what="--head")
    base = resolve_base(
        project.git,
        explicit=args.base or env.get("CI_ML_BASE"),
        env=env,
        event=gha.load_event(env),
        base_branch=settings.base_branch,
        head=head_ref or "HEAD",
    )
    if head_ref is None:
        head_side, base_side = read_worktree_and_base(
            project, base.sha, base_label=base.label, settings=settings
        )
    else:
        head_side = read_side(project, head_ref, settings=settings)
        base_side = read_side(project, base.sha, label=base.label)
    return Sides(project, settings, base_side, head_side)


def make_plan(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Project, Settings, Plan]:
    """The static plan: base side vs head side, no cache consulted."""
    sides = read_sides(args, env)
    return sides.project, sides.settings, plan(sides.base, sides.head)


def availability(
    result: Plan, store: CacheStore | None, root: Path, *, workspace: bool
) -> dict[str, Available]:
    """Which stage keys need no run: cached (asked of the store for the stages that could
    run, and their inputs) or, for a local run, current in the workspace."""
    found: dict[str, Available] = {}
    if workspace:
        last_run = read_last_run(root)
        for s in result.stages:
            if outputs_current(root, s.name, s.key, s.stage.out_paths, last_run):
                found[s.key] = Available("workspace")
    if store is None:
        return found
    wanted = {s.name for s in result.stages if s.affected or s.will_run}
    wanted |= {up for name in wanted for up in result.graph.upstream[name]}
    keys = sorted({result.stage(name).key for name in wanted} - set(found))
    with ThreadPoolExecutor(8) as pool:
        for key, hit in zip(keys, pool.map(store.get_manifest, keys), strict=True):
            if hit is not None:
                found[key] = Available("cache", hit.manifest.run.commit)
    return found


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    project, settings, result = make_plan(args, env)
    if args.all:
        result = every_stage(result)
    # The default local cache is consulted only once it exists: a plan never creates state,
    # and without any cache the static answer is the useful one.
    has_cache = bool(settings.cache) or (project.root / STATE_DIR / "cache").is_dir()
    if has_cache and not args.no_cache:
        # Imported here: a plan without a cache never loads the cache code.
        from ci_ml.cache import open_cache

        store = open_cache(project, settings, env, reading_only=True)
        found = availability(result, store, project.root, workspace=True)
        result = apply_availability(result, found)
    document = plan_document(result, settings)
    if args.github_output:
        gha.set_outputs(github_outputs(document), env)
    print(
        json.dumps(document, indent=2) if args.json else render_plan(result),
        end="\n" if args.json else "",
    )
    return 0


def every_stage(result: Plan) -> Plan:
    """Every stage but frozen ones will run, so that the cache (consulted next) decides: what
    `run --all` does, whatever the diff from the base says."""
    stages = []
    for stage_plan in result.stages:
        if stage_plan.will_run or stage_plan.stage.frozen:
            stages.append(stage_plan)
            continue
        reasons = (*stage_plan.reasons, Reason("all", "filling the cache (--all)"))
        stages.append(dataclasses.replace(stage_plan, will_run=True, reasons=reasons))
    return dataclasses.replace(result, stages=tuple(stages))


def github_outputs(document: Mapping[str, Any]) -> dict[str, str]:
    will_run = [s["name"] for s in document["stages"] if s["will_run"]]
    return {
        "stages": json.dumps(will_run),
        "any-will-run": json.dumps(document["any_will_run"]),
        "needs-gpu": json.dumps(document["needs_gpu"]),
        "runs-on": json.dumps(document["runs_on"]),
        "matrix": json.dumps(document["matrix"]),
    }


def workspace_keys(
    project: Project, settings: Settings, env: Mapping[str, str]
) -> tuple[Side, Graph, dict[str, str]]:
    """The working tree's stage keys as `ci-ml run` computes them. A frozen stage keeps its key
    at the base (the plan's rule), so when the pipeline has one the base is read too; without
    a base to read, frozen stages follow their inputs (and a warning says so)."""
    side = read_side(project, None, settings=settings)
    graph = side.graph or build_graph(side.pipeline)
    frozen_keys = None
    if any(stage.frozen for stage in side.pipeline.stages):
        try:
            base = resolve_base(
                project.git,
                explicit=env.get("CI_ML_BASE"),
                env=env,
                event=gha.load_event(env),
                base_branch=settings.base_branch,
                head="HEAD",
            )
            base_side = read_side(project, base.sha, label=base.label)
        except (GitError, UserError) as e:
            log.warning("frozen stages keep no base key (%s)", e)
        else:
            base_graph = base_side.graph or build_graph(base_side.pipeline)
            frozen_keys = compute_keys(
                base_side.pipeline, base_graph, base_side.dep_ids, base_side.sha or ""
            )
    keys = compute_keys(
        side.pipeline, graph, side.dep_ids, side.sha or "worktree", frozen_keys=frozen_keys
    )
    return side, graph, keys
