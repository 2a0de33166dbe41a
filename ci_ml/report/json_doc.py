"""report.json: the report as data, so a trusted workflow can render it again. [pure]

A fork's PR runs its own code in the workflow that builds the report, so whatever it uploads
is untrusted. The commenting workflow therefore never posts that markdown: it decodes this
JSON (types and sizes checked) and renders it again, with `ci_ml.report.render`'s escaping.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

from ci_ml.config import MetricRule
from ci_ml.report.ledger import Ledger, Minutes
from ci_ml.report.metrics import MetricDelta
from ci_ml.report.render import ParamChange, PlotRef, Report, StageRow

REPORT_FORMAT = 1
_MAX_ROWS = 5_000
# What ci-ml itself writes; anything else in an artifact was made up by the PR's code.
STAGE_STATUSES = (
    *("ran", "restored", "failed", "skipped", "will run", "unchanged"),
    *("would run", "would restore", "frozen", "cached", "not run"),
)
METRIC_VERDICTS = (
    *("improved", "regressed", "unchanged", "gate failed", "new", "removed", "changed", "-"),
    "missing",
)
_SHA = re.compile(r"[0-9a-f]{7,64}")


def report_to_dict(report: Report) -> dict[str, object]:
    return {
        "format": REPORT_FORMAT,
        "pipeline": report.pipeline,
        "pipeline_dir": report.pipeline_dir,
        "base_label": report.base_label,
        "base_sha": report.base_sha,
        "head_label": report.head_label,
        "head_sha": report.head_sha,
        "stages": [dataclasses.asdict(s) for s in report.stages],
        "metrics": [dataclasses.asdict(d) for d in report.metrics],
        "rules": {name: dataclasses.asdict(rule) for name, rule in report.rules.items()},
        "params": [dataclasses.asdict(p) for p in report.params],
        "overrides": list(report.overrides),
        "plots": [dataclasses.asdict(p) for p in report.plots],
        "notes": list(report.notes),
        "ledger": dataclasses.asdict(report.ledger) if report.ledger else None,
        "run_url": report.run_url,
    }


class ReportFormatError(ValueError):
    """report.json is not what ci-ml writes."""


def report_from_dict(doc: object) -> Report:
    """Decode report.json, checking every type; raises ReportFormatError."""
    d = _mapping(doc, "report")
    if d.get("format") != REPORT_FORMAT:
        raise ReportFormatError(f"unknown report format {d.get('format')!r}")
    return Report(
        pipeline=_str(d.get("pipeline"), "pipeline", limit=200),
        pipeline_dir=_str(d.get("pipeline_dir", ""), "pipeline_dir", limit=500),
        base_label=_str(d.get("base_label"), "base_label", limit=200),
        base_sha=_opt_sha(d.get("base_sha"), "base_sha"),
        head_label=_str(d.get("head_label"), "head_label", limit=200),
        head_sha=_opt_sha(d.get("head_sha"), "head_sha"),
        stages=tuple(_stage_row(x) for x in _list(d.get("stages"), "stages")),
        metrics=tuple(_metric_delta(x) for x in _list(d.get("metrics"), "metrics")),
        rules={
            _str(k, "rule name"): _rule(v) for k, v in _mapping(d.get("rules", {}), "rules").items()
        },
        params=tuple(
            ParamChange(
                name=_str(p.get("name"), "param", limit=500),
                base=_opt_str(p.get("base"), "param base"),
                head=_opt_str(p.get("head"), "param head"),
            )
            for p in (_mapping(x, "param") for x in _list(d.get("params"), "params"))
        ),
        overrides=tuple(_str(x, "override") for x in _list(d.get("overrides", []), "overrides")),
        plots=tuple(
            PlotRef(
                title=_str(p.get("title"), "plot title", limit=500),
                url=_str(p.get("url"), "plot url", limit=500),
                note=_opt_str(p.get("note"), "plot note"),
            )
            for p in (_mapping(x, "plot") for x in _list(d.get("plots"), "plots"))
        ),
        notes=tuple(_str(x, "note") for x in _list(d.get("notes", []), "notes")),
        ledger=_ledger(d.get("ledger")),
        run_url=None,  # the commenting workflow links its own run, never one the PR names
    )


def _stage_row(doc: object) -> StageRow:
    d = _mapping(doc, "stage")
    duration = d.get("duration_s")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not math.isfinite(duration)
        or duration < 0
    ):
        raise ReportFormatError("stage duration_s must be a number of seconds (finite, >= 0)")
    return StageRow(
        name=_str(d.get("name"), "stage name", limit=500),
        status=_one_of(d.get("status"), STAGE_STATUSES, "stage status"),
        why=_str(d.get("why", ""), "stage why"),
        duration_s=float(duration) if duration is not None else None,
        runner=_opt_str(d.get("runner"), "runner"),
        gpu=_opt_str(d.get("gpu"), "gpu"),
        log_tail=tuple(_str(x, "log line") for x in _list(d.get("log_tail", []), "log_tail")),
        gpu_stage=d.get("gpu_stage") is True,
        labels=tuple(_str(x, "runner label") for x in _list(d.get("labels", []), "labels")),
    )


def _ledger(doc: object) -> Ledger | None:
    if doc is None:
        return None
    d = _mapping(doc, "ledger")
    estimate = d.get("estimate")
    return Ledger(
        ran=_minutes(d.get("ran")),
        saved=_minutes(d.get("saved")),
        estimate=None if estimate is None else _minutes(estimate),
        waiting=tuple(_str(x, "waiting reason") for x in _list(d.get("waiting", []), "waiting")),
        how_to_approve=_opt_str(d.get("how_to_approve"), "how_to_approve"),
    )


def _minutes(doc: object) -> Minutes:
    d = _mapping(doc, "ledger minutes")
    return Minutes(
        gpu=_opt_float(d.get("gpu")) or 0.0,
        cpu=_opt_float(d.get("cpu")) or 0.0,
        cost_usd=_opt_float(d.get("cost_usd")) or 0.0,
        unpriced=d.get("unpriced") is True,
    )


def _metric_delta(doc: object) -> MetricDelta:
    d = _mapping(doc, "metric")
    return MetricDelta(
        name=_str(d.get("name"), "metric name", limit=500),
        base=_scalar(d.get("base")),
        head=_scalar(d.get("head")),
        has_base=bool(d.get("has_base")),
        has_head=bool(d.get("has_head")),
        change=_opt_float(d.get("change")),
        relative=_opt_float(d.get("relative")),
        verdict=_one_of(d.get("verdict"), METRIC_VERDICTS, "metric verdict"),
        gate=_str(d.get("gate", ""), "metric gate"),
    )


def _rule(doc: object) -> MetricRule:
    d = _mapping(doc, "rule")
    precision = d.get("precision")
    if precision is not None and (not isinstance(precision, int) or not 0 <= precision <= 12):
        raise ReportFormatError("rule precision must be 0..12")
    return MetricRule(
        better=None
        if d.get("better") is None
        else _one_of(d.get("better"), ("higher", "lower"), "rule better"),
        precision=precision,
        max_regression=_opt_float(d.get("max_regression")),
        relative=bool(d.get("relative")),
    )


def _mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ReportFormatError(f"{what} must be an object")
    return value


def _list(value: object, what: str) -> list[object]:
    if not isinstance(value, list | tuple) or len(value) > _MAX_ROWS:
        raise ReportFormatError(f"{what} must be a list of at most {_MAX_ROWS} items")
    return list(value)


def _str(value: object, what: str, *, limit: int = 10_000) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ReportFormatError(f"{what} must be a string of at most {limit:,} characters")
    return value


def _one_of(value: object, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ReportFormatError(f"{what} must be one of {', '.join(allowed)}")
    return str(value)


def _opt_one_of(value: object, allowed: tuple[str, ...], what: str) -> str | None:
    return None if value is None else _one_of(value, allowed, what)


def _matching(value: object, pattern: re.Pattern[str], what: str) -> str:
    text = _str(value, what, limit=200)
    if not pattern.fullmatch(text):
        raise ReportFormatError(f"{what} has characters ci-ml never writes there")
    return text


def _opt_sha(value: object, what: str) -> str | None:
    return None if value is None else _matching(value, _SHA, what)


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportFormatError("expected a number (finite)")
    return float(value)


def _scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # shown as text: `nan`, `inf`
    if value is None or isinstance(value, bool | int | float):
        return value
    return _str(value, "metric value", limit=500)
