"""Base-vs-head figures for the PR comment, written as PNG files. [edge: writes files]

Data shaping lives in `plot_data` (pure); this module only draws. matplotlib, numpy and Pillow
are imported inside the functions that use them, so `import ci_ml.cli` stays light. Drawing
uses a bare `Figure` on the Agg canvas (no pyplot, no global figure state) under matplotlib's
default rcParams plus ours, so a user's matplotlibrc cannot change or break the output.

Everything a figure shows from the PR (titles, labels, field names, class names) goes through
`clean_text`. Colours are Okabe-Ito, safe for the common colour-vision deficiencies.
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci_ml.plot_data import (
    PlotSpec,
    Rows,
    Series,
    bar_values,
    class_labels,
    clean_text,
    confusion_matrix,
    figure_text,
    first_field,
    label_text,
    last_field,
    line_series,
    moving_average,
    plot_slugs,
    relative_changes,
)

BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#999999"
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
DPI = 100
METRIC_DELTAS = "metric-deltas"  # its file name; no plot's slug takes it
SINGLE_SIZE = (8.0, 4.5)  # 800 x 450 px
WIDE_SIZE = (12.0, 4.0)  # 1200 x 400 px: base, head and difference side by side
IMAGE_PAIR_SIZE = (12.0, 4.5)
_MAX_ANNOTATED_CLASSES = 12
_MAX_BARS = 25
_MAX_SERIES = 8
_MAX_IMAGE_PIXELS = 40_000_000
_RC: dict[Any, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "figure.titlesize": 12.0,
    "figure.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.0,
    "legend.framealpha": 0.85,
    "svg.hashsalt": "ci-ml",
    "text.usetex": False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PlotInput:
    """A spec and its data on each side: rows per file (None or absent = missing on that side).

    Image plots carry the image file's bytes instead (None = missing on that side).
    """

    spec: PlotSpec
    base: Mapping[str, Rows | None] = field(default_factory=dict)
    head: Mapping[str, Rows | None] = field(default_factory=dict)
    base_image: bytes | None = None
    head_image: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedPlot:
    """A PNG written for the comment; `note` says what is missing or left out, if anything."""

    path: Path
    title: str
    plot_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class _Side:
    name: str  # "base main (abc1234)", as the legend shows it
    is_head: bool
    rows: Mapping[str, Rows | None] | None = None
    image: bytes | None = None


def render_plots(
    items: Sequence[PlotInput], out_dir: Path, *, base_label: str, head_label: str
) -> list[RenderedPlot]:
    """Write `out_dir/plots/<slug>.png` per spec with data on either side, in input order.

    The labels name the commits (`main (abc1234)`); the legend prefixes `base` and `head`.
    A spec with no data on either side is left out.
    """
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    names = plot_slugs([item.spec.id for item in items], reserved=[METRIC_DELTAS])
    rendered: list[RenderedPlot] = []
    with _style():
        for item, name in zip(items, names, strict=True):
            plot = _render_one(item, plots_dir / f"{name}.png", base_label, head_label)
            if plot is not None:
                rendered.append(plot)
    return rendered


def render_metric_deltas(
    deltas: Sequence[tuple[str, float | None, float | None]],
    out_dir: Path,
    *,
    base_label: str,
    head_label: str,
) -> RenderedPlot | None:
    """`out_dir/plots/metric-deltas.png`: a bar per metric (name, base, head) of its relative
    change in %; None if no metric has one.

    Blue is up and orange is down: whether up is better is for the report to say.
    """
    shown, skipped = relative_changes(deltas)
    if not shown:
        return None
    zero = ", ".join(clean_text(name, 60) for name in skipped)
    notes = [f"not charted, as base is 0: {zero}"] if skipped else []
    if len(shown) > 40:
        notes.append(f"showing the first 40 of {len(shown)} metrics")
        shown = shown[:40]
    title = clean_text(f"Metric change: head {head_label} vs base {base_label}")
    path = out_dir / "plots" / f"{METRIC_DELTAS}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _style():
        fig = _figure((8.0, max(4.5, 1.4 + 0.3 * len(shown))))
        _draw_deltas(fig, shown)
        _title(fig, title)
        _save(fig, path)
    return RenderedPlot(
        path=path, title=title, plot_id=METRIC_DELTAS, note="; ".join(notes) or None
    )


def _title(fig: Any, title: str) -> None:
    """The figure's title, wrapped to fit its width (about 75 characters per 800 px)."""
    width = int(fig.get_figwidth() * 9.5)
    lines = textwrap.wrap(figure_text(title), width, max_lines=2, placeholder=" …")
    fig.suptitle("\n".join(lines))


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with warnings.catch_warnings(), matplotlib.rc_context():
        # Glyphs missing from DejaVu Sans (hostile or CJK titles) and layouts that do not fit
        # only warn; the figure is still written.
        warnings.simplefilter("ignore", UserWarning)
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_RC)
        yield


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path, *, photo: bool = False) -> None:
    """An opaque PNG without metadata chunks, so its bytes depend on nothing but the drawing.

    A chart fits a 256-colour palette with no visible loss at under half the size of RGB;
    a figure showing the user's own images (`photo`) stays RGB.
    """
    from PIL import Image

    fig.tight_layout()
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()
    rgba = Image.frombuffer("RGBA", (width, height), fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    image = rgba.convert("RGB")
    if not photo:
        image = image.quantize(256, dither=Image.Dither.NONE)
    image.save(path, format="PNG", optimize=True)


# --- one plot -----------------------------------------------------------------------------------


def _render_one(
    item: PlotInput, path: Path, base_label: str, head_label: str
) -> RenderedPlot | None:
    spec = item.spec
    files = spec.files
    base = _side(f"base {base_label}", item, is_head=False)
    head = _side(f"head {head_label}", item, is_head=True)
    if base is None and head is None:
        return None
    notes = [_missing_note(files, side, other) for side, other in ((base, head), (head, base))]
    for name, side in (("base", base), ("head", head)):
        if side is not None and side.rows is not None and len(files) > 1:
            notes += [
                f"{clean_text(f, 80)} is missing on {name}"
                for f in files
                if side.rows.get(f) is None
            ]
    sides = [side for side in (base, head) if side is not None]
    fig = _figure(_size(spec, len(sides)))
    if spec.template == "image":
        _draw_images(fig, sides, notes)
    elif spec.template.startswith("confusion"):
        _draw_confusion(fig, spec, sides, notes)
    elif spec.template.startswith("bar_horizontal"):
        _draw_bars(fig, spec, sides, notes)
    else:
        _draw_lines(fig, spec, base, head, notes)
    title = clean_text(spec.title)
    _title(fig, title)
    _save(fig, path, photo=spec.template == "image")
    note = "; ".join(n for n in dict.fromkeys(notes) if n)
    return RenderedPlot(path=path, title=title, plot_id=spec.id, note=note or None)


def _side(name: str, item: PlotInput, *, is_head: bool) -> _Side | None:
    name = figure_text(name, 60)
    if item.spec.template == "image":
        image = item.head_image if is_head else item.base_image
        return None if image is None else _Side(name, is_head, image=image)
    rows = item.head if is_head else item.base
    if all(rows.get(file) is None for file in item.spec.files):
        return None
    return _Side(name, is_head, rows=rows)


def _missing_note(files: Sequence[str], side: _Side | None, other: _Side | None) -> str:
    if side is not None or other is None:
        return ""
    which, there = ("base", "head") if other.is_head else ("head", "base")
    shown = ", ".join(clean_text(f, 80) for f in files)
    return f"{shown} missing on {which}: showing {there} only"


def _size(spec: PlotSpec, sides: int) -> tuple[float, float]:
    if sides == 2 and spec.template.startswith("confusion"):
        return WIDE_SIZE
    if sides == 2 and spec.template == "image":
        return IMAGE_PAIR_SIZE
    return SINGLE_SIZE


# --- line, scatter, smooth ----------------------------------------------------------------------


def _draw_lines(
    fig: Any, spec: PlotSpec, base: _Side | None, head: _Side | None, notes: list[str]
) -> None:
    ax = fig.add_subplot()
    drawn: list[tuple[_Side, list[Series]]] = []
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
        _no_data(ax)
        return
    sides = [side for side, _ in drawn]
    _legend(ax, _line_handles(spec.template, sides, labels if len(labels) > 1 else []))


def _line_handles(template: str, sides: Sequence[_Side], labels: Sequence[str]) -> list[Any]:
    """Legend entries: one per side (its line style) and, with several series, one per colour."""
    from matplotlib.lines import Line2D

    handles = []
    for side in sides:
        style = _line_style(side, _line_colour(side, 0, 1) if not labels else "#555555")
        if template == "scatter":
            style["linestyle"] = "none"
        handles.append(Line2D([], [], **style, label=side.name))
    for i, label in enumerate(labels):
        colour = _PALETTE[i % len(_PALETTE)]
        handles.append(Line2D([], [], color=colour, linewidth=6, label=figure_text(label, 40)))
    return handles


def _legend(ax: Any, handles: Sequence[Any]) -> None:
    # Above the axes, not inside: a legend placed "best" still hides lines in busy plots.
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncols=min(len(handles), 4),
        frameon=False,
        borderaxespad=0.0,
    )


