from __future__ import annotations

import pytest

from ci_ml.errors import PipelineError
from ci_ml.report.metrics import (
    MetricRule,
    better_direction,
    diff_metrics,
    flatten,
    parse_metrics_text,
)


@pytest.mark.parametrize(
    ("path", "text", "flat"),
    [
        (
            "m.json",
            '{"eval": {"acc": 0.9, "f1": [0.1, 0.2]}}',
            {"eval.acc": 0.9, "eval.f1.0": 0.1, "eval.f1.1": 0.2},
        ),
        ("m.yaml", "acc: 0.5\nname: resnet\n", {"acc": 0.5, "name": "resnet"}),
        ("m.csv", "metric,value\nacc,0.9\nloss,0.1\n", {"acc": 0.9, "loss": 0.1}),
        ("m.csv", "epoch,loss,acc\n1,0.5,0.8\n2,0.3,0.9\n", {"epoch": 2, "loss": 0.3, "acc": 0.9}),
        ("m.tsv", "epoch\tloss\n1\t0.5\n", {"epoch": 1, "loss": 0.5}),
    ],
)
def test_parse_and_flatten(path: str, text: str, flat: dict[str, object]) -> None:
    assert flatten(parse_metrics_text(path, text)) == flat


def test_malformed_metrics_name_the_file() -> None:
    with pytest.raises(PipelineError, match=r"reports/m\.json: cannot read metrics"):
        parse_metrics_text("reports/m.json", "{not json")


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("accuracy", "higher"),
        ("val_loss", "lower"),
        ("eval.rmse", "lower"),
        ("f1", "higher"),
        ("lossless_ratio", "higher"),
    ],
)
def test_direction_is_guessed_from_the_name(name: str, direction: str) -> None:
    assert better_direction(name, None) == direction


@pytest.mark.parametrize(
    ("base", "head", "rule", "verdict", "gate"),
    [
        (0.90, 0.92, None, "improved", ""),
        (0.90, 0.90, None, "unchanged", ""),
        (
            0.90,
            0.885,
            MetricRule(max_regression=0.01),
            "gate failed",
            "acc dropped by 0.015 (allowed: 0.01)",
        ),
        (0.90, 0.895, MetricRule(max_regression=0.01), "regressed", ""),
        (
            0.90,
            0.80,
            MetricRule(max_regression=0.05, relative=True),
            "gate failed",
            "acc dropped by 11.11 % (allowed: 5 %)",
        ),
        (0.90, 0.95, MetricRule(better="lower"), "regressed", ""),
    ],
)
def test_verdicts_and_gates(
    base: float, head: float, rule: MetricRule | None, verdict: str, gate: str
) -> None:
    [delta] = diff_metrics(
        {"m.json": {"acc": base}}, {"m.json": {"acc": head}}, {"acc": rule} if rule else {}
    )
    assert (delta.verdict, delta.gate) == (verdict, gate)


def test_loss_rising_past_a_relative_gate_fails() -> None:
    rules = {"loss": MetricRule(max_regression=0.05, relative=True)}
    [delta] = diff_metrics({"m.json": {"loss": 0.20}}, {"m.json": {"loss": 0.22}}, rules)
    assert delta.verdict == "gate failed"
    assert delta.gate == "loss rose by 10.00 % (allowed: 5 %)"


def test_new_removed_and_non_numeric() -> None:
    deltas = diff_metrics(
        {"m.json": {"old": 1, "name": "a"}}, {"m.json": {"new": 2, "name": "b"}}, {}
    )
    assert [(d.name, d.verdict) for d in deltas] == [
        ("name", "changed"),
        ("new", "new"),
        ("old", "removed"),
    ]


def test_several_files_prefix_the_metric_name() -> None:
    deltas = diff_metrics(
        {"a.json": {"x": 1}, "b.json": {"x": 1}}, {"a.json": {"x": 2}, "b.json": {"x": 1}}, {}
    )
    assert [d.name for d in deltas] == ["a.json:x", "b.json:x"]


GATE = MetricRule(max_regression=0.01)
WARN = MetricRule(max_regression=0.01, on_missing="warn")


@pytest.mark.parametrize(
    ("base", "head", "rules", "expected"),
    [
        # Gated, on base but not on head: the gate fails.
        (
            {"acc": 0.9},
            {},
            {"acc": GATE},
            [("acc", "gate failed", "acc is missing (not in head's metrics) and has a gate; "
              "produce it or set on-missing: warn")],
        ),
        # Gated, in no metrics file at all: the gate fails too.
        (
            {"loss": 0.3},
            {"loss": 0.2},
            {"acc": GATE},
            [
                ("loss", "improved", ""),
                ("acc", "gate failed", "acc is missing (in no metrics file) and has a gate; "
                 "produce it or set on-missing: warn"),
            ],
        ),
        # on-missing: warn keeps it visible without failing.
        ({"acc": 0.9}, {}, {"acc": WARN}, [("acc", "missing", "")]),
        ({}, {}, {"acc": WARN}, [("acc", "missing", "")]),
        # Not gated: a missing metric is only "removed".
        ({"acc": 0.9}, {}, {"acc": MetricRule(better="higher")}, [("acc", "removed", "")]),
    ],
)  # fmt: skip
def test_a_gated_metric_that_is_missing_fails_its_gate(
    base: dict[str, float],
    head: dict[str, float],
    rules: dict[str, MetricRule],
    expected: list[tuple[str, str, str]],
) -> None:
    deltas = diff_metrics({"m.json": base} if base else {}, {"m.json": head} if head else {}, rules)
    assert [(d.name, d.verdict, d.gate) for d in deltas] == expected
