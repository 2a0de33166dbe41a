"""Gather each plot's data on both sides and draw the report's figures.

Head data is read from the workspace; base data from the base stage's cache entry, else from
the commit (`BaseFiles`); a side without data is drawn alone, with a note saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci_ml.config import MetricRule
from ci_ml.errors import CiMlError
from ci_ml.pipeline import Pipeline
from ci_ml.report.data import BaseFiles
from ci_ml.report.metrics import MetricDelta, better_direction
from ci_ml.report.plots import PlotInput, render_metric_deltas, render_plots
from ci_ml.report.plots.data import PlotSpec, parse_plot_file, plot_specs
from ci_ml.report.render import PlotRef
from ci_ml.workspace_files import UnsafeFileError, read_bytes

log = logging.getLogger("ci_ml")
IMAGE_LIMIT = 8 << 20


def draw_plots(
    root: Path,
    pipeline: Pipeline,
    files: BaseFiles,
    deltas: Sequence[MetricDelta],
    out: Path,
    *,
    base_label: str,
    head_label: str,
    rules: Mapping[str, MetricRule] | None = None,
) -> tuple[list[PlotRef], list[str]]:
    """PNGs under `out/plots/`; their references for the report, and notes on what failed."""
    notes: list[str] = []
    items = [_gather(root, spec, files, notes) for spec in plot_specs(pipeline)]
    rendered = render_plots(
        [item for item in items if item is not None],
        out,
        base_label=base_label,
        head_label=head_label,
    )
    numeric = [
        (d.name, _number(d.base) if d.has_base else None, _number(d.head) if d.has_head else None)
        for d in deltas
    ]
    lower = {
        d.name for d in deltas if better_direction(d.name, (rules or {}).get(d.name)) == "lower"
    }
    chart = render_metric_deltas(
        numeric, out, base_label=base_label, head_label=head_label, lower_is_better=lower
    )
    refs = [_ref(plot, out) for plot in ([chart] if chart else []) + rendered]
    return refs, notes


def _gather(root: Path, spec: PlotSpec, files: BaseFiles, notes: list[str]) -> PlotInput | None:
    if spec.template == "image":
        path = spec.files[0] if spec.files else spec.id
        head = _read_limited(root / path)
        base, _source = files.read(path)
        return PlotInput(spec=spec, base_image=base, head_image=head)
    head_rows: dict[str, Any] = {}
    base_rows: dict[str, Any] = {}
    for path in spec.files:
        head_rows[path] = _rows(path, _read_limited(root / path), spec, notes, "head")
        data, _source = files.read(path)
        base_rows[path] = _rows(path, data, spec, notes, "base")
    return PlotInput(spec=spec, base=base_rows, head=head_rows)


def _rows(path: str, data: bytes | None, spec: PlotSpec, notes: list[str], side: str) -> Any:
    if data is None:
        return None
    try:
        return parse_plot_file(path, data.decode("utf-8", "replace"), header=spec.header)
    except CiMlError as e:
        notes.append(f"{side} data of plot {spec.id}: unreadable ({e})")
        return None


def _read_limited(path: Path) -> bytes | None:
    if not path.is_file():
        return None
    try:
        return read_bytes(path, limit=IMAGE_LIMIT)
    except UnsafeFileError as e:
        log.warning("%s", e)
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _ref(plot: Any, out: Path) -> PlotRef:
    return PlotRef(title=plot.title, url=plot.path.relative_to(out).as_posix(), note=plot.note)
