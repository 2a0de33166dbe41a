from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ci_ml.errors import PipelineError
from ci_ml.pipeline.parse import parse_pipeline
from ci_ml.report.plots.data import PlotSpec, parse_plot_file, plot_specs

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "get-started"
WILD_GET_STARTED = Path(__file__).parents[1] / "pipeline" / "wild" / "get_started"


def specs(dvc_yaml: str, **files: str) -> tuple[PlotSpec, ...]:
    return plot_specs(parse_pipeline({"dvc.yaml": dvc_yaml, **files}.get, ["dvc.yaml"]))


def project_specs(root: Path) -> tuple[PlotSpec, ...]:
    files = {"dvc.yaml": (root / "dvc.yaml").read_text(encoding="utf-8")}
    params = root / "params.yaml"
    if params.exists():
        files["params.yaml"] = params.read_text(encoding="utf-8")
    return plot_specs(parse_pipeline(files.get, ["dvc.yaml"]))


# --- spec extraction from real pipelines --------------------------------------------------------


def test_example_pipeline_draws_its_top_level_plots_once() -> None:
    assert project_specs(EXAMPLE) == (
        PlotSpec(
            id="train_loss",
            title="Training loss per epoch",
            x="epoch",
            ys=(("reports/train_curve.csv", "loss"),),
        ),
        PlotSpec(
            id="train_accuracy",
            title="Training accuracy per epoch",
            x="epoch",
            ys=(("reports/train_curve.csv", "accuracy"),),
        ),
        PlotSpec(
            id="reports/confusion.csv",
            title="Confusion matrix (test set)",
            template="confusion",
            x="actual",
            ys=(("reports/confusion.csv", "predicted"),),
        ),
        PlotSpec(
            id="precision_recall",
            title="Precision-recall, micro-averaged over the 10 digits (test set)",
            template="simple",
            x="recall",
            ys=(("reports/prc.json", "precision"),),
        ),
    )


def test_dvc_get_started_splits_confusion_per_file_and_keeps_images() -> None:
    found = project_specs(WILD_GET_STARTED)
    assert [(s.id, s.template, s.ys) for s in found] == [
        (
            "ROC",
            "simple",
            (
                ("eval/plots/sklearn/roc/test.json", "tpr"),
                ("eval/plots/sklearn/roc/train.json", "tpr"),
            ),
        ),
        (
            "Confusion-Matrix eval/plots/sklearn/cm/test.json",
            "confusion",
            (("eval/plots/sklearn/cm/test.json", "predicted"),),
        ),
        (
            "Confusion-Matrix eval/plots/sklearn/cm/train.json",
            "confusion",
            (("eval/plots/sklearn/cm/train.json", "predicted"),),
        ),
        (
            "Precision-Recall",
            "simple",
            (
                ("eval/plots/sklearn/prc/test.json", "precision"),
                ("eval/plots/sklearn/prc/train.json", "precision"),
            ),
        ),
        (
            "eval/plots/images/importance.png",
            "image",
            (("eval/plots/images/importance.png", None),),
        ),
    ]


STAGE = "stages:\n  a:\n    cmd: run\n"


@pytest.mark.parametrize(
    ("dvc_yaml", "expected"),
    [
        pytest.param(
            "plots:\n  - out/loss.csv\n",
            [PlotSpec(id="out/loss.csv", title="out/loss.csv", ys=(("out/loss.csv", None),))],
            id="top-level path",
        ),
        pytest.param(
            "plots:\n  - out/m.json:\n      y: [a, b]\n      x: step\n      template: scatter\n",
            [
                PlotSpec(
                    id="out/m.json",
                    title="out/m.json",
                    template="scatter",
                    x="step",
                    ys=(("out/m.json", "a"), ("out/m.json", "b")),
                )
            ],
            id="path id with a list of fields",
        ),
        pytest.param(
            "plots:\n  - cmp:\n      x: {a.csv: t, b.csv: u}\n      y: {a.csv: [p, q], b.csv: r}\n"
            "      x_label: time\n      y_label: value\n",
            [
                PlotSpec(
                    id="cmp",
                    title="cmp",
                    ys=(("a.csv", "p"), ("a.csv", "q"), ("b.csv", "r")),
                    x_label="time",
                    y_label="value",
                    x_by_file=(("a.csv", "t"), ("b.csv", "u")),
                )
            ],
            id="named plot with per-file x and y",
        ),
        pytest.param(
            "plots:\n  - f.csv:\n      template: .dvc/plots/custom.json\n",
            [PlotSpec(id="f.csv", title="f.csv", ys=(("f.csv", None),))],
            id="custom template falls back to linear",
        ),
        pytest.param(
            "plots:\n  - img/roc.PNG\n  - bars:\n      template: bar_horizontal\n"
            "      x: importance\n      y: {f.csv: feature}\n",
            [
                PlotSpec(
                    id="img/roc.PNG",
                    title="img/roc.PNG",
                    template="image",
                    ys=(("img/roc.PNG", None),),
                ),
                PlotSpec(
                    id="bars",
                    title="bars",
                    template="bar_horizontal",
                    x="importance",
                    ys=(("f.csv", "feature"),),
                ),
            ],
            id="image and bars",
        ),
        pytest.param(
            STAGE + "    plots:\n      - r/c.csv:\n          header: false\n          x: '0'\n"
            "          y: '1'\n          title: Curve\n      - r/p.svg:\n          cache: false\n",
            [
                PlotSpec(id="r/c.csv", title="Curve", x="0", ys=(("r/c.csv", "1"),), header=False),
                PlotSpec(id="r/p.svg", title="r/p.svg", template="image", ys=(("r/p.svg", None),)),
            ],
            id="stage plots with options",
        ),
        pytest.param(
            STAGE + "    wdir: sub\n    plots:\n      - loss.tsv\n",
            [PlotSpec(id="sub/loss.tsv", title="sub/loss.tsv", ys=(("sub/loss.tsv", None),))],
            id="stage plot under wdir",
        ),
    ],
)
def test_plot_specs(dvc_yaml: str, expected: list[PlotSpec]) -> None:
    assert list(specs(dvc_yaml)) == expected


