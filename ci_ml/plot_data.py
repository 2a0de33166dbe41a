"""Plot definitions and plot data: what to draw for a pipeline, and the rows to draw it from. [pure]

`plot_specs` turns the plots of a parsed pipeline (DVC 3 top-level `plots:` and stage-level
`plots` outs) into `PlotSpec`s; `parse_plot_file` turns a CSV, TSV, JSON or YAML plot file into
rows. The helpers below them shape rows into what `plots.py` draws (series, confusion matrices,
bars), so the drawing code holds no data logic and all of it is tested without matplotlib.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from ci_ml.errors import PipelineError
from ci_ml.pipeline.graph import build_graph
from ci_ml.pipeline.model import Out, Pipeline

Template = Literal[
    "linear",
    "simple",
    "scatter",
    "smooth",
    "confusion",
    "confusion_normalized",
    "bar_horizontal",
    "bar_horizontal_sorted",
    "image",
]
TEMPLATES: tuple[Template, ...] = (
    *("linear", "simple", "scatter", "smooth", "confusion", "confusion_normalized"),
    *("bar_horizontal", "bar_horizontal_sorted", "image"),
)
# Templates that draw one file per figure: DVC facets them per file; we split the spec instead.
PER_FILE_TEMPLATES = (
    *("confusion", "confusion_normalized"),
    *("bar_horizontal", "bar_horizontal_sorted"),
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")
DATA_SUFFIXES = (".csv", ".tsv", ".json", ".yaml", ".yml")

Row = Mapping[str, Any]
Rows = Sequence[Row]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlotSpec:
    """One figure: a plot id, how to draw it, and the (file, field) pairs it reads.

    `x` None means the row index (DVC's `step`). A `ys` field of None means DVC's default, the
    last field of the file's first row. `x_by_file` holds DVC 3's per-file `x: {file: field}`.
    `header` False reads a CSV/TSV without a header row; its fields are then "0", "1", ...
    """

    id: str
    title: str
    template: Template = "linear"
    x: str | None = None
    ys: tuple[tuple[str, str | None], ...] = ()
    x_label: str = ""
    y_label: str = ""
    x_by_file: tuple[tuple[str, str], ...] = ()
    header: bool = True

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(file for file, _ in self.ys))

    def x_for(self, file: str) -> str | None:
        return dict(self.x_by_file).get(file, self.x)


def plot_specs(pipeline: Pipeline) -> tuple[PlotSpec, ...]:
    """Top-level plots in file order, then stage plots in stage order, minus files drawn above.

    DVC draws a file again for its stage-level entry even when a top-level plot already shows
    it; in a PR comment that is a duplicate figure, so we leave the stage-level one out.
    """
    top = [spec for out in pipeline.plots for spec in _split(_spec(out, top_level=True))]
    drawn = {file for spec in top for file in spec.files}
    stages = {stage.name: stage for stage in pipeline.stages}
    stage_outs = [
        out
        for name in build_graph(pipeline).order
        for out in stages[name].outs
        if out.kind == "plots" and out.path not in drawn
    ]
    rest = [spec for out in stage_outs for spec in _split(_spec(out, top_level=False))]
    return (*top, *rest)


def _spec(out: Out, *, top_level: bool) -> PlotSpec:
    options = {name: json.loads(value) for name, value in out.options}
    y = options.get("y")
    x = options.get("x")
    if top_level and isinstance(y, dict):
        # DVC 3: `y: {file: field | [fields]}` makes the id a name; the files are the keys.
        ys = tuple((file, field) for file, value in y.items() for field in _fields(value))
    else:
        ys = tuple((out.path, field) for field in (_fields(y) if y is not None else [None]))
    x_by_file = tuple((str(f), str(v)) for f, v in x.items()) if isinstance(x, dict) else ()
    template = _template(options.get("template"))
    if not (top_level and isinstance(y, dict)) and out.path.lower().endswith(IMAGE_SUFFIXES):
        template = "image"
    return PlotSpec(
        id=out.path,
        title=_text(options.get("title")) or out.path,
        template=template,
        x=None if x is None or isinstance(x, dict) else str(x),
        ys=ys,
        x_label=_text(options.get("x_label")),
        y_label=_text(options.get("y_label")),
        x_by_file=x_by_file,
        header=options.get("header") is not False,
    )


def _split(spec: PlotSpec) -> Iterator[PlotSpec]:
    files = spec.files
    if spec.template not in PER_FILE_TEMPLATES or len(files) < 2:
        yield spec
        return
    for file in files:
        yield PlotSpec(
            id=f"{spec.id} {file}",
            title=f"{spec.title} ({file})",
            template=spec.template,
            x=spec.x_for(file),
            ys=tuple(pair for pair in spec.ys if pair[0] == file),
            x_label=spec.x_label,
            y_label=spec.y_label,
            header=spec.header,
        )


def _fields(value: Any) -> list[str | None]:
    if isinstance(value, list):
        return [str(v) for v in value] or [None]
    return [None if value is None else str(value)]


def _template(value: Any) -> Template:
    # A custom template (a path to a Vega-Lite file) cannot be drawn here: fall back to linear.
    for template in TEMPLATES:
        if value == template and template != "image":
            return template
    return "linear"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --- plot files -> rows -------------------------------------------------------------------------


def parse_plot_file(path: str, text: str, *, header: bool = True) -> list[dict[str, Any]]:
    """The rows of a plot file; numeric values become floats. Raises PipelineError naming it."""
    ext = posixpath.splitext(path)[1].lower()
    if ext not in DATA_SUFFIXES:
        raise PipelineError(
            f"{path}: cannot read plot data from a {ext or 'suffix-less'} file. Plot files are "
            "CSV, TSV, JSON or YAML; images are .png, .jpg, .jpeg, .svg or .gif."
        )
    try:
        if ext in (".csv", ".tsv"):
            return _parse_table(path, text, "\t" if ext == ".tsv" else ",", header=header)
        data = json.loads(text) if ext == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError, csv.Error) as e:
        raise PipelineError(f"{path}: cannot read plot data ({e}). Fix the file's syntax.") from e
    return [{str(k): _value(v) for k, v in row.items()} for row in _records(path, data)]


def _parse_table(path: str, text: str, delimiter: str, *, header: bool) -> list[dict[str, Any]]:
    lines = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    if not lines:
        return []
    names = lines[0] if header else [str(i) for i in range(len(lines[0]))]
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines[1:] if header else lines, start=2 if header else 1):
        if len(line) != len(names):
            raise PipelineError(
                f"{path}: row {number} has {len(line)} fields but the header has {len(names)}. "
                "Give every row one value per column."
            )
        rows.append({name: _value(value) for name, value in zip(names, line, strict=True)})
    return rows


def _records(path: str, data: Any) -> list[Mapping[Any, Any]]:
    if data is None:
        return []
    records = data if isinstance(data, list) else next(_lists(data), None)
    if records is None or not all(isinstance(row, dict) for row in records):
        raise PipelineError(
            f'{path}: plot data must be a list of records ({{"x": 1, "y": 2}} objects), or '
            "an object holding one, like DVC's {\"prc\": [...]}. Fix the file's structure."
        )
    return records


def _lists(data: Any) -> Iterator[list[Any]]:
    # As DVC finds the records in `{"prc": [...]}`: the first list, searching nested objects.
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list):
                yield value
            else:
                yield from _lists(value)


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


# --- rows -> what a figure shows ----------------------------------------------------------------


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
