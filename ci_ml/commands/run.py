"""`ci-ml run`: plan, restore what is cached and needed, run what changed, cache the results."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ci_ml.cache import open_cache
from ci_ml.commands.plan import add_side_flags, availability, make_plan
from ci_ml.errors import StageFailed, UserError, did_you_mean
from ci_ml.github import gha
from ci_ml.mlflow import granted_env, log_run
from ci_ml.pipeline import downstream_closure, upstream_closure
from ci_ml.plan import Plan, Reason, apply_availability, open_project, runner_labels
from ci_ml.run import Outcome, RunOptions, apply_overrides, execute, parse_override
from ci_ml.state import record_run, write_run_summary

log = logging.getLogger("ci_ml")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "run",
        parents=[common],
        help="run the stages that changed and restore the rest from the cache",
        description="Plan against the base, then walk the stages in order: restore cached "
        "outputs that something needs, run affected stages that are not cached, cache results.",
    )
    parser.add_argument(
        "stages", nargs="*", metavar="STAGE", help="only these stages (and what they need)"
    )
    add_side_flags(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="run the chosen stages (default: all) and their downstream even if cached",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="make sure every stage's outputs are cached: run any stage the cache lacks, "
        "changed or not (for the default branch, so pull requests find its outputs)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would run or be restored; change nothing"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run up to N independent stages at once (default: 1)",
    )
    parser.add_argument("--no-push", action="store_true", help="do not write results to the cache")
    parser.add_argument(
        "--pull-all",
        action="store_true",
        help="restore every cached stage, not only what is needed",
    )
    parser.add_argument(
        "--no-run-on-miss",
        action="store_true",
        help="fail instead of re-running a stage whose cache entry is missing or corrupt",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FILE:KEY=VALUE",
        help="override a param for this run (written to the params file); repeatable",
    )
    parser.add_argument(
        "--allow-no-gpu",
        action="store_true",
        help="run gpu stages on the CPU when no GPU is found (default on outside CI)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the outcome as one JSON document"
    )
    add_mlflow_flag(parser)
    parser.set_defaults(run=run)


def add_mlflow_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mlflow-tracking-uri",
        metavar="URL",
        help="log to this MLflow tracking server (default: MLFLOW_TRACKING_URI, else "
        "mlflow.tracking-uri in ci-ml.yaml; unset: no logging)",
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1.")
    overrides = [parse_override(text) for text in args.set]
    if overrides:
        apply_overrides(open_project(args, env).root, overrides)
    if args.head:
        raise UserError(
            "ci-ml run works on the working tree; check out the commit instead of --head."
        )
    project, settings, result = make_plan(args, env, cache_client=True)
    store = open_cache(project, settings, env)
    result = _select(result, args.stages, force=args.force, everything=args.all)
    # A forced stage runs even where the cache or the workspace has its key.
    forced = {s.key for s in result.stages if s.will_run} if args.force else set()
    found = availability(result, store, project.root, workspace=True)
    result = apply_availability(result, {k: v for k, v in found.items() if k not in forced})
    options = RunOptions(
        jobs=args.jobs,
        dry_run=args.dry_run,
        push=not args.no_push,
        pull_all=args.pull_all,
        allow_no_gpu=args.allow_no_gpu,
        run_on_miss=not args.no_run_on_miss,
        overrides=tuple(str(o) for o in overrides),
        commit=result.head_sha,
        ref=env.get("GITHUB_REF") or None,
        granted_env=granted_env(settings.mlflow),
        labels={s.name: runner_labels(s, settings) for s in result.stages},
    )
    started_ms = int(time.time() * 1000)
    outcomes = execute(result, store, project.root, options, env)
    document = run_document(result, outcomes, store.url, options.overrides)
    if not args.dry_run:
        done = {
            n: result.stage(n).key
            for n, o in outcomes.items()
            if o.status in ("ran", "restored", "current")
        }
        record_run(project.root, done)
        write_run_summary(project.root, document)
        log_run(
            result,
            outcomes,
            root=project.root,
            cache_url=store.url,
            settings=settings.mlflow,
            env=env,
            started_ms=started_ms,
            flag_uri=args.mlflow_tracking_uri,
        )
    print(json.dumps(document, indent=2) if args.json else render_outcomes(outcomes))
    if env.get("GITHUB_STEP_SUMMARY"):  # rendered only for Actions: it loads the report package
        gha.append_summary(render_outcomes_markdown(outcomes), env)
    failed = [n for n, o in outcomes.items() if o.status == "failed"]
    if failed:
        for name in failed:
            gha.annotate("error", f"stage {name} failed: {outcomes[name].detail}", env)
        raise StageFailed(f"{len(failed)} stage(s) failed: {', '.join(failed)}. See the log above.")
    return 0


def _select(result: Plan, names: Sequence[str], *, force: bool, everything: bool) -> Plan:
    """Keep will_run to the chosen stages; with --force, make them and their downstream run;
    with --all, every chosen stage is a candidate (the cache then drops those it has)."""
    known = [s.name for s in result.stages]
    for name in names:
        if name not in known:
            raise UserError(f"no stage named {name!r}{did_you_mean(name, known)}. See `ci-ml dag`.")
    chosen = set(names) or set(known)
    if force:
        chosen = downstream_closure(result.graph, chosen)
    else:
        chosen = upstream_closure(result.graph, chosen) if names else chosen
    stages = []
    for stage_plan in result.stages:
        wanted = force or everything
        will_run = stage_plan.name in chosen and (
            stage_plan.will_run or (wanted and not stage_plan.stage.frozen)
        )
        reasons = stage_plan.reasons
        if will_run and not stage_plan.will_run:
            why = "forced (--force)" if force else "filling the cache (--all)"
            reasons = (*reasons, Reason("forced" if force else "all", why))
        stages.append(dataclasses.replace(stage_plan, will_run=will_run, reasons=reasons))
    return dataclasses.replace(result, stages=tuple(stages))


def run_document(
    result: Plan, outcomes: Mapping[str, Outcome], cache_url: str, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    return {
        "overrides": list(overrides),
        "base": {"ref": result.base_ref, "sha": result.base_sha},
        "head": {"ref": result.head_ref, "sha": result.head_sha},
        "cache": cache_url,
        "stages": [
            {
                "name": name,
                "key": result.stage(name).key,
                "status": o.status,
                "detail": o.detail,
                "duration_s": round(o.duration_s, 3),
                "gpu": o.gpu,
                "runner": o.runner,
                "labels": list(o.labels),
                "reasons": [r.text for r in result.stage(name).reasons],
                "log_tail": list(o.log_tail[-20:]) if o.status == "failed" else [],
            }
            for name, o in outcomes.items()
        ],
    }


def render_outcomes(outcomes: Mapping[str, Outcome]) -> str:
    width = max([len("stage"), *(len(n) for n in outcomes)])
    lines = [f"{'stage':<{width}}  {'status':<13}  detail"]
    for name, o in outcomes.items():
        detail = f"{o.duration_s:.1f} s" if o.status == "ran" else o.detail
        if o.status == "ran" and o.gpu:
            detail += f" on {o.gpu}"
        lines.append(f"{name:<{width}}  {o.status:<13}  {detail}".rstrip())
    counts: dict[str, int] = {}
    for o in outcomes.values():
        counts[o.status] = counts.get(o.status, 0) + 1
    lines += ["", ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))]
    return "\n".join(lines)


def render_outcomes_markdown(outcomes: Mapping[str, Outcome]) -> str:
    from ci_ml.report import markdown as md  # here: the report package costs 26 ms

    rows = ["| stage | status | detail |", "| --- | --- | --- |"]
    for name, o in outcomes.items():
        # Stage names and details come from the pull request: escaped like the report's.
        rows.append(f"| {md.code(name)} | {o.status} | {md.text(o.detail) or '-'} |")
    return "### ci-ml run\n\n" + "\n".join(rows) + "\n"
