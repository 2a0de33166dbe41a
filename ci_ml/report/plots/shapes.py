"""Rows -> what a figure shows: line series, confusion matrices, bars, labels and slugs. [pure]

The drawing code in this package holds no data logic: it asks these helpers for the shapes to
draw, so all of it is tested without matplotlib.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ci_ml.report.plots.data import PlotSpec, Rows


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One line: x values (numbers, or strings on a categorical axis) and y values (NaN = gap)."""

    label: str
    xs: tuple[float | str, ...]
    ys: tuple[float, ...]


def line_series(spec: PlotSpec, data: Mapping[str, Rows | None]) -> tuple[list[Series], list[str]]:
    """The series of a line-like spec from one side's rows, and the problems found on the way."""
    series: list[Series] = []
    problems: list[str] = []
    multi_file = len(spec.files) > 1
    for file, field in spec.ys:
        rows = data.get(file)
        if not rows:
            continue
        y = field or last_field(rows)
        x = spec.x_for(file)
        missing = [f for f in (y, x) if f is not None and not any(f in row for row in rows)]
        if missing:
            problems.append(f"{file} has no field {missing[0]!r}")
            continue
        xs = tuple(float(i) for i in range(len(rows))) if x is None else _xs(rows, x)
        ys = tuple(_number(row.get(y)) for row in rows)
        series.append(Series(label=f"{file}: {y}" if multi_file else y, xs=xs, ys=ys))
    return series, problems


def _xs(rows: Rows, x: str) -> tuple[float | str, ...]:
    values = [row.get(x) for row in rows]
    numbers = [v for v in values if isinstance(v, float)]
    if len(numbers) == len(values):
        return tuple(numbers)
    return tuple(label_text(v) for v in values)


def last_field(rows: Rows) -> str:
    """DVC's default y: the last field of the first row."""
    return str(list(rows[0])[-1]) if rows and rows[0] else ""


def first_field(rows: Rows) -> str:
    return str(next(iter(rows[0]), "")) if rows and rows[0] else ""


def _number(value: Any) -> float:
    return value if isinstance(value, float) and math.isfinite(value) else math.nan


def label_text(value: Any) -> str:
    """A value shown as a class or category label: `3.0` reads as `3`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def natural_key(text: str) -> tuple[tuple[int, float, str], ...]:
    """Sort key putting `2` before `10` and `class2` before `class10`."""
    parts = re.split(r"(\d+(?:\.\d+)?)", text)
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts) if p)


def class_labels(sides: Iterable[Rows], x: str, y: str) -> tuple[str, ...]:
    """The union of the labels of fields x and y over every side, sorted naturally."""
    labels = {label_text(row.get(f)) for rows in sides for row in rows for f in (x, y)}
    return tuple(sorted(labels, key=natural_key))


def confusion_matrix(
    rows: Rows, x: str, y: str, labels: Sequence[str], *, normalized: bool = False
) -> list[list[float]]:
    """matrix[i][j] counts rows with y == labels[i] and x == labels[j].

    Normalized, each x column sums to 1, as DVC's confusion_normalized template does.
    """
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0.0] * len(labels) for _ in labels]
    for row in rows:
        i, j = index.get(label_text(row.get(y))), index.get(label_text(row.get(x)))
        if i is not None and j is not None:
            matrix[i][j] += 1
    if normalized:
        for j in range(len(labels)):
            total = sum(matrix[i][j] for i in range(len(labels)))
            for i in range(len(labels)):
                matrix[i][j] = matrix[i][j] / total if total else 0.0
    return matrix


def bar_values(rows: Rows, value: str, category: str) -> dict[str, float]:
    """category label -> numeric value (the last row wins for a repeated category)."""
    return {
        label_text(row.get(category)): row[value]
        for row in rows
        if isinstance(row.get(value), float) and math.isfinite(row[value]) and category in row
    }


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average ignoring NaN; the window shrinks at the ends."""
    half = max(window, 1) // 2
    sums, counts = [0.0], [0]
    for v in values:
        finite = not math.isnan(v)
        sums.append(sums[-1] + (v if finite else 0.0))
        counts.append(counts[-1] + finite)
    out = []
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        n = counts[hi] - counts[lo]
        out.append((sums[hi] - sums[lo]) / n if n else math.nan)
    return out


