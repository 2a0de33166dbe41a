"""Line, scatter and smooth plots: base and head series on one axes, told apart by style.

Draws on a matplotlib Figure (`figure.py`); the series come from `plot_data.line_series`.
matplotlib is imported inside the functions that use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ci_ml.report.plots.data import PlotSpec
from ci_ml.report.plots.figure import BLUE, ORANGE, Side, add_legend, show_no_data
from ci_ml.report.plots.shapes import (
    Series,
    average_precision,
    clean_text,
    figure_text,
    is_precision_recall,
    label_text,
    line_series,
    moving_average,
    precision_recall_view,
)

_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
_MAX_SERIES = 8


def draw_lines(
    fig: Any, spec: PlotSpec, base: Side | None, head: Side | None, notes: list[str]
) -> None:
    """Both sides' series on one axes, base dashed and head solid, with a colour per series
    when there are several; what cannot be drawn is added to `notes`."""
    ax = fig.add_subplot()
    drawn: list[tuple[Side, list[Series]]] = []
    for side in (base, head):
        if side is not None and side.rows is not None:
            series, problems = line_series(spec, side.rows)
            notes += [clean_text(p, 100) for p in problems]
            drawn.append((side, series[:_MAX_SERIES]))
    labels = list(dict.fromkeys(s.label for _, series in drawn for s in series))
    categories = _categories([s for _, series in drawn for s in series])
    for side, series in drawn:
        for s in series:
            colour = _line_colour(side, labels.index(s.label), len(labels))
            xs = [categories.index(label_text(x)) for x in s.xs] if categories else list(s.xs)
            _draw_series(ax, spec.template, xs, list(s.ys), _line_style(side, colour))
    if categories:
        _category_ticks(ax, categories)
    elif all(float(x).is_integer() for _, series in drawn for s in series for x in s.xs):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    x_fields = ", ".join(dict.fromkeys(spec.x_for(file) or "step" for file in spec.files))
    y_fields = ", ".join(dict.fromkeys(field for _, field in spec.ys if field) or labels)
    ax.set_xlabel(figure_text(spec.x_label or x_fields, 60))
    ax.set_ylabel(figure_text(spec.y_label or y_fields, 60))
    if not labels:
        show_no_data(ax)
        return
    names = {side.name: side.name for side, _ in drawn}
    if len(labels) == 1 and is_precision_recall(x_fields, y_fields):
        names = _zoom_precision_recall(ax, drawn)
    sides = [side for side, _ in drawn]
    add_legend(ax, _line_handles(spec.template, sides, labels if len(labels) > 1 else [], names))


def _zoom_precision_recall(ax: Any, drawn: Sequence[tuple[Side, list[Series]]]) -> dict[str, str]:
    """A precision-recall curve: each side's AP in its legend entry, and the axes zoomed to
    where the curves lie (precision near 1 is where models differ, so the full unit square
    would squash them into a corner)."""
    names: dict[str, str] = {}
    xs: list[float] = []
    ys: list[float] = []
    for side, series in drawn:
        names[side.name] = side.name
        if not series or not all(isinstance(x, float) for x in series[0].xs):
            continue
        recall = [float(x) for x in series[0].xs]
        ap = average_precision(recall, series[0].ys)
        if ap is not None:
            names[side.name] = f"{side.name} (AP {ap:.3f})"
        xs += recall
        ys += series[0].ys
    if xs:
        x_view, y_view = precision_recall_view(xs, ys)
        ax.set_xlim(*x_view)
        ax.set_ylim(*y_view)
    return names


def _line_handles(
    template: str, sides: Sequence[Side], labels: Sequence[str], names: dict[str, str]
) -> list[Any]:
    """Legend entries: one per side (its line style) and, with several series, one per colour."""
    from matplotlib.lines import Line2D

    handles = []
    for side in sides:
        style = _line_style(side, _line_colour(side, 0, 1) if not labels else "#555555")
        if template == "scatter":
            style["linestyle"] = "none"
        handles.append(Line2D([], [], **style, label=names.get(side.name, side.name)))
    for i, label in enumerate(labels):
        colour = _PALETTE[i % len(_PALETTE)]
        handles.append(Line2D([], [], color=colour, linewidth=6, label=figure_text(label, 40)))
    return handles


def _categories(series: Sequence[Series]) -> list[str]:
    if all(isinstance(x, float) for s in series for x in s.xs):
        return []
    return list(dict.fromkeys(label_text(x) for s in series for x in s.xs))


def _line_colour(side: Side, index: int, count: int) -> str:
    if count == 1:
        return ORANGE if side.is_head else BLUE
    return _PALETTE[index % len(_PALETTE)]


def _line_style(side: Side, colour: str) -> dict[str, Any]:
    is_head = side.is_head
    return {
        "color": colour,
        "linestyle": "-" if is_head else "--",
        "linewidth": 2.0 if is_head else 1.6,
        "marker": "o" if is_head else "s",
        "markersize": 3.5,
        "markerfacecolor": colour if is_head else "white",
        "zorder": 3 if is_head else 2,
    }


def _draw_series(
    ax: Any, template: str, xs: list[Any], ys: list[float], style: dict[str, Any]
) -> None:
    if template == "scatter":
        ax.plot(xs, ys, **{**style, "linestyle": "none", "markersize": 5, "alpha": 0.8})
    elif template == "smooth":
        raw = {**style, "marker": "", "linewidth": 1.0, "alpha": 0.3}
        ax.plot(xs, ys, **raw)
        window = max(1, len(ys) // 10)
        ax.plot(xs, moving_average(ys, window), **{**style, "marker": ""})
    elif template == "linear" and len(ys) <= 60:
        ax.plot(xs, ys, **style)
    else:
        ax.plot(xs, ys, **{**style, "marker": ""})


def _category_ticks(ax: Any, categories: Sequence[str]) -> None:
    step = max(1, math.ceil(len(categories) / 20))
    positions = list(range(0, len(categories), step))
    ax.set_xticks(positions, [figure_text(categories[i], 20) for i in positions])
    if sum(min(len(categories[i]), 20) + 2 for i in positions) > 90:
        ax.tick_params(axis="x", labelrotation=30)
