"""GPU spend: what the stages that will run are expected to cost, and whether the GPU jobs of
a pull request must wait for approval. [pure]

Estimates come from durations the caller read from the trusted cache area (main's last run of
each stage), never from the pull request's own area: a PR could write a manifest claiming a
stage takes no time and so slip past the budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ci_ml.config import Settings
from ci_ml.plan.matrix import APPROVAL_ENVIRONMENT, is_gated, runner_labels
from ci_ml.plan.planner import Plan

APPROVAL_LABEL = "ci-ml:run-gpu"


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """Expected minutes and cost of the stages that will run."""

    seconds: Mapping[str, float | None]  # every stage: None when unknown or not running
    gpu_minutes: float
    cpu_minutes: float
    cost_usd: float
    unknown: tuple[str, ...]  # stages that will run with no trusted run to estimate from

    def to_json(self) -> dict[str, object]:
        return {
            "gpu_minutes": round(self.gpu_minutes, 2),
            "cpu_minutes": round(self.cpu_minutes, 2),
            "cost_usd": round(self.cost_usd, 4),
            "unknown": list(self.unknown),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequest:
    """What the gate needs to know about the pull request the run is for."""

    fork: bool = False
    label_approved: bool = False  # this event added the approval label


@dataclass(frozen=True, slots=True, kw_only=True)
class Gate:
    """Whether GPU jobs wait, why, and how a maintainer lets them run."""

    wait: bool = False
    reasons: tuple[str, ...] = ()
    approval: str = "label"
    approved: bool = False
    cpu_runner: tuple[str, ...] = ()  # labels jobs may run on unapproved; () = settings.runner

    def how_to_approve(self) -> str:
        if self.approval == "environment":
            return (
                f"a required reviewer of the `{APPROVAL_ENVIRONMENT}` environment approves the "
                "waiting jobs on the workflow run's page (Review deployments)"
            )
        return (
            f"a maintainer adds the label `{APPROVAL_LABEL}` to the pull request, which starts "
            "the GPU jobs (after a later push, remove the label and add it again)"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "wait": self.wait,
            "reasons": list(self.reasons),
            "approval": self.approval,
            "approved": self.approved,
            "how_to_approve": self.how_to_approve() if self.reasons else None,
        }


def price_per_minute(labels: Sequence[str], costs: Mapping[str, float]) -> float | None:
    """USD per minute of a runner with these labels: the dearest priced label, None if none is."""
    prices = [costs[label] for label in labels if label in costs]
    return max(prices) if prices else None


def estimate(plan: Plan, settings: Settings, durations: Mapping[str, float]) -> Estimate:
    """Minutes and cost of the stages that will run, from `durations` (stage name -> seconds
    of its last trusted run). A stage with no duration is unknown and counts as nothing."""
    seconds: dict[str, float | None] = {}
    gpu = cpu = cost = 0.0
    unknown = []
    for stage_plan in plan.stages:
        took = durations.get(stage_plan.name) if stage_plan.will_run else None
        seconds[stage_plan.name] = took
        if not stage_plan.will_run:
            continue
        if took is None:
            unknown.append(stage_plan.name)
            continue
        minutes = took / 60
        if stage_plan.stage.settings.gpu:
            gpu += minutes
        else:
            cpu += minutes
        price = price_per_minute(runner_labels(stage_plan, settings), settings.runner_cost)
        cost += minutes * (price or 0.0)
    return Estimate(
        seconds=seconds, gpu_minutes=gpu, cpu_minutes=cpu, cost_usd=cost, unknown=tuple(unknown)
    )


def gate(
    plan: Plan,
    settings: Settings,
    est: Estimate,
    pull_request: PullRequest | None,
    *,
    cpu_runner: tuple[str, ...] = (),
) -> Gate:
    """Outside a pull request nothing waits. In one, gated jobs (GPU stages, and any on labels
    other than `cpu_runner`) wait when it comes from a fork, or when a budget is set and the
    estimate exceeds it or cannot be made."""
    approval = settings.gpu_approval
    gated = [s for s in plan.stages if s.will_run and is_gated(s, settings, cpu_runner or None)]
    if pull_request is None or not gated:
        return Gate(approval=approval, cpu_runner=cpu_runner)
    reasons = []
    if pull_request.fork:
        reasons.append("the pull request comes from a fork")
    budget = settings.gpu_budget_minutes
    if budget is not None:
        if est.gpu_minutes > budget:
            reasons.append(
                f"the estimate of {_minutes(est.gpu_minutes)} GPU minutes exceeds the budget of "
                f"{budget:g} minutes"
            )
        missing = [s.name for s in gated if s.name in est.unknown]
        if missing:
            reasons.append(
                f"no trusted run of {', '.join(missing)} to estimate from, so the budget of "
                f"{budget:g} GPU minutes cannot be checked"
            )
    approved = approval == "label" and pull_request.label_approved and bool(reasons)
    return Gate(
        wait=bool(reasons) and not approved,
        reasons=tuple(reasons),
        approval=approval,
        approved=approved,
        cpu_runner=cpu_runner,
    )


def _minutes(value: float) -> str:
    return f"{value:.1f}" if value >= 0.1 else f"{value:.3f}"
