"""Figures of one table per side: confusion matrices (with a head - base panel) and
horizontal bars.

Draws on a matplotlib Figure (`figure.py`); the matrices and bar values come from `plot_data`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ci_ml.report.plots.data import PlotSpec, Rows
from ci_ml.report.plots.figure import BLUE, ORANGE, Side, add_legend, show_no_data
from ci_ml.report.plots.shapes import (
    bar_values,
    class_labels,
    clean_text,
    confusion_matrix,
    figure_text,
    first_field,
    last_field,
)

_MAX_ANNOTATED_CLASSES = 12
# Past this a matrix is unreadable anyway, and three n x n panels cost memory and minutes.
MAX_CLASSES = 200
_MAX_BARS = 25


def _table_fields(
    spec: PlotSpec, sides: Sequence[Side], notes: list[str]
) -> tuple[list[tuple[Side, Rows]], str, str] | None:
    """One file's rows per side, with its x and y fields; None (and a note) if unusable."""
    file = spec.files[0]
    tables = [(side, side.rows.get(file) or []) for side in sides if side.rows is not None]
    sample = tables[-1][1] or tables[0][1]
    x = spec.x_for(file) or first_field(sample)
    y = spec.ys[0][1] or last_field(sample)
    missing = [f for f in (x, y) if not any(f in row for _, rows in tables for row in rows)]
    if not sample or missing:
        problem = f"has no field {missing[0]!r}" if sample else "has no rows"
        notes.append(f"{clean_text(file, 80)} {clean_text(problem, 60)}")
        return None
    return tables, x, y


def draw_confusion(fig: Any, spec: PlotSpec, sides: Sequence[Side], notes: list[str]) -> None:
    """A confusion matrix per side, and a head - base panel when there are both."""
    found = _table_fields(spec, sides, notes)
    if found is None:
        show_no_data(fig.add_subplot())
        return
    tables, x, y = found
    labels = class_labels([rows for _, rows in tables], x, y)
    if len(labels) > MAX_CLASSES:
        notes.append(
            f"{len(labels)} classes: over the {MAX_CLASSES} a confusion matrix is drawn for"
        )
        show_no_data(fig.add_subplot())
        return
    normalized = spec.template == "confusion_normalized"
    matrices = [confusion_matrix(rows, x, y, labels, normalized=normalized) for _, rows in tables]
    panels = [(side.name, m, "Blues") for (side, _), m in zip(tables, matrices, strict=True)]
    if len(matrices) == 2:
        diff = [[h - b for b, h in zip(*pair, strict=True)] for pair in zip(*matrices, strict=True)]
        panels.append(("head - base", diff, "PuOr"))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    peak = max((v for m in matrices for row in m for v in row), default=1.0) or 1.0
    for i, (ax, (name, matrix, cmap)) in enumerate(zip(axes, panels, strict=True)):
        spread = max((abs(v) for row in matrix for v in row), default=0.0) or 1.0
        limits = (-spread, spread) if cmap == "PuOr" else (0.0, peak)
        _heatmap(ax, matrix, labels, cmap, limits, signed=cmap == "PuOr", normalized=normalized)
        ax.set_title(name)
        ax.set_xlabel(figure_text(spec.x_label or x, 40))
        if i == 0:
            ax.set_ylabel(figure_text(spec.y_label or y, 40))


def _heatmap(
    ax: Any,
    matrix: list[list[float]],
    labels: Sequence[str],
    cmap: str,
    limits: tuple[float, float],
    *,
    signed: bool,
    normalized: bool,
) -> None:
    n = len(labels)
    image = ax.imshow(matrix, cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto")
    ax.grid(False)
    step = max(1, math.ceil(n / 30))
    ticks = list(range(0, n, step))
    names = [figure_text(labels[i], 12) for i in ticks]
    ax.set_xticks(ticks, names, fontsize=8 if n <= 12 else 6)
    ax.set_yticks(ticks, names, fontsize=8 if n <= 12 else 6)
    # Every panel has its colour bar: the two sides share one scale, the diff its own.
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if n > _MAX_ANNOTATED_CLASSES:
        return
    size = 9 if n <= 6 else 7
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value == 0:
                continue
            text = _cell_text(value, signed=signed, normalized=normalized)
            strong = abs(value) > 0.55 * max(abs(limits[0]), abs(limits[1]))
            colour = "white" if strong else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=size, color=colour)


def _cell_text(value: float, *, signed: bool, normalized: bool) -> str:
    if normalized:
        return f"{value:+.2f}" if signed else f"{value:.2f}"
    return f"{value:+.0f}" if signed else f"{value:.0f}"


def draw_bars(fig: Any, spec: PlotSpec, sides: Sequence[Side], notes: list[str]) -> None:
    """A horizontal bar per category, base and head side by side."""
    ax = fig.add_subplot()
    found = _table_fields(spec, sides, notes)
    if found is None:
        show_no_data(ax)
        return
    tables, value, category = found
    values = [(side, bar_values(rows, value, category)) for side, rows in tables]
    order = list(dict.fromkeys(c for _, bars in reversed(values) for c in bars))
    if spec.template == "bar_horizontal_sorted":
        latest = values[-1][1]
        order.sort(key=lambda c: -latest.get(c, -math.inf))
    if len(order) > _MAX_BARS:
        notes.append(f"showing the first {_MAX_BARS} of {len(order)} bars")
        order = order[:_MAX_BARS]
    if not order:
        notes.append(clean_text(f"{spec.files[0]} has no numeric {value!r} by {category!r}", 140))
        show_no_data(ax)
        return
    height = 0.8 / len(values)
    for k, (side, bars) in enumerate(values):
        offset = (k - (len(values) - 1) / 2) * height
        colour = ORANGE if side.is_head else BLUE
        positions = [i + offset for i in range(len(order))]
        widths = [bars.get(c, math.nan) for c in order]
        ax.barh(positions, widths, height=height, color=colour, label=side.name)
    ax.set_yticks(range(len(order)), [figure_text(c, 30) for c in order])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(figure_text(spec.x_label or value, 60))
    ax.set_ylabel(figure_text(spec.y_label or category, 60))
    add_legend(ax, ax.get_legend_handles_labels()[0])
