"""Draw the report's plots (placeholder until the plots module lands)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci_ml.metrics import MetricDelta
from ci_ml.pipeline.model import Pipeline
from ci_ml.report import PlotRef


def draw_plots(
    root: Path,
    pipeline: Pipeline,
    files: Any,
    deltas: Sequence[MetricDelta],
    out: Path,
    *,
    base_label: str,
    head_label: str,
) -> tuple[list[PlotRef], list[str]]:
    return [], []
