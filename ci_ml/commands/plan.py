"""`ci-ml plan`: which stages the change touched, and why. Runs nothing."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_ml.config import CONFIG_FILE, Settings, resolve
from ci_ml.errors import ConfigError, GitError, UserError
from ci_ml.git import require_commit
from ci_ml.plan import load_settings, open_project, start_worktree_reads
from ci_ml.state import STATE_DIR, outputs_current, read_last_run
from ci_ml.yaml_load import load_yaml_text

# The planner, the GitHub code and the pipeline parser are imported inside the functions that
# use them: `ci-ml plan` starts git on the working tree first, and loads them while git works.
if TYPE_CHECKING:
    from ci_ml.cache import CacheHit, CacheStore
    from ci_ml.github import Base
    from ci_ml.pipeline import Graph
    from ci_ml.plan import (
        Available,
        Estimate,
        Gate,
        Plan,
        Project,
        PullRequest,
        Side,
        StagePlan,
    )


log = logging.getLogger("ci_ml")
SIBLING_READS = 4  # trusted runs read per foreach/matrix group to estimate a new member


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
        help="also write stages, any-will-run, needs-gpu, runs-on, matrix, timeout-minutes and "
        "gpu-wait to $GITHUB_OUTPUT",
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


def read_sides(
    args: argparse.Namespace, env: Mapping[str, str], *, cache_client: bool = False
) -> Sides:
    """Both sides of the comparison: the base commit (from git objects) and head.

    With `cache_client`, an S3 cache's client is made in the background meanwhile, for the
    command to consult the cache after planning without waiting for it."""
    head_ref = getattr(args, "head", None)
    # With the working tree as head, tracked files in .ci-ml/ are found in its index listing.
    project = open_project(args, env, check_state=head_ref is not None)
    # The working tree's `git status` and index listing run meanwhile.
    reads = start_worktree_reads(project.git, project.prefix) if head_ref is None else None
    from ci_ml.plan import read_side, read_worktree_and_base

    settings = load_settings(project, env, args)
    if cache_client and settings.cache and settings.cache.lower().startswith("s3://"):
        from ci_ml.cache import start_s3_client  # a plan without a cache never loads it

        start_s3_client(
            settings.cache,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,
        )
    if head_ref is not None:
        # First: a head that does not exist is the error, not the merge base it cannot have.
        require_commit(project.git, head_ref, what="--head")
    base = _base(project, settings, env, explicit=args.base, head=head_ref or "HEAD")
    if head_ref is None:
        head_side, base_side = read_worktree_and_base(
            project, base.sha, base_label=base.label, settings=settings, reads=reads
        )
    else:
        head_side = read_side(project, head_ref, settings=settings)
        base_side = read_side(project, base.sha, label=base.label)
    return Sides(project, settings, base_side, head_side)


def make_plan(
    args: argparse.Namespace, env: Mapping[str, str], *, cache_client: bool = False
) -> tuple[Project, Settings, Plan]:
    """The static plan: base side vs head side, no cache consulted (`read_sides` for
    `cache_client`)."""
    sides = read_sides(args, env, cache_client=cache_client)
    from ci_ml.plan import plan

    return sides.project, sides.settings, plan(sides.base, sides.head)


def availability(
    result: Plan, store: CacheStore | None, root: Path, *, workspace: bool
) -> dict[str, Available]:
    """Which stage keys need no run: cached (asked of the store for the stages that could
    run, and their inputs) or, for a local run, current in the workspace."""
    from ci_ml.plan import Available

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
    for key, hit in zip(keys, _manifests(store, keys), strict=True):
        if hit is not None:
            found[key] = Available("cache", hit.manifest.run.commit)
    return found


def _manifests(store: CacheStore, keys: Sequence[str]) -> list[CacheHit | None]:
    """Each key's manifest (or None), asked 8 at a time: on S3, a request each."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(store.get_manifest, keys))


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    project, settings, result = make_plan(args, env, cache_client=not args.no_cache)
    from ci_ml.github import gha
    from ci_ml.plan import apply_availability, plan_document, render_plan

    if args.all:
        result = every_stage(result)
    # The default local cache is consulted only once it exists: a plan never creates state,
    # and without any cache the static answer is the useful one.
    has_cache = bool(settings.cache) or (project.root / STATE_DIR / "cache").is_dir()
    store = None
    if has_cache and not args.no_cache:
        # Imported here: a plan without a cache never loads the cache code.
        from ci_ml.cache import open_cache

        store = open_cache(project, settings, env, reading_only=True)
        found = availability(result, store, project.root, workspace=True)
        result = apply_availability(result, found)
    est, held = spend(project, result, settings=settings, store=store, env=env)
    document = plan_document(result, settings, est=est, gate=held)
    if args.github_output:
        gha.set_outputs(github_outputs(document), env)
    if held.wait:
        gha.annotate("warning", "ci-ml: GPU jobs wait: " + "; ".join(held.reasons), env)
    print(
        json.dumps(document, indent=2)
        if args.json
        else render_plan(result) + render_spend(est, held),
        end="\n" if args.json else "",
    )
    return 0


def spend(
    project: Project,
    result: Plan,
    *,
    settings: Settings,
    store: CacheStore | None,
    env: Mapping[str, str],
) -> tuple[Estimate, Gate]:
    """The estimate from the trusted cache, and the GPU gate's decision for this event."""
    from ci_ml.github import gha
    from ci_ml.plan import estimate, gate

    est = estimate(result, settings, trusted_durations(result, store))
    pull_request = pull_request_of(gha.load_event(env))
    if pull_request is None:
        return est, gate(result, settings, est, None)
    cpu = base_cpu_runner(project, result.base_sha, env)
    return est, gate(result, settings, est, pull_request, cpu_runner=cpu)


