"""Gather what the report shows: metrics and params on both sides, stage outcomes, plot data.

Base metrics come from the cache entry of the base side's stage (so base never re-runs), else
from the file committed at the base commit, else they are missing with a note saying why.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_ml.cache import CacheHit, CacheStore, FileEntry, Manifest, RunFacts, get_entries
from ci_ml.errors import CiMlError
from ci_ml.pipeline import Pipeline, Stage
from ci_ml.plan import Plan, Project, Side, StagePlan, param_label, price_per_minute
from ci_ml.report.ledger import Minutes
from ci_ml.report.metrics import Scalar, flatten, parse_metrics_text
from ci_ml.report.render import ParamChange, StageRow
from ci_ml.workspace_files import UnsafeFileError, read_text

log = logging.getLogger("ci_ml")


@dataclass(frozen=True, slots=True)
class BaseFiles:
    """Reads files as they were on the base side: cache entry first, then git."""

    project: Project
    base: Side
    base_keys: Mapping[str, str]  # base stage name -> key
    store: CacheStore | None

    def read(self, path: str) -> tuple[bytes | None, str]:
        """The bytes of `path` on base and where they came from (or why they are missing)."""
        producer = _producer(self.base.pipeline, path)
        if producer is not None and self.store is not None:
            hit = self.store.get_manifest(self.base_keys[producer.name])
            if hit is not None:
                data = _file_from_entry(self.store, hit, path)
                if data is not None:
                    return data, f"cache entry of {producer.name} at base"
        if self.base.sha is not None:
            data = _read_at_commit(self.project, self.base.sha, path)
            if data is not None:
                return data, "committed at base"
        why = "no cache entry for its stage at base and not committed there"
        return None, why if producer is not None else "not in the base pipeline or commit"


def metrics_paths(pipeline: Pipeline) -> list[str]:
    paths = {out.path for s in pipeline.stages for out in s.outs if out.kind == "metrics"}
    return sorted(paths | set(pipeline.metrics))


def head_metrics(root: Path, pipeline: Pipeline) -> dict[str, dict[str, Scalar]]:
    found = {}
    for path in metrics_paths(pipeline):
        file = root / path
        if file.exists() or file.is_symlink():  # a FIFO or a dangling link is refused aloud
            try:
                found[path] = flatten(parse_metrics_text(path, read_text(file)))
            except UnsafeFileError as e:
                log.warning("%s", e)
    return found


def base_metrics(
    files: BaseFiles, paths: list[str]
) -> tuple[dict[str, dict[str, Scalar]], list[str]]:
    """Base values per metrics file, and a note for each file whose base is missing."""
    found: dict[str, dict[str, Scalar]] = {}
    notes = []
    for path in paths:
        data, source = files.read(path)
        if data is None:
            notes.append(f"base metrics of {path}: missing ({source})")
            continue
        try:
            found[path] = flatten(parse_metrics_text(path, data.decode("utf-8", "replace")))
        except CiMlError as e:
            notes.append(f"base metrics of {path}: unreadable ({e})")
    return found, notes


def param_changes(base: Pipeline, head: Pipeline) -> list[ParamChange]:
    """Every referenced param whose value differs between base and head."""
    before = {(p.file, p.key): p.value for s in base.stages for p in s.params}
    after = {(p.file, p.key): p.value for s in head.stages for p in s.params}
    changes = []
    for ref in sorted(before.keys() | after.keys(), key=lambda r: (r[0], r[1] or "")):
        old, new = before.get(ref), after.get(ref)
        if old == new:
            continue
        changes.append(ParamChange(name=param_label(*ref), base=_shown(old), head=_shown(new)))
    return changes


def stage_rows(
    plan: Plan,
    run_summary: Mapping[str, Any] | None,
    recorded: Mapping[str, RunFacts] | None = None,
) -> list[StageRow]:
    """Each stage's outcome: from this machine's last run of this head, else from the run
    record of its head key in the cache (what the run jobs on other machines pushed), else
    what the plan says would happen.

    `recorded` maps a stage name to the run facts of the manifest under its head key (None:
    no cache to ask). A record made at the head commit ran for this head; one made at another
    commit was restored, and its compute time counts as saved.
    """
    outcomes = {}
    if run_summary and run_summary.get("head", {}).get("sha") == plan.head_sha:
        outcomes = {s["name"]: s for s in run_summary.get("stages", [])}
    rows = []
    for stage_plan in plan.stages:
        reasons = "; ".join(r.text for r in stage_plan.reasons)
        outcome = outcomes.get(stage_plan.name)
        gpu_stage = stage_plan.stage.settings.gpu
        if outcome is None:
            rows.append(_planned_row(plan, stage_plan, reasons, recorded))
            continue
        rows.append(
            StageRow(
                name=stage_plan.name,
                status=str(outcome["status"]),
                why=str(outcome.get("detail") or "") if outcome["status"] != "ran" else reasons,
                duration_s=float(outcome.get("duration_s") or 0) or None,
                runner=outcome.get("runner"),
                gpu=outcome.get("gpu"),
                log_tail=tuple(outcome.get("log_tail") or ()),
                gpu_stage=gpu_stage,
                labels=tuple(str(label) for label in outcome.get("labels") or ()),
            )
        )
    return rows


RAN = ("ran", "failed")  # a failed stage spent its minutes too


def tally(rows: Sequence[StageRow], costs: Mapping[str, float], statuses: Sequence[str]) -> Minutes:
    """Minutes and cost of the rows with one of `statuses`, each priced by its own labels
    (the dearest priced one)."""
    gpu = cpu = cost = 0.0
    unpriced = False
    for row in rows:
        if row.status not in statuses or not row.duration_s:
            continue
        minutes = row.duration_s / 60
        if row.gpu_stage:
            gpu += minutes
        else:
            cpu += minutes
        price = price_per_minute(row.labels, costs)
        cost += minutes * (price or 0.0)
        unpriced = unpriced or price is None
    return Minutes(gpu=gpu, cpu=cpu, cost_usd=cost, unpriced=unpriced)


def _planned_row(
    plan: Plan, stage_plan: StagePlan, reasons: str, recorded: Mapping[str, RunFacts] | None
) -> StageRow:
    name = stage_plan.name
    gpu_stage = stage_plan.stage.settings.gpu
    facts = recorded.get(name) if recorded is not None else None
    if facts is not None and (stage_plan.will_run or stage_plan.affected):
        ran_here = bool(plan.head_sha) and facts.commit == plan.head_sha
        computed = f"computed at {facts.commit[:7]}" if facts.commit else "computed earlier"
        return StageRow(
            name=name,
            status="ran" if ran_here else "restored",
            why=reasons if ran_here else f"restored from cache ({computed})",
            duration_s=facts.duration_s or None,
            runner=facts.runner or None,
            gpu=facts.gpu,
            gpu_stage=gpu_stage,
            labels=facts.labels,
        )
    if not stage_plan.will_run:
        return StageRow(name=name, status="unchanged", why=reasons, gpu_stage=gpu_stage)
    if recorded is None:
        return StageRow(name=name, status="will run", why=reasons, gpu_stage=gpu_stage)
    why = f"no cache entry for key {stage_plan.key[:12]}: its run job failed or has not run"
    why = f"{reasons}; {why}" if reasons else why
    return StageRow(name=name, status="not run", why=why, gpu_stage=gpu_stage)


def recorded_runs(plan: Plan, store: CacheStore | None) -> dict[str, RunFacts] | None:
    """Run facts of the manifest under each affected stage's head key (None without a cache)."""
    if store is None:
        return None
    found = {}
    for stage_plan in plan.stages:
        if not (stage_plan.will_run or stage_plan.affected):
            continue
        try:
            hit = store.get_manifest(stage_plan.key)
        except CiMlError as e:
            log.warning("run record of %s unreadable: %s", stage_plan.name, e)
            continue
        if hit is not None:
            found[stage_plan.name] = hit.manifest.run
    return found


