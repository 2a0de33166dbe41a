from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ci_ml.report.plots import PlotInput, RenderedPlot, render_metric_deltas, render_plots
from ci_ml.report.plots.data import TEMPLATES, PlotSpec, Template
from ci_ml.report.plots.shapes import plot_slugs

LABELS = {"base_label": "main (abc1234)", "head_label": "(def5678)"}


def curve(scale: float, n: int = 30) -> list[dict[str, Any]]:
    return [
        {"step": float(i), "loss": math.exp(-i / scale), "acc": 1 - math.exp(-i / scale)}
        for i in range(n)
    ]


def predictions(errors: int, classes: int = 4) -> list[dict[str, Any]]:
    rows = [{"actual": float(c), "predicted": float(c)} for c in range(classes) for _ in range(5)]
    for i in range(errors):
        rows[i]["predicted"] = float((i + 1) % classes)
    return rows


def importances(scale: float) -> list[dict[str, Any]]:
    return [{"feature": f"f{i}", "importance": (i + 1) * scale} for i in range(6)]


def png_bytes(colour: str, size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def make_input(template: Template, *, base: bool = True, title: str = "") -> PlotInput:
    """An input for `template` whose head differs from its base."""
    if template == "image":
        spec = PlotSpec(
            id="img.png", title=title or "img", template="image", ys=(("img.png", None),)
        )
        return PlotInput(
            spec=spec,
            base_image=png_bytes("#336699") if base else None,
            head_image=png_bytes("#cc8833"),
        )
    if template.startswith("confusion"):
        x, y, file, old, new = "actual", "predicted", "cm.json", predictions(2), predictions(5)
    elif template.startswith("bar_horizontal"):
        x, y, file, old, new = "importance", "feature", "f.csv", importances(1), importances(1.5)
    else:
        x, y, file, old, new = "step", "loss", "c.csv", curve(5), curve(9)
    spec = PlotSpec(id=template, title=title or template, template=template, x=x, ys=((file, y),))
    return PlotInput(spec=spec, base={file: old if base else None}, head={file: new})


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def pixel_spread(path: Path) -> float:
    from matplotlib.image import imread

    return float(imread(path).std())


def render_one(item: PlotInput, out: Path) -> RenderedPlot:
    [plot] = render_plots([item], out, **LABELS)
    return plot


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_base_and_head(template: Template, tmp_path: Path) -> None:
    plot = render_one(make_input(template), tmp_path)
    item = make_input(template)
    assert plot.path == tmp_path / "plots" / f"{plot_slugs([item.spec.id])[0]}.png"
    assert plot.plot_id == item.spec.id
    assert plot.note is None
    wide = {"confusion": (1200, 400), "confusion_normalized": (1200, 400), "image": (1200, 450)}
    assert png_size(plot.path) == wide.get(template, (800, 450))
    assert pixel_spread(plot.path) > 0.05


@pytest.mark.parametrize("template", ["linear", "confusion", "bar_horizontal", "image"])
def test_missing_base_draws_head_alone_with_a_note(template: Template, tmp_path: Path) -> None:
    plot = render_one(make_input(template, base=False), tmp_path)
    assert plot.note is not None
    assert "missing on base: showing head only" in plot.note
    assert png_size(plot.path) == (800, 450)
    assert pixel_spread(plot.path) > 0.05


def test_missing_head_draws_base_alone_and_missing_both_draws_nothing(tmp_path: Path) -> None:
    spec = PlotSpec(id="p", title="p", x="step", ys=(("c.csv", "loss"),))
    only_base = PlotInput(spec=spec, base={"c.csv": curve(5)}, head={})
    neither = PlotInput(spec=PlotSpec(id="q", title="q", ys=(("d.csv", None),)))
    [plot] = render_plots([only_base, neither], tmp_path, **LABELS)
    assert plot.note == "c.csv missing on head: showing base only"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["p.png"]


def test_missing_fields_and_files_are_noted(tmp_path: Path) -> None:
    spec = PlotSpec(id="p", title="p", x="step", ys=(("a.csv", "loss"), ("b.csv", "nope")))
    item = PlotInput(
        spec=spec, base={"a.csv": curve(5), "b.csv": None}, head={"a.csv": [], "b.csv": curve(5)}
    )
    plot = render_one(item, tmp_path)
    assert plot.note == "b.csv is missing on base; b.csv has no field 'nope'"


def test_unreadable_images_render_a_placeholder_with_a_note(tmp_path: Path) -> None:
    spec = PlotSpec(id="i.svg", title="i", template="image", ys=(("i.svg", None),))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    plot = render_one(PlotInput(spec=spec, base_image=svg, head_image=b"not an image"), tmp_path)
    assert plot.note is not None
    assert plot.note.startswith("base image: SVG images are not drawn here")
    assert "head image: cannot decode image" in plot.note
    assert png_size(plot.path) == (1200, 450)


HOSTILE = [
    "$\\frac{",
    "$x$ costs $5 and $\\sqrt{",
    "<script>alert(1)</script>",
    "A" * 10_000,
    "bell\x07 nul\x00 esc\x1b[31m newline\n tab\t del\x7f",
    "\\",
    "日本語 🙂 \u202eevil",
]


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_and_labels_render(title: str, tmp_path: Path) -> None:
    spec = PlotSpec(id=title, title=title, x=title, ys=(("c.csv", title),), x_label=title)
    rows = [{title: float(i), "other": float(i)} for i in range(5)]
    plot = render_one(
        PlotInput(spec=spec, base={"c.csv": rows}, head={"c.csv": rows[::-1]}), tmp_path
    )
    assert len(plot.title) <= 120
    assert plot.title.isprintable()
    assert plot.path.parent == tmp_path / "plots"
    assert png_size(plot.path) == (800, 450)


def test_hostile_class_and_bar_labels_render(tmp_path: Path) -> None:
    confusion = PlotInput(
        spec=PlotSpec(id="cm", title="cm", template="confusion", x="a", ys=(("m.csv", "p"),)),
        base={"m.csv": [{"a": text, "p": text} for text in HOSTILE]},
        head={"m.csv": [{"a": text, "p": HOSTILE[0]} for text in HOSTILE]},
    )
    bars = PlotInput(
        spec=PlotSpec(id="b", title="b", template="bar_horizontal", x="v", ys=(("b.csv", "k"),)),
        head={"b.csv": [{"k": text, "v": float(i)} for i, text in enumerate(HOSTILE)]},
    )
    plots = render_plots([confusion, bars], tmp_path, **LABELS)
    assert [png_size(p.path) for p in plots] == [(1200, 400), (800, 450)]


def test_rendering_twice_gives_identical_bytes(tmp_path: Path) -> None:
    items = [make_input(t) for t in ("linear", "confusion", "image")]
    first = render_plots(items, tmp_path / "one", **LABELS)
    second = render_plots(items, tmp_path / "two", **LABELS)
    assert [p.path.name for p in first] == [p.path.name for p in second]
    assert [p.path.read_bytes() for p in first] == [p.path.read_bytes() for p in second]


def test_colliding_ids_get_distinct_files(tmp_path: Path) -> None:
    first, second = make_input("linear"), make_input("scatter")
    items = [
        PlotInput(spec=PlotSpec(**{**_fields(first.spec), "id": "Loss"}), head=first.head),
        PlotInput(spec=PlotSpec(**{**_fields(second.spec), "id": "loss"}), head=second.head),
    ]
    names = [p.path.name for p in render_plots(items, tmp_path, **LABELS)]
    assert len(set(names)) == 2
    assert all(n.startswith("loss-") and n.endswith(".png") for n in names)


def _fields(spec: PlotSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in PlotSpec.__dataclass_fields__}


def test_many_classes_and_categorical_x_render(tmp_path: Path) -> None:
    confusion = make_input("confusion")
    many = PlotInput(
        spec=confusion.spec,
        base={"cm.json": predictions(10, classes=30)},
        head={"cm.json": predictions(20, classes=30)},
    )
    spec = PlotSpec(id="split", title="split", x="split", ys=(("s.csv", "score"),))
    splits = PlotInput(
        spec=spec,
        base={"s.csv": [{"split": "train", "score": 0.9}, {"split": "test", "score": 0.8}]},
        head={"s.csv": [{"split": "train", "score": 0.95}, {"split": 3.0, "score": 0.7}]},
    )
    plots = render_plots([many, splits], tmp_path, **LABELS)
    assert [png_size(p.path) for p in plots] == [(1200, 400), (800, 450)]
    assert all(p.note is None for p in plots)


def test_metric_deltas_chart(tmp_path: Path) -> None:
    deltas = [("accuracy", 0.9, 0.95), ("loss", 0.3, 0.2), ("new", None, 1.0), ("z", 0.0, 2.0)]
    plot = render_metric_deltas(deltas, tmp_path, **LABELS)
    assert plot is not None
    assert plot.path == tmp_path / "plots" / "metric-deltas.png"
    assert plot.note == "not charted, as base is 0: z"
    assert plot.title == "Metric change: head (def5678) vs base main (abc1234)"
    assert png_size(plot.path) == (800, 450)
    assert pixel_spread(plot.path) > 0.05


def test_metric_deltas_chart_grows_with_many_metrics(tmp_path: Path) -> None:
    deltas = [(f"m{i}", 1.0, 1.0 + i / 10) for i in range(30)]
    plot = render_metric_deltas(deltas, tmp_path, **LABELS)
    assert plot is not None
    width, height = png_size(plot.path)
    assert (width, height) == (800, 1040)


def test_metric_deltas_chart_is_none_without_comparable_metrics(tmp_path: Path) -> None:
    assert render_metric_deltas([("new", None, 1.0)], tmp_path, **LABELS) is None
    assert not (tmp_path / "plots" / "metric-deltas.png").exists()


def test_importing_the_modules_leaves_matplotlib_out() -> None:
    code = (
        "import sys, ci_ml.report.plots, ci_ml.report.plots.data; "
        "bad = [m for m in ('matplotlib', 'numpy', 'PIL') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
