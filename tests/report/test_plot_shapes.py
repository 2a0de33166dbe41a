from __future__ import annotations

import math
import re

import pytest

from ci_ml.report.plots.data import PlotSpec
from ci_ml.report.plots.shapes import (
    average_precision,
    bar_values,
    change_sense,
    class_labels,
    clean_text,
    confusion_matrix,
    figure_text,
    is_precision_recall,
    line_series,
    moving_average,
    natural_key,
    plot_slugs,
    precision_recall_view,
    relative_changes,
    zoom_limits,
)

# --- shaping rows -------------------------------------------------------------------------------


def test_line_series_uses_row_index_and_last_field_by_default() -> None:
    spec = PlotSpec(id="f.csv", title="t", ys=(("f.csv", None),))
    rows = [{"a": 1.0, "b": 3.0}, {"a": 2.0, "b": "bad"}, {"a": 3.0, "b": math.inf}]
    [series], problems = line_series(spec, {"f.csv": rows})
    assert (series.label, series.xs, problems) == ("b", (0.0, 1.0, 2.0), [])
    assert series.ys[0] == 3.0
    assert math.isnan(series.ys[1])
    assert math.isnan(series.ys[2])


def test_line_series_labels_files_and_reports_missing_fields() -> None:
    spec = PlotSpec(id="p", title="t", x="s", ys=(("a.csv", "y"), ("b.csv", "y"), ("b.csv", "z")))
    data = {"a.csv": [{"s": "train", "y": 1.0}], "b.csv": [{"s": 2.0, "y": 2.0}]}
    series, problems = line_series(spec, data)
    assert [(s.label, s.xs, s.ys) for s in series] == [
        ("a.csv: y", ("train",), (1.0,)),
        ("b.csv: y", (2.0,), (2.0,)),
    ]
    assert problems == ["b.csv has no field 'z'"]


def test_line_series_skips_files_missing_on_the_side() -> None:
    spec = PlotSpec(id="p", title="t", ys=(("a.csv", "y"),))
    assert line_series(spec, {"a.csv": None}) == ([], [])


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["10", "9", "1", "2"], ["1", "2", "9", "10"]),
        (["class10", "class2", "class1"], ["class1", "class2", "class10"]),
        (["b", "a", "10", "2"], ["2", "10", "a", "b"]),
    ],
)
def test_natural_key_orders_numbers_by_value(labels: list[str], expected: list[str]) -> None:
    assert sorted(labels, key=natural_key) == expected


def test_class_labels_are_the_union_over_sides_and_fields() -> None:
    base = [{"actual": 1.0, "predicted": 10.0}]
    head = [{"actual": 2.0, "predicted": 1.0}, {"actual": "cat", "predicted": 2.0}]
    assert class_labels([base, head], "actual", "predicted") == ("1", "2", "10", "cat")


def test_confusion_matrix_counts_and_normalizes_per_x_column() -> None:
    rows = [
        {"actual": 0.0, "predicted": 0.0},
        {"actual": 0.0, "predicted": 1.0},
        {"actual": 0.0, "predicted": 1.0},
        {"actual": 1.0, "predicted": 1.0},
        {"actual": 7.0, "predicted": 1.0},  # a label outside the set is ignored
    ]
    labels = ("0", "1")
    assert confusion_matrix(rows, "actual", "predicted", labels) == [[1.0, 0.0], [2.0, 1.0]]
    normalized = confusion_matrix(rows, "actual", "predicted", labels, normalized=True)
    assert normalized == [[pytest.approx(1 / 3), 0.0], [pytest.approx(2 / 3), 1.0]]


def test_bar_values_keeps_finite_numbers_by_category() -> None:
    rows = [
        {"f": "a", "v": 1.0},
        {"f": "b", "v": "x"},
        {"f": "c", "v": math.nan},
        {"f": "a", "v": 2.0},
        {"v": 3.0},
    ]
    assert bar_values(rows, "v", "f") == {"a": 2.0}


def test_moving_average_shrinks_at_the_ends_and_skips_nan() -> None:
    assert moving_average([1.0, 2.0, 3.0, 4.0], 3) == [1.5, 2.0, 3.0, 3.5]
    assert moving_average([1.0, math.nan, 3.0], 3) == [1.0, 2.0, 3.0]
    assert moving_average([2.0], 1) == [2.0]


