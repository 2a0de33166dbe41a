from __future__ import annotations

import pytest

from ci_ml.plan.budget import price_per_minute

COSTS = {"ubuntu-latest": 0.008, "gpu-a100": 0.5, "gpu": 0.1}


@pytest.mark.parametrize(
    ("labels", "price"),
    [
        (("ubuntu-latest",), 0.008),
        (("self-hosted", "gpu", "gpu-a100"), 0.5),  # the dearest priced label
        (("self-hosted", "gpu"), 0.1),
        (("self-hosted", "linux"), None),  # nothing priced
        ((), None),
    ],
)
def test_price_per_minute(labels: tuple[str, ...], price: float | None) -> None:
    assert price_per_minute(labels, COSTS) == price
