"""Plot definitions and plot data: what to draw for a pipeline, and the rows to draw it from. [pure]

`plot_specs` turns the plots of a parsed pipeline (DVC 3 top-level `plots:` and stage-level
`plots` outs) into `PlotSpec`s; `parse_plot_file` turns a CSV, TSV, JSON or YAML plot file into
rows. `shapes.py` turns rows into what the figures draw (series, confusion matrices,
bars), so the drawing code holds no data logic and all of it is tested without matplotlib.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from ci_ml.errors import PipelineError
from ci_ml.pipeline import Out, Pipeline, build_graph
from ci_ml.yaml_guard import safe_load

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
        data = json.loads(text) if ext == ".json" else safe_load(text, path)
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
