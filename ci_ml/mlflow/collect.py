"""`ci-ml run` and `ci-ml push` meet MLflow here: read each stage's params, metrics and plots
from the workspace, build the pipeline's log, deliver it, and warn (never fail) when the
tracking server cannot take it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from ci_ml.config import MlflowSettings
from ci_ml.errors import PipelineError, UserError
from ci_ml.github import gha
from ci_ml.mlflow.batches import StageResult, metric_name, series_from_rows, stage_spec
from ci_ml.mlflow.target import Target, parent_spec, resolve_target, run_context
from ci_ml.mlflow.tracking import (
    Links,
    PipelineLog,
    deliver,
    lookup_links,
    now_ms,
    pending_logs,
    read_links,
    write_links,
)
from ci_ml.plan import Plan, StagePlan, param_label
from ci_ml.workspace_files import UnsafeFileError, read_text

log = logging.getLogger("ci_ml")
# Outcomes that get a child run: the stage ran (miss), or its result is in the cache (hit).
LOGGED = ("ran", "failed", "restored", "current", "cached", "unchanged")
WITH_FILES = ("ran", "restored", "current")  # its outputs are in the workspace now
PLOT_DATA_SUFFIXES = (".csv", ".tsv", ".json", ".yaml", ".yml")
MAX_DIR_ARTIFACTS = 100


class OutcomeLike(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def duration_s(self) -> float: ...


def log_run(
    plan: Plan,
    outcomes: Mapping[str, OutcomeLike],
    *,
    root: Path,
    cache_url: str,
    settings: MlflowSettings,
    env: Mapping[str, str],
    started_ms: int,
    flag_uri: str | None = None,
) -> Links | None:
    """Log the run when a tracking URI is set; None when logging is off."""
    target = _target(settings, env, flag_uri, root)
    if target is None:
        return None
    several = len({o.path for s in plan.stages for o in s.stage.outs if o.kind == "metrics"}) > 1
    end_ms = now_ms()
    children = []
    for stage_plan in plan.stages:
        outcome = outcomes.get(stage_plan.name)
        if outcome is None or outcome.status not in LOGGED:
            continue
        result = _stage_result(root, stage_plan, outcome, several=several)
        commit = plan.head_sha or ""
        children.append(stage_spec(result, commit=commit, cache_url=cache_url, end_ms=end_ms))
    context = run_context(env, gha.load_event(env), commit=plan.head_sha or "")
    failed = any(o.status == "failed" for o in outcomes.values())
    pipeline_log = PipelineLog(
        id=secrets.token_hex(16),
        experiment=target.experiment,
        head_sha=plan.head_sha or "",
        parent=parent_spec(context, start_ms=started_ms, end_ms=end_ms, failed=failed),
        children=tuple(children),
        workflow_run_id=context.workflow_run_id,
    )
    return _deliver(target, pipeline_log, root, env)


def push_logs(
    root: Path, settings: MlflowSettings, env: Mapping[str, str], flag_uri: str | None = None
) -> tuple[int, int]:
    """Retry the logs a run kept back: (delivered, still pending)."""
    waiting = pending_logs(root)
    target = _target(settings, env, flag_uri, root) if waiting else None
    if target is None:
        if waiting:
            log.warning("MLflow: %d log(s) pending, but no tracking URI is set", len(waiting))
        return 0, len(waiting)
    delivered = 0
    for pipeline_log in waiting:
        # The experiment the run chose, even if the variables differ now.
        target_for_log = dataclasses.replace(target, experiment=pipeline_log.experiment)
        links = _deliver(target_for_log, pipeline_log, root, env)
        delivered += links.error is None
    return delivered, len(waiting) - delivered


def find_links(
    root: Path,
    head_sha: str | None,
    *,
    settings: MlflowSettings,
    env: Mapping[str, str],
    flag_uri: str | None = None,
) -> Links | None:
    """Run pages for the report: those this machine's run left for this head, else those the
    jobs of this workflow run logged (found in the server by the workflow run's tag)."""
    links = read_links(root, head_sha)
    if links is not None:
        return links
    context = run_context(env, gha.load_event(env), commit=head_sha or "")
    if not context.workflow_run_id:
        return None
    target = _target(settings, env, flag_uri, root)
    return lookup_links(target, context.workflow_run_id) if target is not None else None


def _deliver(
    target: Target, pipeline_log: PipelineLog, root: Path, env: Mapping[str, str]
) -> Links:
    links = deliver(target, pipeline_log, root)
    write_links(root, pipeline_log.head_sha, links)
    if links.error:
        message = (
            f"MLflow: could not log to {target.url}: {links.error}. The pipeline run is not "
            "affected; the log is kept in .ci-ml/mlflow-pending and `ci-ml push` retries it."
        )
        log.warning("%s", message)
        gha.annotate("warning", message, env)
    else:
        log.info("MLflow: logged %d stage run(s) to %s", len(links.stages), links.parent)
    return links


def _target(
    settings: MlflowSettings, env: Mapping[str, str], flag_uri: str | None, root: Path
) -> Target | None:
    repository = env.get("GITHUB_REPOSITORY", "")
    default = repository.rsplit("/", 1)[-1] or root.resolve().name
    try:
        return resolve_target(settings, env, flag_uri=flag_uri, default_experiment=default)
    except UserError as e:
        # Logging is a side effect of the run; a bad setting must not fail it.
        log.warning("MLflow: not logging: %s", e)
        gha.annotate("warning", f"MLflow: not logging: {e}", env)
        return None


def _stage_result(
    root: Path, stage_plan: StagePlan, outcome: OutcomeLike, *, several: bool
) -> StageResult:
    # Imported only when a run is logged: the report package costs a plain `ci-ml run` 26 ms.
    from ci_ml.report import flatten, read_metrics_files

    stage = stage_plan.stage
    metrics: dict[str, object] = {}
    series: dict[str, list[tuple[int, float]]] = {}
    small = [o.path for o in stage.outs if o.kind in ("metrics", "plots")]
    if outcome.status in WITH_FILES:
        metric_paths = [o.path for o in stage.outs if o.kind == "metrics"]
        for path, document in read_metrics_files(root, metric_paths).items():
            for key, value in flatten(document).items():
                metrics[metric_name(path, key, several_files=several)] = value
        for path in small:
            series.update(_series(root, path))
    return StageResult(
        name=stage.name,
        key=stage_plan.key,
        status=outcome.status,
        duration_s=outcome.duration_s,
        params={param_label(p.file, p.key): _param_text(p.value) for p in stage.params},
        metrics=metrics,
        series=series,
        artifacts=_files(root, small) if outcome.status in WITH_FILES else (),
        large_outputs=tuple(o.path for o in stage.outs if o.kind == "outs"),
    )


def _series(root: Path, path: str) -> dict[str, list[tuple[int, float]]]:
    file = root / path
    if not file.is_file() or posixpath.splitext(path)[1].lower() not in PLOT_DATA_SUFFIXES:
        return {}
    from ci_ml.report import parse_plot_file

    try:
        rows = parse_plot_file(path, read_text(file))
    except (PipelineError, UnsafeFileError) as e:
        log.debug("MLflow: no step series from %s: %s", path, e)
        return {}
    return series_from_rows(rows, path)


def _files(root: Path, paths: list[str]) -> tuple[str, ...]:
    """The files of these outputs (a directory's first files, sorted)."""
    found: list[str] = []
    for path in paths:
        target = root / path
        if target.is_file():
            found.append(path)
        elif target.is_dir():
            inside = sorted(p for p in target.rglob("*") if p.is_file())[:MAX_DIR_ARTIFACTS]
            found += [p.relative_to(root).as_posix() for p in inside]
    return tuple(found)


def _param_text(value_json: str) -> str:
    value = json.loads(value_json)
    return value if isinstance(value, str) else value_json