def plot_slugs(ids: Sequence[str], *, reserved: Iterable[str] = ()) -> list[str]:
    """Distinct file names for plot ids, `[a-z0-9-]`.

    Where two ids (or an id and a `reserved` name) slug alike, each gets a short hash of its id;
    a repeated id also gets its occurrence number (`-2`, `-3`).
    """
    bases = [_slug(plot_id) for plot_id in ids]
    counts = dict.fromkeys(reserved, 1)
    for base in bases:
        counts[base] = counts.get(base, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for plot_id, base in zip(ids, bases, strict=True):
        name = base
        if counts[base] > 1:
            name = f"{base}-{hashlib.sha256(plot_id.encode()).hexdigest()[:8]}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return names


def _slug(plot_id: str) -> str:
    ascii_id = unicodedata.normalize("NFKD", plot_id).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_id.lower()).strip("-")[:60].strip("-") or "plot"


def clean_text(text: str, limit: int = 120) -> str:
    """Untrusted text on one line: control characters gone, whitespace collapsed, capped."""
    printable = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    printable = " ".join(printable.split())
    if len(printable) > limit:
        printable = printable[: limit - 1].rstrip() + "…"
    return printable


def figure_text(text: str, limit: int = 120) -> str:
    """`clean_text` with `$` escaped, for text drawn by matplotlib.

    matplotlib reads `$...$` as mathtext, and a malformed formula raises while drawing.
    """
    return clean_text(text, limit).replace("$", r"\$")


def relative_changes(
    deltas: Sequence[tuple[str, float | None, float | None]],
) -> tuple[list[tuple[str, float, float, float]], list[str]]:
    """(name, base, head, change in %) for each metric with a defined change, and the skipped."""
    shown: list[tuple[str, float, float, float]] = []
    skipped: list[str] = []
    for name, base, head in deltas:
        if base is None or head is None or not math.isfinite(base) or not math.isfinite(head):
            continue
        if base == 0:
            if head != 0:
                skipped.append(name)
                continue
            shown.append((name, base, head, 0.0))
        else:
            shown.append((name, base, head, (head - base) / abs(base) * 100))
    return shown, skipped


def change_sense(change: float, *, lower_is_better: bool) -> str:
    """`better`, `worse` or `same`: a change judged in its metric's direction."""
    if change == 0 or math.isnan(change):
        return "same"
    return "better" if (change < 0) == lower_is_better else "worse"


def average_precision(recall: Sequence[float], precision: Sequence[float]) -> float | None:
    """AP as scikit-learn defines it: the sum of precision times each step up in recall (NaN
    points dropped); None when there are no points. At equal recall the highest precision is
    the one that reached it (the highest threshold), so that point takes the step."""
    points = sorted(
        (r, -p) for r, p in zip(recall, precision, strict=False) if math.isfinite(r + p)
    )
    if not points:
        return None
    total, last = 0.0, 0.0
    for r, negative_p in points:
        total += (r - last) * -negative_p
        last = r
    return total


def is_precision_recall(x_field: str | None, y_field: str | None) -> bool:
    """A curve of precision (y) over recall (x), by the fields' names."""
    return (
        bool(x_field and y_field)
        and "recall" in str(x_field).lower()
        and ("precision" in str(y_field).lower())
    )


def zoom_limits(
    values: Sequence[float], *, low: float = 0.0, high: float = 1.0
) -> tuple[float, float]:
    """Axis limits around where `values` lie, with a margin, kept within [low, high] plus a
    sliver so points at the bounds stay visible."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return (low, high)
    lo, hi = min(finite), max(finite)
    margin = max((hi - lo) * 0.08, 0.01)
    sliver = (high - low) * 0.02
    return (max(low - sliver, lo - margin), min(high + sliver, hi + margin))


def precision_recall_view(
    recall: Sequence[float], precision: Sequence[float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits (x, y) for precision-recall curves: where they bend. Good models hold a
    precision near 1 until high recall and then fall to the base rate in a few points, so the
    unit square squeezes all that matters into its top-right corner. The view keeps 95% of the
    points' precision range (the last few, the fall itself, may be clipped: the AP in the legend
    still counts them) and starts at the recall where precision first leaves its plateau."""
    points = [(r, p) for r, p in zip(recall, precision, strict=False) if math.isfinite(r + p)]
    if not points:
        return (0.0, 1.0), (0.0, 1.0)
    ys = sorted(p for _, p in points)
    low = ys[int(0.05 * (len(ys) - 1))]
    top = ys[-1]
    plateau = top - (top - low) * 0.05
    leaving = [r for r, p in points if p < plateau]
    x_low = min(leaving) if leaving else min(r for r, _ in points)
    x_high = max(r for r, _ in points)
    return zoom_limits([x_low, x_high]), zoom_limits([low, top])