def _shown(value_json: str | None) -> str | None:
    if value_json is None:
        return None
    value = json.loads(value_json)
    return value if isinstance(value, str) else value_json


def _producer(pipeline: Pipeline, path: str) -> Stage | None:
    for stage in pipeline.stages:
        for out in stage.out_paths:
            if path == out or path.startswith(out.rstrip("/") + "/"):
                return stage
    return None


def _file_from_entry(store: CacheStore, hit: CacheHit, path: str) -> bytes | None:
    entry = _entry_for(hit.manifest, path)
    if entry is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ci-ml-base-") as tmp:
        dest = Path(tmp) / "file"
        try:
            get_entries(store, [(entry, dest)], area=hit.area, root=Path(tmp))
        except CiMlError as e:
            log.warning("base copy of %s from the cache is unusable: %s", path, e)
            return None
        return dest.read_bytes()


def _entry_for(manifest: Manifest, path: str) -> FileEntry | None:
    """The manifest's entry for the file at `path`: a file output (as an unpacked entry) or a
    file inside a directory output."""
    for out in manifest.outputs:
        if out.path == path and out.type == "file" and out.digest is not None:
            return FileEntry(path=path, digest=out.digest, size=out.size)
        if out.type == "dir" and path.startswith(out.path + "/"):
            rel = path[len(out.path) + 1 :]
            return next((f for f in out.files if f.path == rel), None)
    return None


def _read_at_commit(project: Project, sha: str, path: str) -> bytes | None:
    repo_path = project.to_repo(path)
    entry = project.git.ls_tree(sha, repo_path).get(repo_path)
    if entry is None:
        return None
    return next(data for _, data in project.git.read_blobs([entry]))
