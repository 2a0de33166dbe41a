from __future__ import annotations

import math

import pytest

from ci_ml.errors import ConfigError
from ci_ml.runner_cost import DEFAULT_RUNNER_COST, parse_budget, parse_runner_cost


@pytest.mark.parametrize(("text", "minutes"), [("0", 0.0), ("90", 90.0), (" 2.5 ", 2.5)])
def test_budget_minutes(text: str, minutes: float) -> None:
    assert parse_budget(text) == minutes


@pytest.mark.parametrize("text", ["-1", "nan", "lots", "", "inf-"])
def test_bad_budget_names_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="CI_ML_GPU_BUDGET_MINUTES"):
        parse_budget(text)


def test_runner_cost_adds_to_and_overrides_the_defaults() -> None:
    costs = parse_runner_cost({"gpu-a100": 0.55, "ubuntu-latest": 0}, "ci-ml.yaml")
    assert costs == {**DEFAULT_RUNNER_COST, "gpu-a100": 0.55, "ubuntu-latest": 0.0}


@pytest.mark.parametrize("price", [True, "0.1", -0.5, math.nan, None])
def test_a_bad_price_names_the_label(price: object) -> None:
    with pytest.raises(ConfigError, match="runner-cost 'gpu-a100'"):
        parse_runner_cost({"gpu-a100": price}, "ci-ml.yaml")
