"""Base-vs-head figures for the PR comment, written as PNG files. [edge: writes files]

Data shaping lives in `plot_data` (pure); this package only draws. This module holds the entry
points and picks a drawing per template: `lines` (line, scatter, smooth), `tables` (confusion
matrices, horizontal bars), `images`, and `deltas` for the metric-delta chart. `figure` holds
what they share. matplotlib, numpy and Pillow are imported inside the functions that use them,
so `import ci_ml.cli` stays light.

Everything a figure shows from the PR (titles, labels, field names, class names) goes through
`clean_text`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ci_ml.report.plots.data import PlotSpec, Rows
from ci_ml.report.plots.deltas import draw_deltas
from ci_ml.report.plots.figure import Side, new_figure, plot_style, save_png, set_title
from ci_ml.report.plots.images import draw_images
from ci_ml.report.plots.lines import draw_lines
from ci_ml.report.plots.shapes import clean_text, figure_text, plot_slugs, relative_changes
from ci_ml.report.plots.tables import draw_bars, draw_confusion

METRIC_DELTAS = "metric-deltas"  # its file name; no plot's slug takes it
SINGLE_SIZE = (8.0, 4.5)  # 800 x 450 px
WIDE_SIZE = (12.0, 4.0)  # 1200 x 400 px: base, head and difference side by side
IMAGE_PAIR_SIZE = (12.0, 4.5)


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
    with plot_style():
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
    lower_is_better: Collection[str] = (),
) -> RenderedPlot | None:
    """`out_dir/plots/metric-deltas.png`: a bar per metric (name, base, head) of its relative
    change in %; None if no metric has one.

    A bar is green when the change is better in that metric's direction (up, or down for the
    names in `lower_is_better`) and red when it is worse.
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
    with plot_style():
        fig = new_figure((8.0, max(4.5, 1.4 + 0.3 * len(shown))))
        draw_deltas(fig, shown, lower_is_better=lower_is_better)
        set_title(fig, title)
        save_png(fig, path)
    return RenderedPlot(
        path=path, title=title, plot_id=METRIC_DELTAS, note="; ".join(notes) or None
    )


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
    fig = new_figure(_size(spec, len(sides)))
    if spec.template == "image":
        draw_images(fig, sides, notes)
    elif spec.template.startswith("confusion"):
        draw_confusion(fig, spec, sides, notes)
    elif spec.template.startswith("bar_horizontal"):
        draw_bars(fig, spec, sides, notes)
    else:
        draw_lines(fig, spec, base, head, notes)
    title = clean_text(spec.title)
    set_title(fig, title)
    save_png(fig, path, photo=spec.template == "image")
    note = "; ".join(n for n in dict.fromkeys(notes) if n)
    return RenderedPlot(path=path, title=title, plot_id=spec.id, note=note or None)


def _side(name: str, item: PlotInput, *, is_head: bool) -> Side | None:
    name = figure_text(name, 60)
    if item.spec.template == "image":
        image = item.head_image if is_head else item.base_image
        return None if image is None else Side(name, is_head, image=image)
    rows = item.head if is_head else item.base
    if all(rows.get(file) is None for file in item.spec.files):
        return None
    return Side(name, is_head, rows=rows)


def _missing_note(files: Sequence[str], side: Side | None, other: Side | None) -> str:
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
