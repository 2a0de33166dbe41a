from __future__ import annotations

import json

import pytest

from ci_ml.config import MetricRule
from ci_ml.report.json_doc import ReportFormatError, report_from_dict, report_to_dict
from ci_ml.report.ledger import Ledger, Minutes
from ci_ml.report.metrics import diff_metrics
from ci_ml.report.render import ParamChange, PlotRef, Report, StageRow

REPORT = Report(
    pipeline="demo",
    base_label="main",
    base_sha="a" * 40,
    head_label="pr",
    head_sha="b" * 40,
    stages=(
        StageRow(
            name="train",
            status="failed",
            why="exit 1",
            duration_s=2.5,
            log_tail=("boom",),
            gpu_stage=True,
            labels=("self-hosted", "gpu"),
        ),
    ),
    metrics=tuple(diff_metrics({"m.json": {"acc": 0.9}}, {"m.json": {"acc": 0.8}}, {})),
    rules={"acc": MetricRule(better="higher", precision=3, max_regression=0.05, relative=True)},
    params=(ParamChange(name="lr", base="0.1", head=None),),
    overrides=("params.yaml:lr=0.2",),
    plots=(PlotRef(title="Loss", url="plots/loss.png", note="base missing"),),
    notes=("a note",),
    ledger=Ledger(
        ran=Minutes(gpu=1.5, cpu=0.25, cost_usd=0.1),
        saved=Minutes(unpriced=True),
        estimate=Minutes(gpu=1.0),
        waiting=("the pull request comes from a fork",),
        how_to_approve="add the label",
    ),
)


def test_round_trip_keeps_everything_but_the_run_link() -> None:
    decoded = report_from_dict(json.loads(json.dumps(report_to_dict(REPORT))))
    assert decoded == REPORT


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"format": 2}, "unknown report format"),
        ({"pipeline": 7}, "pipeline must be a string"),
        (
            {"stages": [{"name": "a", "status": "ran", "duration_s": "1"}]},
            "duration_s must be a number",
        ),
        ({"metrics": "x"}, "metrics must be a list"),
        ({"ledger": {"ran": {"gpu": "lots"}, "saved": {}}}, "expected a number"),
        ({"ledger": {"ran": {}, "saved": {}, "waiting": [1]}}, "waiting reason must be a string"),
        ({"plots": [{"title": "t", "url": "x" * 20_000}]}, "plot url must be a string of at most"),
        ({"rules": {"acc": {"precision": 99}}}, "precision must be 0..12"),
        (
            {"stages": [{"name": "a", "status": "✅ ran [see](https://x)"}]},
            "stage status must be one of",
        ),
        (
            {"metrics": [{"name": "acc", "verdict": "improved 🎉", "has_base": True}]},
            "metric verdict must be one of",
        ),
        ({"stages": [{"name": "a", "status": "ran", "duration_s": float("inf")}]}, "finite"),
        ({"stages": [{"name": "a", "status": "ran", "duration_s": float("nan")}]}, "finite"),
        ({"base_sha": "main; see https://evil"}, "base_sha has characters"),
        ({"rules": {"acc": {"better": "sideways"}}}, "rule better must be one of"),
        (
            {"stages": [{"name": "x" * 600, "status": "ran"}]},
            "stage name must be a string of at most 500",
        ),
    ],
)
def test_hostile_documents_are_refused(patch: dict[str, object], message: str) -> None:
    doc = {**report_to_dict(REPORT), **patch}
    with pytest.raises(ReportFormatError, match=message):
        report_from_dict(doc)


def test_run_url_from_the_document_is_ignored() -> None:
    doc = {**report_to_dict(REPORT), "run_url": "https://evil.example"}
    assert report_from_dict(doc).run_url is None