def test_stage_plot_is_dropped_when_a_top_level_plot_draws_its_file() -> None:
    found = specs(
        STAGE + "    plots:\n      - r/loss.csv\n      - r/other.csv\n"
        "plots:\n  - loss:\n      y: {r/loss.csv: loss}\n"
    )
    assert [s.id for s in found] == ["loss", "r/other.csv"]


def test_stage_plots_follow_pipeline_order_after_top_level() -> None:
    # `a` reads what `b` writes, so b's plots come first even though a sorts first by name.
    dvc_yaml = (
        "stages:\n"
        "  a:\n    cmd: x\n    deps: [data.txt]\n    plots: [a.csv]\n"
        "  b:\n    cmd: y\n    outs: [data.txt]\n    plots: [b.csv]\n"
        "plots:\n  - top.csv\n"
    )
    assert [s.id for s in specs(dvc_yaml)] == ["top.csv", "b.csv", "a.csv"]


# --- parse_plot_file ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        (
            "a.csv",
            "epoch,loss\n1,0.5\n2,0.25\n",
            [{"epoch": 1.0, "loss": 0.5}, {"epoch": 2.0, "loss": 0.25}],
        ),
        ("a.tsv", "split\tacc\ntrain\t0.9\n", [{"split": "train", "acc": 0.9}]),
        ("a.csv", "", []),
        ("a.csv", "x,y\n", []),
        ("a.json", '[{"x": 1, "y": "b", "ok": true}]', [{"x": 1.0, "y": "b", "ok": True}]),
        ("a.json", '{"prc": [{"precision": 1, "recall": 0}]}', [{"precision": 1.0, "recall": 0.0}]),
        ("a.json", '{"meta": {"v": 1}, "eval": {"roc": [{"fpr": "0.5"}]}}', [{"fpr": 0.5}]),
        (
            "a.yaml",
            "- {x: 1, y: 2}\n- {x: 2, y: 4}\n",
            [{"x": 1.0, "y": 2.0}, {"x": 2.0, "y": 4.0}],
        ),
        (
            "a.yml",
            "cm:\n  - {actual: cat, predicted: dog}\n",
            [{"actual": "cat", "predicted": "dog"}],
        ),
        ("a.json", "null", []),
    ],
)
def test_parse_plot_file(path: str, text: str, expected: list[dict[str, Any]]) -> None:
    assert parse_plot_file(path, text) == expected


def test_parse_plot_file_without_header_numbers_the_fields() -> None:
    assert parse_plot_file("a.csv", "1,2\n3,4\n", header=False) == [
        {"0": 1.0, "1": 2.0},
        {"0": 3.0, "1": 4.0},
    ]


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("r/a.csv", "x,y\n1,2\n3\n", "r/a.csv: row 3 has 1 fields but the header has 2"),
        ("r/a.json", '{"x": [1, 2', "r/a.json: cannot read plot data"),
        ("r/a.json", "[1, 2]", "r/a.json: plot data must be a list of records"),
        ("r/a.json", '{"x": 1}', "r/a.json: plot data must be a list of records"),
        ("r/a.yaml", "x: [1, {a: }", "r/a.yaml: cannot read plot data"),
        ("r/a.txt", "1 2", "r/a.txt: cannot read plot data from a .txt file"),
        ("r/a.csv", 'x,y\n"1,2\n', "r/a.csv"),
    ],
)
def test_malformed_plot_file_names_the_file(path: str, text: str, message: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_plot_file(path, text)
    assert str(info.value).startswith(message)
