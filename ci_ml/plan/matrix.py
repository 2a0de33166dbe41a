"""Route the stages that will run to runners: GPU labels and fan-out groups. [pure]

Stages that will run are split into connected groups (two stages are connected when one
reads the other's outputs). Groups share nothing, so separate runners can take them at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ci_ml.config import Settings
from ci_ml.plan.planner import Plan, StagePlan

APPROVAL_ENVIRONMENT = "ci-ml-gpu"
# A stage without `timeout` counts this long when a job's timeout-minutes is derived.
UNTIMED_STAGE_MINUTES = 60
# Checkout, setup, restoring inputs and pushing outputs, on top of the stages' own timeouts.
JOB_OVERHEAD_MINUTES = 15


@dataclass(frozen=True, slots=True)
class Group:
    stages: tuple[str, ...]  # topological order
    gpu: bool
    runs_on: tuple[str, ...]
    gated: bool = False  # held by the GPU gate when it says wait
    timeout_minutes: int = 0

    @property
    def name(self) -> str:
        head = self.stages[0]
        return head if len(self.stages) == 1 else f"{head} +{len(self.stages) - 1}"


def runner_labels(stage_plan: StagePlan, settings: Settings) -> tuple[str, ...]:
    stage_settings = stage_plan.stage.settings
    if stage_settings.runner:
        return stage_settings.runner
    return settings.gpu_runner if stage_settings.gpu else settings.runner


def is_gated(
    stage_plan: StagePlan, settings: Settings, cpu_runner: tuple[str, ...] | None = None
) -> bool:
    """Stages whose job the GPU gate holds: `gpu: true`, and any stage routed away from the CPU
    labels `cpu_runner` (the base commit's, so a pull request's ci-ml.yaml cannot name GPU
    machines as its CPU `runner` or a stage's `runner` without `gpu: true`)."""
    cpu = cpu_runner or settings.runner
    return stage_plan.stage.settings.gpu or runner_labels(stage_plan, settings) != cpu


def job_timeout_minutes(stage_plans: Sequence[StagePlan]) -> int:
    """A job's `timeout-minutes`: its stages' timeouts plus setup, so no job runs GitHub's
    default 360 minutes because a stage hung."""
    seconds = sum(s.stage.settings.timeout or UNTIMED_STAGE_MINUTES * 60 for s in stage_plans)
    return math.ceil(seconds / 60) + JOB_OVERHEAD_MINUTES


def _labels_for(stages: Sequence[StagePlan], settings: Settings) -> tuple[str, ...]:
    distinct = {runner_labels(s, settings) for s in stages}
    if len(distinct) == 1:
        return distinct.pop()
    if any(s.stage.settings.gpu for s in stages):
        return settings.gpu_runner
    return settings.runner


def runs_on(plan: Plan, settings: Settings) -> tuple[str, ...]:
    """Labels for a single run job: what every stage that will run can use."""
    running = [s for s in plan.stages if s.will_run]
    return _labels_for(running, settings) if running else settings.runner


def groups(
    plan: Plan, settings: Settings, cpu_runner: tuple[str, ...] | None = None
) -> tuple[Group, ...]:
    running = {s.name: s for s in plan.stages if s.will_run}
    parent = {name: name for name in running}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for name in running:
        for up in plan.graph.upstream[name]:
            if up in running:
                a, b = sorted((find(name), find(up)))
                parent[b] = a
    members: dict[str, list[StagePlan]] = {}
    for stage_plan in plan.stages:  # topological order, so each group is ordered too
        if stage_plan.name in running:
            members.setdefault(find(stage_plan.name), []).append(stage_plan)
    result = []
    for stage_plans in members.values():
        labels = _labels_for(stage_plans, settings)
        gpu = any(s.stage.settings.gpu for s in stage_plans)
        result.append(
            Group(
                stages=tuple(s.name for s in stage_plans),
                gpu=gpu,
                runs_on=labels,
                gated=gpu or labels != (cpu_runner or settings.runner),
                timeout_minutes=job_timeout_minutes(stage_plans),
            )
        )
    return tuple(sorted(result, key=lambda g: g.stages[0]))


def matrix(
    plan: Plan,
    settings: Settings,
    *,
    hold: str | None = None,
    cpu_runner: tuple[str, ...] | None = None,
) -> dict[str, list[dict[str, object]]]:
    """A `strategy.matrix` value: one `include` entry per independent group.

    `hold` is how the GPU gate holds gated groups: None (they run), "label" (left out until
    the approval label is added) or "environment" (they wait in APPROVAL_ENVIRONMENT).
    `cpu_runner`: the labels that are not held (default: `settings.runner`).
    """
    include = []
    for group in groups(plan, settings, cpu_runner):
        held = group.gated and hold is not None
        if held and hold == "label":
            continue
        include.append(
            {
                "name": group.name,
                "stages": list(group.stages),
                "args": " ".join(group.stages),
                "gpu": group.gpu,
                "runs-on": list(group.runs_on),
                "timeout-minutes": group.timeout_minutes,
                # An empty name means no environment: only held jobs wait for reviewers.
                "environment": APPROVAL_ENVIRONMENT if held else "",
            }
        )
    return {"include": include}