def test_plot_slugs_are_safe_and_distinct() -> None:
    assert plot_slugs(["Train Loss", "reports/prc.json", "", "Ünïcode ✓"]) == [
        "train-loss",
        "reports-prc-json",
        "plot",
        "unicode",
    ]
    collided = plot_slugs(["a b", "a-b", "c"])
    assert collided[0].startswith("a-b-")
    assert collided[1].startswith("a-b-")
    assert len(set(collided)) == 3
    assert collided[2] == "c"
    assert plot_slugs(["a b", "a-b"]) == plot_slugs(["a b", "a-b"])
    [taken] = plot_slugs(["Metric deltas"], reserved=["metric-deltas"])
    assert taken.startswith("metric-deltas-")


def test_plot_file_names_pass_the_comment_uploaders_check() -> None:
    ids = ["../../etc/passwd", "-", "." * 300, "a" * 300, "<img src=x>", "ÄÖÜ", "a\x00b", "x.png"]
    names = plot_slugs([*ids, *ids])
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,100}", name) for name in names)


@pytest.mark.parametrize(
    ("text", "clean", "drawn"),
    [
        ("Loss", "Loss", "Loss"),
        ("a\x00b\x1b[31m\nc\td", "a b [31m c d", "a b [31m c d"),
        ("$\\frac{", "$\\frac{", "\\$\\frac{"),
        ("x" * 500, "x" * 119 + "…", "x" * 119 + "…"),
        ("zero\u200bwidth", "zero width", "zero width"),
    ],
)
def test_clean_and_figure_text(text: str, clean: str, drawn: str) -> None:
    assert clean_text(text) == clean
    assert figure_text(text) == drawn


def test_relative_changes_skips_undefined_ratios() -> None:
    shown, skipped = relative_changes(
        [
            ("acc", 0.5, 0.55),
            ("loss", 2.0, 1.0),
            ("new", None, 1.0),
            ("zero", 0.0, 1.0),
            ("still_zero", 0.0, 0.0),
            ("nan", math.nan, 1.0),
            ("neg", -2.0, -1.0),
        ]
    )
    assert shown == [
        ("acc", 0.5, 0.55, pytest.approx(10.0)),
        ("loss", 2.0, 1.0, -50.0),
        ("still_zero", 0.0, 0.0, 0.0),
        ("neg", -2.0, -1.0, 50.0),
    ]
    assert skipped == ["zero"]


@pytest.mark.parametrize(
    ("change", "lower_is_better", "sense"),
    [
        (2.0, False, "better"),
        (-2.0, False, "worse"),
        (2.0, True, "worse"),
        (-2.0, True, "better"),
        (0.0, True, "same"),
        (math.nan, False, "same"),
    ],
)
def test_change_sense_follows_the_metrics_direction(
    change: float, lower_is_better: bool, sense: str
) -> None:
    assert change_sense(change, lower_is_better=lower_is_better) == sense


def test_average_precision_matches_scikit_learns_step_sum() -> None:
    # sklearn.metrics.average_precision_score([1, 0, 1, 1], [0.9, 0.8, 0.7, 0.6]) == 0.8055...
    recall = [0.0, 1 / 3, 1 / 3, 2 / 3, 1.0]
    precision = [1.0, 1.0, 0.5, 2 / 3, 0.75]
    assert average_precision(recall, precision) == pytest.approx(0.80555, abs=1e-4)
    assert average_precision([], []) is None
    assert average_precision([math.nan], [1.0]) is None


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ("recall", "precision", True),
        ("Recall@k", "avg_precision", True),
        ("step", "precision", False),
        (None, "precision", False),
    ],
)
def test_is_precision_recall_by_field_names(x: str | None, y: str, expected: bool) -> None:
    assert is_precision_recall(x, y) is expected


def test_zoom_limits_hug_the_data_within_the_unit_range() -> None:
    low, high = zoom_limits([0.9, 0.95, 1.0])
    assert 0.85 < low < 0.9
    assert 1.0 < high <= 1.02
    assert zoom_limits([]) == (0.0, 1.0)


def test_precision_recall_view_frames_the_bend_not_the_unit_square() -> None:
    recall = [i / 100 for i in range(101)]
    # A plateau at 1.0 until recall 0.6, a slow slide to 0.95, then the fall to the base rate.
    precision = [1.0 if r <= 0.6 else 1.0 - (r - 0.6) / 8 for r in recall[:-2]] + [0.5, 0.1]
    (x_low, x_high), (y_low, y_high) = precision_recall_view(recall, precision)
    assert 0.55 < x_low < 0.65
    assert x_high >= 1.0
    assert 0.9 < y_low < 0.96  # the last two points are the fall: clipped, the AP counts them
    assert 1.0 <= y_high <= 1.02