def _categories(series: Sequence[Series]) -> list[str]:
    if all(isinstance(x, float) for s in series for x in s.xs):
        return []
    return list(dict.fromkeys(label_text(x) for s in series for x in s.xs))


def _line_colour(side: _Side, index: int, count: int) -> str:
    if count == 1:
        return ORANGE if side.is_head else BLUE
    return _PALETTE[index % len(_PALETTE)]


def _line_style(side: _Side, colour: str) -> dict[str, Any]:
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


def _no_data(ax: Any, text: str = "no data to plot") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


# --- confusion matrices -------------------------------------------------------------------------


def _table_fields(
    spec: PlotSpec, sides: Sequence[_Side], notes: list[str]
) -> tuple[list[tuple[_Side, Rows]], str, str] | None:
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


def _draw_confusion(fig: Any, spec: PlotSpec, sides: Sequence[_Side], notes: list[str]) -> None:
    found = _table_fields(spec, sides, notes)
    if found is None:
        _no_data(fig.add_subplot())
        return
    tables, x, y = found
    labels = class_labels([rows for _, rows in tables], x, y)
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
    if n > _MAX_ANNOTATED_CLASSES:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
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


# --- horizontal bars ----------------------------------------------------------------------------


def _draw_bars(fig: Any, spec: PlotSpec, sides: Sequence[_Side], notes: list[str]) -> None:
    ax = fig.add_subplot()
    found = _table_fields(spec, sides, notes)
    if found is None:
        _no_data(ax)
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
        _no_data(ax)
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
    _legend(ax, ax.get_legend_handles_labels()[0])


