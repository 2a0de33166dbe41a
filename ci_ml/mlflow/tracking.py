"""Log a pipeline run to MLflow, keep it for `ci-ml push` when that fails, and remember the
run pages for `ci-ml report`.

A log is built whole first (pure, in `batches` and `target`), then delivered. Delivery never
fails the pipeline run: an unreachable server or a refused request becomes a warning naming
the server and the error, and what was not delivered is kept under `.ci-ml/mlflow-pending/`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_ml.mlflow.batches import Entry, Metric, RunSpec, chunk
from ci_ml.mlflow.client import MlflowClient, MlflowError, RunRef
from ci_ml.mlflow.target import Target
from ci_ml.state import STATE_DIR, state_dir
from ci_ml.workspace_files import UnsafeFileError, read_bytes

log = logging.getLogger("ci_ml")
PENDING_DIR = "mlflow-pending"
LINKS_FILE = "mlflow.json"
MAX_ARTIFACT_BYTES = 10 << 20
CREATE_TAGS = 98  # runs/create takes at most 100 tags; the client adds two


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineLog:
    """Everything one `ci-ml run` logs; what is left of it when delivery stopped half-way."""

    id: str
    experiment: str
    head_sha: str
    parent: RunSpec
    children: tuple[RunSpec, ...]
    workflow_run_id: str | None = None
    parent_run_id: str | None = None  # set once the parent exists


@dataclass(frozen=True, slots=True, kw_only=True)
class Links:
    """Run pages of the last log of a head commit, or why it was not logged."""

    server: str
    parent: str | None = None
    stages: Mapping[str, str] = dataclasses.field(default_factory=dict)
    error: str | None = None


def deliver(target: Target, pipeline_log: PipelineLog, root: Path) -> Links:
    """Log it all; on failure keep the rest pending and return the error in the links."""
    client = MlflowClient(target)
    stages: dict[str, str] = {}
    remaining = list(pipeline_log.children)
    parent_id = pipeline_log.parent_run_id
    parent_url = None
    try:
        client.check()
        experiment_id = client.experiment_id(pipeline_log.experiment)
        if parent_id is None:
            parent_id = _parent(client, experiment_id, pipeline_log)
        parent_url = target.run_page(experiment_id, parent_id)
        existing = {
            run.tag("ci_ml.stage") or "": run
            for run in client.search_runs(experiment_id, {"mlflow.parentRunId": parent_id})
        }
        while remaining:
            spec = remaining[0]
            run_id = _child(client, experiment_id, parent_id, spec, existing, root)
            stages[spec.stage or ""] = target.run_page(experiment_id, run_id)
            remaining.pop(0)
        client.finish_run(parent_id, pipeline_log.parent.status, pipeline_log.parent.end_ms)
    except MlflowError as e:
        rest = dataclasses.replace(pipeline_log, children=tuple(remaining), parent_run_id=parent_id)
        save_pending_log(root, rest)
        return Links(server=target.url, parent=parent_url, stages=stages, error=str(e))
    drop_pending_log(root, pipeline_log.id)
    return Links(server=target.url, parent=parent_url, stages=stages)


def lookup_links(target: Target, workflow_run_id: str) -> Links | None:
    """The run pages the jobs of one workflow run logged, found by the parent's tags: what a
    report job on its own machine shows (the run jobs' `.ci-ml/mlflow.json` stays on theirs).
    None when that workflow run logged nothing or the server does not answer (a warning)."""
    client = MlflowClient(target)
    shared = {"ci_ml.role": "pipeline", "ci_ml.workflow_run_id": workflow_run_id}
    try:
        client.check()
        experiment_id = client.experiment_id(target.experiment)
        parents = client.search_runs(experiment_id, shared)
        if not parents:
            return None
        parent_id = parents[0].run_id
        children = client.search_runs(experiment_id, {"mlflow.parentRunId": parent_id})
    except MlflowError as e:
        log.warning("MLflow: no run links in the report: %s", e)
        return None
    stages = {
        stage: target.run_page(experiment_id, run.run_id)
        for run in children
        if (stage := run.tag("ci_ml.stage"))
    }
    return Links(server=target.url, parent=target.run_page(experiment_id, parent_id), stages=stages)


def _parent(client: MlflowClient, experiment_id: str, pipeline_log: PipelineLog) -> str:
    """The workflow run's parent run, shared by all its jobs: found by tag, else created.
    Two jobs creating at once both keep the oldest and delete their own."""
    spec = pipeline_log.parent
    if not pipeline_log.workflow_run_id:
        return _create(client, experiment_id, spec, None).run_id
    shared = {"ci_ml.role": "pipeline", "ci_ml.workflow_run_id": pipeline_log.workflow_run_id}
    found = client.search_runs(experiment_id, shared)
    if found:
        return found[0].run_id
    run = _create(client, experiment_id, spec, None)
    first = client.search_runs(experiment_id, shared)[0]
    if first.run_id != run.run_id:
        client.delete_run(run.run_id)
        return first.run_id
    return run.run_id


def _child(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    spec: RunSpec,
    existing: Mapping[str, RunRef],
    root: Path,
) -> str:
    """A stage's run. Jobs of one matrix share the parent: a stage another job already
    logged is not logged twice, except that a run (`miss`) replaces a restore (`hit`)."""
    before = existing.get(spec.stage or "")
    cache = next((t.value for t in spec.tags if t.key == "ci_ml.cache"), "hit")
    if before is not None and (before.tag("ci_ml.cache") == "miss" or cache == "hit"):
        return before.run_id
    run = _create(client, experiment_id, spec, parent_id)
    for path in spec.artifacts:
        file = root / path
        try:
            data = read_bytes(file, limit=MAX_ARTIFACT_BYTES) if file.is_file() else None
        except UnsafeFileError:
            data = None
        if data is None:
            continue
        if not client.upload_artifact(run, path, data):
            log.debug("MLflow: run %s stores artifacts elsewhere; not uploading", run.run_id)
            break
    client.finish_run(run.run_id, spec.status, spec.end_ms)
    if before is not None:
        client.delete_run(before.run_id)
    return run.run_id


def _create(
    client: MlflowClient, experiment_id: str, spec: RunSpec, parent_id: str | None
) -> RunRef:
    # The first tags go with the run itself, so a search by tag finds it at once.
    run = client.create_run(experiment_id, spec, parent_id, tags=spec.tags[:CREATE_TAGS])
    for batch in chunk(spec.metrics, spec.params, spec.tags[CREATE_TAGS:]):
        client.log_batch(run.run_id, batch)
    return run


# --- pending logs and links: local state ------------------------------------------------------


def save_pending_log(root: Path, pipeline_log: PipelineLog) -> None:
    folder = state_dir(root) / PENDING_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{pipeline_log.id}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(dataclasses.asdict(pipeline_log), sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def pending_logs(root: Path) -> list[PipelineLog]:
    folder = root / STATE_DIR / PENDING_DIR
    if not folder.is_dir():
        return []
    return [
        _decode(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("*.json"))
    ]


def drop_pending_log(root: Path, log_id: str) -> None:
    (root / STATE_DIR / PENDING_DIR / f"{log_id}.json").unlink(missing_ok=True)


def _decode(doc: Mapping[str, Any]) -> PipelineLog:
    return PipelineLog(
        id=str(doc["id"]),
        experiment=str(doc["experiment"]),
        head_sha=str(doc["head_sha"]),
        parent=_spec(doc["parent"]),
        children=tuple(_spec(c) for c in doc["children"]),
        workflow_run_id=doc.get("workflow_run_id"),
        parent_run_id=doc.get("parent_run_id"),
    )


def _spec(doc: Mapping[str, Any]) -> RunSpec:
    return RunSpec(
        stage=doc["stage"],
        run_name=str(doc["run_name"]),
        tags=_entries(doc["tags"]),
        params=_entries(doc["params"]),
        metrics=tuple(
            Metric(m["key"], m["value"], m["step"], m["timestamp"]) for m in doc["metrics"]
        ),
        artifacts=tuple(doc["artifacts"]),
        start_ms=int(doc["start_ms"]),
        end_ms=int(doc["end_ms"]),
        status=str(doc["status"]),
    )


def _entries(items: Sequence[Mapping[str, str]]) -> tuple[Entry, ...]:
    return tuple(Entry(e["key"], e["value"]) for e in items)


def write_links(root: Path, head_sha: str, links: Links) -> None:
    doc = {"head_sha": head_sha, **dataclasses.asdict(links)}
    path = state_dir(root) / LINKS_FILE
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def read_links(root: Path, head_sha: str | None) -> Links | None:
    """The links `ci-ml run` (or `ci-ml push`) left for this head, if any."""
    path = root / STATE_DIR / LINKS_FILE
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("head_sha") != head_sha:
        return None
    return Links(
        server=str(doc["server"]),
        parent=doc.get("parent"),
        stages={str(k): str(v) for k, v in (doc.get("stages") or {}).items()},
        error=doc.get("error"),
    )


def now_ms() -> int:
    return int(time.time() * 1000)
