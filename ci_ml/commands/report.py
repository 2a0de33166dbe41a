"""`ci-ml report`: the markdown reviewers read, with plots, and the metric gates' exit code."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_ml.cache import open_cache
from ci_ml.commands.plan import (
    add_side_flags,
    base_cpu_runner,
    pull_request_of,
    read_sides,
    trusted_durations,
)
from ci_ml.errors import CiMlError
from ci_ml.github import gha
from ci_ml.mlflow import find_links
from ci_ml.pipeline import build_graph
from ci_ml.plan import Plan, Project, compute_keys, estimate, gate, plan
from ci_ml.report import (
    RAN,
    BaseFiles,
    Ledger,
    Minutes,
    PlotRef,
    Report,
    StageRow,
    base_metrics,
    diff_metrics,
    draw_plots,
    head_metrics,
    metrics_paths,
    param_changes,
    recorded_runs,
    render_report,
    report_to_dict,
    stage_rows,
    tally,
    verdict,
)
from ci_ml.state import STATE_DIR, read_run_summary

if TYPE_CHECKING:
    from ci_ml.cache import CacheStore
    from ci_ml.config import Settings

log = logging.getLogger("ci_ml")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "report",
        parents=[common],
        help="write the PR report (markdown and plots); fail when a metric gate fails",
        description="Compare metrics, params and plots of head with base and write "
        "DIR/report.md and DIR/plots/*.png. Exit 1 when a metric gate fails.",
    )
    add_side_flags(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help=f"output directory (default: {STATE_DIR}/report in the pipeline's root)",
    )
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a gate fails")
    parser.add_argument("--no-plots", action="store_true", help="skip drawing plots")
    parser.add_argument("--json", action="store_true", help="print the verdict and paths as JSON")
    parser.add_argument(
        "--comment",
        action="store_true",
        help="also post it to GitHub, as `ci-ml comment` does with its defaults",
    )
    parser.set_defaults(run=run)


def build_report(
    args: argparse.Namespace, env: Mapping[str, str], out_dir: Path | None
) -> tuple[Report, Path]:
    sides = read_sides(args, env)
    project, settings = sides.project, sides.settings
    result = plan(sides.base, sides.head)
    base_graph = build_graph(sides.base.pipeline)
    base_keys = compute_keys(
        sides.base.pipeline, base_graph, sides.base.dep_ids, sides.base.sha or ""
    )
    try:
        store = open_cache(project, settings, env, reading_only=True)
    except CiMlError as e:
        log.warning("cache unavailable, base values come from git only: %s", e)
        store = None
    files = BaseFiles(project, sides.base, base_keys, store)
    paths = metrics_paths(sides.head.pipeline)
    base_values, notes = base_metrics(files, paths)
    deltas = diff_metrics(
        base_values, head_metrics(project.root, sides.head.pipeline), settings.metric_rules
    )
    out = out_dir or project.root / STATE_DIR / "report"
    summary = read_run_summary(project.root)
    plots: list[PlotRef] = []
    if not getattr(args, "no_plots", False):
        plots, plot_notes = draw_plots(
            project.root,
            sides.head.pipeline,
            files,
            deltas,
            out,
            base_label=_label(result.base_ref, result.base_sha),
            head_label=_label(result.head_ref, result.head_sha),
            rules=settings.metric_rules,
        )
        notes += plot_notes
    summary = summary if summary and summary.get("head", {}).get("sha") == result.head_sha else None
    recorded = recorded_runs(result, store)
    overrides = [str(o) for o in summary.get("overrides", [])] if summary else []
    if summary is None and recorded:
        # Overrides the run jobs applied, as their run records say (retrain on another job).
        here = [f for f in recorded.values() if result.head_sha and f.commit == result.head_sha]
        overrides = [o for facts in here for o in facts.param_overrides]
    links = find_links(project.root, result.head_sha, settings=settings.mlflow, env=env)
    stages = [
        dataclasses.replace(row, run_url=links.stages.get(row.name) if links else None)
        for row in stage_rows(result, summary, recorded)
    ]
    if links and links.error:
        notes.append(
            f"MLflow: this run is not logged yet ({links.error}); `ci-ml push` delivers it."
        )
    report = Report(
        pipeline=project.root.name,
        pipeline_dir=project.prefix,
        base_label=result.base_ref,
        base_sha=result.base_sha,
        head_label=result.head_ref,
        head_sha=result.head_sha,
        stages=tuple(stages),
        metrics=tuple(deltas),
        rules=settings.metric_rules,
        params=tuple(param_changes(sides.base.pipeline, sides.head.pipeline)),
        overrides=tuple(dict.fromkeys(overrides)),
        plots=tuple(plots),
        notes=tuple(notes),
        ledger=_ledger(project, result, rows=stages, settings=settings, store=store, env=env),
        run_url=_run_url(env),
        mlflow_url=links.parent if links else None,
    )
    return report, out


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    out_dir = Path(args.out) if args.out else None
    report, out = build_report(args, env, out_dir)
    out.mkdir(parents=True, exist_ok=True)
    body = render_report(report)
    path = out / "report.md"
    path.write_text(body, encoding="utf-8")
    # The same report as data: `ci-ml comment --from-artifact` re-renders it from this.
    (out / "report.json").write_text(json.dumps(report_to_dict(report), indent=2), encoding="utf-8")
    gha.append_summary(body, env)
    result = verdict(report)
    if env.get("GITHUB_OUTPUT"):
        gha.set_outputs({"report-dir": str(out), "verdict": result.state}, env)
    if args.json:
        print(json.dumps({"report": str(path), "verdict": result.state, "text": result.text}))
    else:
        print(path)
    if args.comment:
        from ci_ml.commands.comment import post_directory

        post_directory(out, env)
    if result.state == "failed":
        gha.annotate("error", f"metric gate failed: {result.text}", env)
        log.error("metric gate failed: %s", result.text)
        return 0 if args.no_fail else 1
    return 0


def _ledger(
    project: Project,
    result: Plan,
    *,
    rows: Sequence[StageRow],
    settings: Settings,
    store: CacheStore | None,
    env: Mapping[str, str],
) -> Ledger:
    """Minutes run and saved, the estimate for what ran (from trusted runs), and whether the
    GPU gate holds the stages that have not run, decided as the plan job decides it."""
    status = {row.name: row.status for row in rows}
    ran = _only(result, {name for name, st in status.items() if st in RAN})
    est = estimate(ran, settings, trusted_durations(ran, store))
    # Planned but absent from the cache: the run jobs did not run them (yet): held, or failed.
    waiting = _only(result, {n for n, st in status.items() if st in ("will run", "not run")})
    pending = estimate(waiting, settings, trusted_durations(waiting, store))
    pull_request = pull_request_of(gha.load_event(env))
    cpu = base_cpu_runner(project, result.base_sha, env) if pull_request else ()
    held = gate(waiting, settings, pending, pull_request, cpu_runner=cpu)
    return Ledger(
        ran=tally(rows, settings.runner_cost, RAN),
        saved=tally(rows, settings.runner_cost, ("restored",)),
        estimate=Minutes(gpu=est.gpu_minutes, cpu=est.cpu_minutes, cost_usd=est.cost_usd)
        if any(s.will_run for s in ran.stages)
        else None,
        waiting=held.reasons if held.wait else (),
        how_to_approve=held.how_to_approve() if held.wait else None,
    )


def _only(result: Plan, names: set[str]) -> Plan:
    """The plan with only `names` running."""
    stages = tuple(dataclasses.replace(s, will_run=s.name in names) for s in result.stages)
    return dataclasses.replace(result, stages=stages)


def _label(ref: str, sha: str | None) -> str:
    return f"{ref} ({sha[:7]})" if sha else ref


def _run_url(env: Mapping[str, str]) -> str | None:
    server, repo, run_id = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    if not (server and repo and run_id):
        return None
    return f"{server}/{repo}/actions/runs/{run_id}"