# --- images -------------------------------------------------------------------------------------


def _draw_images(fig: Any, sides: Sequence[_Side], notes: list[str]) -> None:
    axes = fig.subplots(1, len(sides), squeeze=False)[0]
    for ax, side in zip(axes, sides, strict=True):
        pixels, problem = _decode_image(side.image or b"")
        ax.set_title(side.name)
        if pixels is None:
            notes.append(f"{'head' if side.is_head else 'base'} image: {problem}")
            _no_data(ax, figure_text(problem))
            continue
        ax.imshow(pixels)
        ax.set_axis_off()


def _decode_image(data: bytes) -> tuple[Any, str]:
    import numpy as np
    from PIL import Image

    if b"<svg" in data[:4096]:
        return None, "SVG images are not drawn here; see the file itself"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > _MAX_IMAGE_PIXELS:
                return None, f"image too large ({image.width} x {image.height} px)"
            image.thumbnail((1200, 1200))
            return np.asarray(image.convert("RGBA")), ""
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return None, clean_text(f"cannot decode image ({e})", 100)


# --- metric deltas ------------------------------------------------------------------------------


def _draw_deltas(fig: Any, shown: Sequence[tuple[str, float, float, float]]) -> None:
    ax = fig.add_subplot()
    positions = list(range(len(shown)))
    changes = [change for *_, change in shown]
    colours = [BLUE if c > 0 else ORANGE if c < 0 else GREY for c in changes]
    ax.barh(positions, changes, color=colours, height=0.5)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(positions, [figure_text(name, 40) for name, *_ in shown])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("change from base to head (%)")
    spread = max(abs(c) for c in changes) or 1.0
    ax.set_xlim(-spread * 1.15, spread * 1.15)
    # The absolute values sit on a second axis at the right, clear of the bars.
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(
        positions,
        [f"{base:.4g} → {head:.4g} ({change:+.2f}%)" for _, base, head, change in shown],
    )
    right.grid(False)
