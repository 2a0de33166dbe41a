from __future__ import annotations

import dataclasses
import re

from ci_ml.config import MetricRule
from ci_ml.report import markdown as md
from ci_ml.report.ledger import Ledger, Minutes
from ci_ml.report.metrics import diff_metrics
from ci_ml.report.render import (
    COMMENT_LIMIT,
    ParamChange,
    PlotRef,
    Report,
    StageRow,
    render_report,
    verdict,
)

HOSTILE = "@octocat <img src=x onerror=alert(1)> | #1 [x](https://evil)\nnext"


def report(**changes: object) -> Report:
    base = Report(
        pipeline="demo",
        base_label="main",
        base_sha="a" * 40,
        head_label="feature",
        head_sha="b" * 40,
        stages=(
            StageRow(
                name="train", status="ran", why="param lr changed: 0.1 -> 0.2", duration_s=12.5
            ),
            StageRow(name="prepare", status="restored", why="restored from cache", duration_s=90.0),
        ),
        metrics=tuple(diff_metrics({"m.json": {"acc": 0.9}}, {"m.json": {"acc": 0.95}}, {})),
        params=(ParamChange(name="lr", base="0.1", head="0.2"),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_verdict_line_counts_stages_and_saved_time() -> None:
    body = render_report(report(rules={"acc": MetricRule(max_regression=0.1)}))
    assert (
        "✅ **All metric gates passed**  \n1 stage ran, 1 restored from cache (≈ 1 min 30 s of compute saved)."
        in body
    )


def test_gate_failure_is_the_verdict() -> None:
    deltas = diff_metrics(
        {"m.json": {"acc": 0.9}}, {"m.json": {"acc": 0.8}}, {"acc": MetricRule(max_regression=0.01)}
    )
    r = report(metrics=tuple(deltas))
    assert verdict(r).state == "failed"
    assert "❌ **Metric gate failed**: acc dropped by 0\\.1" not in render_report(r)
    assert "❌ **Metric gate failed**: acc dropped by 0.1 (allowed: 0.01)" in render_report(r)


def test_no_base_is_neutral() -> None:
    deltas = diff_metrics({}, {"m.json": {"acc": 0.8}}, {})
    assert verdict(report(metrics=tuple(deltas))).state == "no-base"


def test_hostile_names_stay_inert() -> None:
    deltas = diff_metrics({"m.json": {HOSTILE: 1}}, {"m.json": {HOSTILE: "<b>2</b>"}}, {})
    r = report(
        pipeline=HOSTILE,
        stages=(
            StageRow(
                name=HOSTILE, status="failed", why=HOSTILE, log_tail=(HOSTILE, "```", "@here")
            ),
        ),
        metrics=tuple(deltas),
        params=(ParamChange(name=HOSTILE, base=HOSTILE, head=None),),
        plots=(PlotRef(title=HOSTILE, url="plots/a.png"),),
        notes=(HOSTILE,),
    )
    body = render_report(r)
    prose = _outside_code(body)
    assert "<img" not in prose
    assert "<b>" not in prose
    assert "@octocat" not in prose
    assert "@here" not in prose
    assert "](https://evil" not in prose
    for line in body.splitlines():
        if line.startswith("|"):
            # every row has as many unescaped pipes as its table's header
            assert line.replace("\\|", "").count("|") in (4, 6)


def _outside_code(body: str) -> str:
    """The text a reader's browser would interpret: code spans and blocks removed."""
    import re

    kept, fence = [], ""
    for line in body.splitlines():
        run = re.match(r"`{3,}", line)
        if run and not fence:
            fence = run.group(0)
            continue
        if fence:
            if line.strip() == "`" * len(line.strip()) and len(line.strip()) >= len(fence):
                fence = ""
            continue
        kept.append(re.sub(r"(`+)(?:(?!\1).)*?\1", "", line))
    return "\n".join(kept)


def test_long_report_is_shrunk_least_important_first() -> None:
    stages = tuple(
        StageRow(
            name=f"s{i}",
            status="unchanged" if i % 2 else "failed",
            why="x" * 200,
            log_tail=("y" * 300,) * 50,
        )
        for i in range(400)
    )
    r = report(stages=stages)
    body = render_report(r)
    assert len(body) <= COMMENT_LIMIT
    assert "Shortened to fit a comment: left out failed stages' log tails" in body
    assert "the job summary or the `ci-ml-report` artifact" in body
    assert "### Metrics" in body  # the metrics survive


def test_plots_are_embedded_with_titles() -> None:
    body = render_report(
        report(plots=(PlotRef(title="Loss", url="plots/loss.png", note="base missing"),))
    )
    assert "![Loss](plots/loss.png)" in body
    assert "_base missing_" in body


def test_precision_from_rules() -> None:
    r = report(rules={"acc": MetricRule(precision=2)})
    assert "| `acc`    | 0.90   | 0.95   | +0.05 (+5.6 %)" in render_report(r)


def test_mlflow_links_on_stages_and_footer_are_escaped() -> None:
    stages = (
        StageRow(
            name=HOSTILE, status="ran", run_url="http://mlflow:5000/#/experiments/1/runs/r (x)"
        ),
    )
    body = render_report(
        report(stages=stages, mlflow_url="http://mlflow:5000/#/experiments/1/runs/p)")
    )
    # The name stays one code span (inert) inside the link text.
    name = md.code(HOSTILE)
    assert f"[{name}](http://mlflow:5000/#/experiments/1/runs/r%20%28x%29)" in body
    assert "· [MLflow run](http://mlflow:5000/#/experiments/1/runs/p%29)" in body


def test_non_finite_durations_render_as_a_dash() -> None:
    stages = (
        StageRow(name="train", status="ran", why="", duration_s=float("inf")),
        StageRow(name="prepare", status="restored", why="", duration_s=float("nan")),
    )
    body = render_report(report(stages=stages))
    assert "`train`" in body
    assert "inf" not in body
    assert "nan" not in body.lower().replace("nanoseconds", "")


def _runner_cell(body: str, stage: str) -> str:
    line = next(line for line in body.splitlines() if line.startswith(f"| `{stage}`"))
    return line.rstrip(" |").rsplit("|", 1)[1].strip()


def test_runner_column_shows_the_gpu_model_or_says_cpu() -> None:
    stages = (
        StageRow(name="a", status="ran", duration_s=3.0, runner="host-1", gpu="NVIDIA H100"),
        StageRow(name="b", status="ran", duration_s=3.0, runner="host-2", gpu_stage=True),
        StageRow(name="c", status="restored", duration_s=3.0, runner="host-3", gpu_stage=True),
        StageRow(name="d", status="ran", duration_s=3.0, runner="host-4"),
    )
    body = render_report(report(stages=stages))
    assert re.search(r"^\| stage +\| status +\| why +\| duration +\| runner +\|$", body, re.M)
    cells = {name: _runner_cell(body, name) for name in "abcd"}
    assert cells == {"a": "NVIDIA H100", "b": "CPU (no GPU)", "c": "CPU (no GPU)", "d": "host-4"}


def test_ledger_splits_gpu_minutes_and_sets_the_estimate_beside_them() -> None:
    ledger = Ledger(
        ran=Minutes(gpu=12.0, cpu=3.0, cost_usd=0.864),
        saved=Minutes(gpu=30.0, cpu=0.5, cost_usd=2.1, unpriced=True),
        estimate=Minutes(gpu=10.0, cpu=2.5, cost_usd=0.72),
    )
    body = render_report(report(ledger=ledger))
    assert (
        "### Compute\n\n"
        "| | GPU min | CPU min | cost |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| ran | 12.0 | 3.0 | $0.86 |\n"
        "| restored (saved) | 30.0 | 0.5 | $2.10\\* |\n"
        "| estimate for what ran | 10.0 | 2.5 | $0.72 |"
    ) in body
    assert "no price in `runner-cost`" in body


def test_waiting_gpu_jobs_say_why_and_how_to_approve_escaped() -> None:
    ledger = Ledger(
        waiting=(f"no trusted run of {HOSTILE} to estimate from",),
        how_to_approve="a maintainer adds the label `ci-ml:run-gpu` to the pull request",
    )
    body = render_report(report(ledger=ledger))
    assert "⏸️ **GPU jobs wait for approval**: no trusted run of " in body
    assert "<img" not in body
    assert "@octocat" not in body
    assert "To run them, a maintainer adds the label \\`ci-ml:run-gpu\\`" in body


def test_restored_stage_shows_its_compute_time_as_saved() -> None:
    body = render_report(report())
    assert "| `train`   | ▶️ ran      | param lr changed: 0.1 -&gt; 0.2 | 12.5 s   " in body
    assert "| `prepare` | ♻️ restored | restored from cache             | 1 min 30 s saved |" in body


def test_no_gates_configured_is_not_a_green_pass() -> None:
    body = render_report(report())
    assert verdict(report()).text == "no gates configured"
    assert "⚪ **No gates configured**  \n" in body
    assert "✅" not in body


def test_a_gated_metric_missing_on_head_fails_the_verdict() -> None:
    rules = {"acc": MetricRule(max_regression=0.01)}
    deltas = diff_metrics({"m.json": {"acc": 0.9}}, {"m.json": {"loss": 0.1}}, rules)
    r = report(metrics=tuple(deltas), rules=rules)
    assert verdict(r).state == "failed"
    assert "❌ **Metric gate failed**: acc is missing (not in head's metrics)" in render_report(r)


def test_a_change_that_affects_no_stage_says_nothing_ran() -> None:
    stages = (
        StageRow(name="train", status="unchanged"),
        StageRow(name="prepare", status="current"),
    )
    body = render_report(report(stages=stages))
    assert "### Stages\n\nNothing to run: this change affects no stage of the pipeline.\n" in body
    assert "| `train`" not in body
