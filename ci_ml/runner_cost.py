"""Runner prices for the cost ledger and the GPU gate's settings, parsed for ci_ml.config. [pure]

Kept apart from ci_ml.config, which reads them, so that module stays about precedence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_ml.errors import ConfigError, did_you_mean

GPU_APPROVALS = ("label", "environment")
# GitHub's per-minute list prices for hosted runners (docs/gpu-runners.md gives the source and
# date). Keys are runner labels: the standard Linux runner, and the names that
# `ci-ml init --gpu-runner hosted` asks you to give the two Linux 4-core GPU (NVIDIA T4) larger
# runners, one for pull requests and one for main.
DEFAULT_RUNNER_COST: Mapping[str, float] = {
    "ubuntu-latest": 0.008,
    "ubuntu-24.04": 0.008,
    "ubuntu-22.04": 0.008,
    "ci-ml-gpu-t4-pr": 0.07,
    "ci-ml-gpu-t4-main": 0.07,
}


def default_costs() -> dict[str, float]:
    return dict(DEFAULT_RUNNER_COST)


def parse_budget(text: str) -> float:
    where = "CI_ML_GPU_BUDGET_MINUTES"
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses NaN
        raise ConfigError(f"{where}: {text!r} is not a number of minutes (0 or more).")
    return value


def parse_approval(text: str) -> str:
    where = "CI_ML_GPU_APPROVAL"
    value = text.strip().lower()
    if value not in GPU_APPROVALS:
        raise ConfigError(
            f"{where}: {text!r} is not one of {', '.join(GPU_APPROVALS)}"
            f"{did_you_mean(value, GPU_APPROVALS)}."
        )
    return value


def parse_runner_cost(doc: Any, source: str) -> dict[str, float]:
    """`runner-cost: {gpu-a100: 0.55}`: USD per minute by runner label, over the defaults."""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: runner-cost must map runner labels to USD per minute.")
    costs = dict(DEFAULT_RUNNER_COST)
    for label, price in doc.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or not price >= 0:
            raise ConfigError(
                f"{source}: runner-cost {label!r}: {price!r} is not a price per minute in USD "
                "(a number, 0 or more)."
            )
        costs[str(label)] = float(price)
    return costs
