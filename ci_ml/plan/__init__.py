"""Planning: read each side (base, head) from git, key every stage statically, and say which
stages run and why; the job matrix and the plan's output for people and scripts."""

from __future__ import annotations

from ci_ml.plan.budget import (
    APPROVAL_LABEL,
    Estimate,
    Gate,
    PullRequest,
    estimate,
    gate,
    price_per_minute,
)
from ci_ml.plan.matrix import APPROVAL_ENVIRONMENT, runner_labels
from ci_ml.plan.output import plan_document, render_plan
from ci_ml.plan.planner import (
    Available,
    Plan,
    Reason,
    Side,
    StagePlan,
    apply_availability,
    compute_keys,
    param_label,
    plan,
)
from ci_ml.plan.project import Project, load_settings, open_project
from ci_ml.plan.snapshot import read_side, read_worktree_and_base, start_worktree_reads

__all__ = [
    "APPROVAL_ENVIRONMENT",
    "APPROVAL_LABEL",
    "Available",
    "Estimate",
    "Gate",
    "Plan",
    "Project",
    "PullRequest",
    "Reason",
    "Side",
    "StagePlan",
    "apply_availability",
    "compute_keys",
    "estimate",
    "gate",
    "load_settings",
    "open_project",
    "param_label",
    "plan",
    "plan_document",
    "price_per_minute",
    "read_side",
    "read_worktree_and_base",
    "render_plan",
    "runner_labels",
    "start_worktree_reads",
]
