"""Planning: read each side (base, head) from git, key every stage statically, and say which
stages run and why; the job matrix and the plan's output for people and scripts.

The face is lazy: each name's module is imported on first use, so that `ci-ml plan` starts
git on the working tree before it loads the planner (the imports overlap git's work).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_ml.lazy_face import lazy_getattr

if TYPE_CHECKING:
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
    from ci_ml.plan.project import Project, load_settings, open_project, refuse_tracked_state
    from ci_ml.plan.snapshot import read_side, read_worktree_and_base
    from ci_ml.plan.worktree import start_worktree_reads

_MODULES = {
    "APPROVAL_LABEL": "budget",
    "Estimate": "budget",
    "Gate": "budget",
    "PullRequest": "budget",
    "estimate": "budget",
    "gate": "budget",
    "price_per_minute": "budget",
    "APPROVAL_ENVIRONMENT": "matrix",
    "runner_labels": "matrix",
    "plan_document": "output",
    "render_plan": "output",
    "Available": "planner",
    "Plan": "planner",
    "Reason": "planner",
    "Side": "planner",
    "StagePlan": "planner",
    "apply_availability": "planner",
    "compute_keys": "planner",
    "param_label": "planner",
    "plan": "planner",
    "Project": "project",
    "load_settings": "project",
    "open_project": "project",
    "refuse_tracked_state": "project",
    "read_side": "snapshot",
    "read_worktree_and_base": "snapshot",
    "start_worktree_reads": "worktree",
}


__getattr__ = lazy_getattr(__name__, _MODULES, globals())


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
    "refuse_tracked_state",
    "render_plan",
    "runner_labels",
    "start_worktree_reads",
]
