"""Route the stages that will run to runners: GPU labels and fan-out groups. [pure]

Stages that will run are split into connected groups (two stages are connected when one
reads the other's outputs). Groups share nothing, so separate runners can take them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ci_ml.config import Settings
from ci_ml.plan.planner import Plan, StagePlan


@dataclass(frozen=True, slots=True)
class Group:
    stages: tuple[str, ...]  # topological order
    gpu: bool
    runs_on: tuple[str, ...]

    @property
    def name(self) -> str:
        head = self.stages[0]
        return head if len(self.stages) == 1 else f"{head} +{len(self.stages) - 1}"


def runner_labels(stage_plan: StagePlan, settings: Settings) -> tuple[str, ...]:
    stage_settings = stage_plan.stage.settings
    if stage_settings.runner:
        return stage_settings.runner
    return settings.gpu_runner if stage_settings.gpu else settings.runner


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


def groups(plan: Plan, settings: Settings) -> tuple[Group, ...]:
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
    result = [
        Group(
            stages=tuple(s.name for s in stage_plans),
            gpu=any(s.stage.settings.gpu for s in stage_plans),
            runs_on=_labels_for(stage_plans, settings),
        )
        for stage_plans in members.values()
    ]
    return tuple(sorted(result, key=lambda g: g.stages[0]))


def matrix(plan: Plan, settings: Settings) -> dict[str, list[dict[str, object]]]:
    """A `strategy.matrix` value: one `include` entry per independent group."""
    return {
        "include": [
            {
                "name": group.name,
                "stages": list(group.stages),
                "args": " ".join(group.stages),
                "gpu": group.gpu,
                "runs-on": list(group.runs_on),
            }
            for group in groups(plan, settings)
        ]
    }
