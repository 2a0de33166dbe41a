"""A plan as the JSON document scripts read and as the table people read. [pure]"""

from __future__ import annotations

from typing import Any

from ci_ml.config import Settings
from ci_ml.plan.budget import Estimate, Gate, estimate
from ci_ml.plan.matrix import job_timeout_minutes, matrix, runner_labels, runs_on
from ci_ml.plan.planner import Plan, StagePlan


def plan_document(
    plan: Plan, settings: Settings, *, est: Estimate | None = None, gate: Gate | None = None
) -> dict[str, Any]:
    """The plan for scripts. Without `est` every estimate is unknown; without `gate` nothing
    waits."""
    will_run = [s for s in plan.stages if s.will_run]
    est = est or estimate(plan, settings, {})
    gate = gate or Gate(approval=settings.gpu_approval)
    return {
        "base": {"ref": plan.base_ref, "sha": plan.base_sha},
        "head": {"ref": plan.head_ref, "sha": plan.head_sha},
        "stages": [
            {**_stage_document(s, settings), "estimated_seconds": est.seconds.get(s.name)}
            for s in plan.stages
        ],
        "removed": list(plan.removed),
        "any_will_run": bool(will_run),
        "needs_gpu": any(s.stage.settings.gpu for s in will_run),
        "runs_on": list(runs_on(plan, settings)),
        # For one job that may run every stage: main's `run --all` runs whatever the cache
        # lacks, which can be more than this plan's diff says.
        "timeout_minutes": job_timeout_minutes(plan.stages),
        "matrix": matrix(
            plan,
            settings,
            hold=gate.approval if gate.wait else None,
            cpu_runner=gate.cpu_runner or None,
        ),
        "estimate": est.to_json(),
        "gpu_gate": gate.to_json(),
    }


def _stage_document(stage_plan: StagePlan, settings: Settings) -> dict[str, Any]:
    stage = stage_plan.stage
    return {
        "name": stage.name,
        "key": stage_plan.key,
        "base_key": stage_plan.base_key,
        "changed": stage_plan.changed,
        "affected": stage_plan.affected,
        "will_run": stage_plan.will_run,
        "frozen": stage.frozen,
        "reasons": [{"kind": r.kind, "text": r.text} for r in stage_plan.reasons],
        "gpu": stage.settings.gpu,
        "runner": list(runner_labels(stage_plan, settings)),
        "deps": list(stage.deps),
        "outs": [o.path for o in stage.outs if o.kind == "outs"],
        "metrics": [o.path for o in stage.outs if o.kind == "metrics"],
        "plots": [o.path for o in stage.outs if o.kind == "plots"],
    }


def render_plan(plan: Plan) -> str:
    """A readable table: one row per stage, its verdict and every reason."""
    base = f"{plan.base_ref} ({(plan.base_sha or '')[:7]})"
    head = plan.head_ref + (f" ({plan.head_sha[:7]})" if plan.head_sha else "")
    lines = [f"base {base} -> head {head}", ""]
    if not plan.stages:
        return "\n".join([*lines, "no stages"]) + "\n"
    width = max(len("stage"), *(len(s.name) for s in plan.stages))
    lines.append(f"{'stage':<{width}}  {'verdict':<10}  why")
    for stage_plan in plan.stages:
        verdict = _verdict(stage_plan)
        reasons = [r.text for r in stage_plan.reasons] or ["unchanged"]
        lines.append(f"{stage_plan.name:<{width}}  {verdict:<10}  {reasons[0]}")
        lines.extend(f"{'':<{width}}  {'':<10}  {text}" for text in reasons[1:])
    for name in plan.removed:
        lines.append(f"{name:<{width}}  {'removed':<10}  no longer in the pipeline")
    running = sum(s.will_run for s in plan.stages)
    lines += ["", f"{running} of {len(plan.stages)} stages will run"]
    return "\n".join(lines) + "\n"


def _verdict(stage_plan: StagePlan) -> str:
    if stage_plan.will_run:
        return "run"
    if stage_plan.affected:
        return "frozen" if stage_plan.stage.frozen else "cached"
    return "unchanged"