def base_cpu_runner(
    project: Project, base_sha: str | None, env: Mapping[str, str]
) -> tuple[str, ...]:
    """The CPU `runner` labels as the workflow and the base commit's ci-ml.yaml set them: where
    a pull request's jobs may run without approval. The PR's own ci-ml.yaml could name GPU
    machines there. One `git ls-tree` and one blob read, for pull requests only."""
    doc = None
    if base_sha:
        path = project.to_repo(CONFIG_FILE)
        entry = project.git.ls_tree(base_sha, path).get(path)
        if entry is not None:
            text = next(data for _, data in project.git.read_blobs([entry]))
            doc = load_yaml_text(path, text.decode("utf-8", "replace"))
    try:
        return resolve(doc if isinstance(doc, Mapping) else None, env, {}).runner
    except ConfigError:  # a base ci-ml.yaml ci-ml cannot read: the default and the env only
        return resolve(None, env, {}).runner


def trusted_durations(result: Plan, store: CacheStore | None) -> dict[str, float]:
    """Seconds that each stage that will run took in its last trusted run: the manifest under
    its base key (what the base branch computed), read from the trusted area only, so a pull
    request cannot shrink its own estimate. A stage with none (a new foreach member, say)
    takes the longest trusted run of its group (`train` for `train@lr-0.1`), from at most
    SIBLING_READS siblings. Nothing is read without a store."""
    if store is None:
        return {}
    running = [s for s in result.stages if s.will_run]
    asked = {s.name: s.base_key for s in running if s.base_key}
    found = _read_durations(store, asked)
    by_group: dict[str, list[StagePlan]] = {}
    for s in result.stages:
        by_group.setdefault(_group(s.name), []).append(s)
    missing = sorted({_group(s.name) for s in running if s.name not in found})
    siblings: dict[str, str] = {}
    for group in missing:
        unread = [s for s in by_group[group] if s.base_key and s.name not in asked]
        siblings.update((s.name, s.base_key) for s in unread[:SIBLING_READS] if s.base_key)
    known = {**_read_durations(store, siblings), **found}
    for s in running:
        seconds = [known[g.name] for g in by_group[_group(s.name)] if g.name in known]
        if s.name not in found and seconds:
            found[s.name] = max(seconds)
    return found


def _group(name: str) -> str:
    return name.partition("@")[0]


def _read_durations(store: CacheStore, keys: Mapping[str, str]) -> dict[str, float]:
    if not keys:
        return {}
    from ci_ml.cache import Area

    names = sorted(keys)
    found = {}
    for name, hit in zip(names, _manifests(store, [keys[n] for n in names]), strict=True):
        if hit is not None and hit.area is Area.TRUSTED:
            found[name] = hit.manifest.run.duration_s
    return found


def pull_request_of(event: Mapping[str, Any]) -> PullRequest | None:
    """The gate's facts about the event's pull request, or None for other events. Only the
    `labeled` event that adds the approval label approves: a later push is a `synchronize`
    event, so new code never runs on an old approval."""
    from ci_ml.plan import APPROVAL_LABEL, PullRequest

    pr = event.get("pull_request")
    if not isinstance(pr, dict):
        return None
    head_repo = (pr.get("head") or {}).get("repo") or {}
    base_repo = (pr.get("base") or {}).get("repo") or {}
    label = event.get("label") or {}
    return PullRequest(
        # A deleted fork has no head repository: still a fork.
        fork=not head_repo.get("full_name") or head_repo["full_name"] != base_repo.get("full_name"),
        label_approved=event.get("action") == "labeled"
        and isinstance(label, dict)
        and label.get("name") == APPROVAL_LABEL,
    )


def render_spend(est: Estimate, held: Gate) -> str:
    lines = [
        f"estimate: {est.gpu_minutes:.1f} GPU min, {est.cpu_minutes:.1f} CPU min, "
        f"${est.cost_usd:.2f}"
        + (f" (no trusted run of {', '.join(est.unknown)})" if est.unknown else "")
    ]
    if held.reasons:
        state = "approved" if held.approved else "wait"
        lines.append(f"GPU jobs {state}: {'; '.join(held.reasons)}")
        if held.wait:
            lines.append(f"to approve: {held.how_to_approve()}")
    return "\n".join(lines) + "\n"


def every_stage(result: Plan) -> Plan:
    """Every stage but frozen ones will run, so that the cache (consulted next) decides: what
    `run --all` does, whatever the diff from the base says."""
    from ci_ml.plan import Reason

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
        # False when the GPU gate left every job out: an empty matrix is a workflow error.
        "any-will-run": json.dumps(bool(document["matrix"]["include"])),
        "gpu-wait": json.dumps(document["gpu_gate"]["wait"]),
        "timeout-minutes": json.dumps(document["timeout_minutes"]),
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
    from ci_ml.pipeline import build_graph
    from ci_ml.plan import compute_keys, read_side

    side = read_side(project, None, settings=settings)
    graph = side.graph or build_graph(side.pipeline)
    frozen_keys = None
    if any(stage.frozen for stage in side.pipeline.stages):
        try:
            base = _base(project, settings, env, explicit=None, head="HEAD")
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


def _base(
    project: Project, settings: Settings, env: Mapping[str, str], *, explicit: str | None, head: str
) -> Base:
    """The base to compare with: --base, else CI_ML_BASE, else the PR's or the branch's."""
    from ci_ml.github import gha, resolve_base

    return resolve_base(
        project.git,
        explicit=explicit or env.get("CI_ML_BASE"),
        env=env,
        event=gha.load_event(env),
        base_branch=settings.base_branch,
        head=head,
    )
