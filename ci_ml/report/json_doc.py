"""report.json: the report as data, so a trusted workflow can render it again. [pure]

A fork's PR runs its own code in the workflow that builds the report, so whatever it uploads
is untrusted. The commenting workflow therefore never posts that markdown: it decodes this
JSON (types and sizes checked) and renders it again, with `ci_ml.report.render`'s escaping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ci_ml.config import MetricRule
from ci_ml.report.metrics import MetricDelta
from ci_ml.report.render import ParamChange, PlotRef, Report, StageRow

REPORT_FORMAT = 1
_MAX_ROWS = 5_000


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
        pipeline=_str(d.get("pipeline"), "pipeline"),
        pipeline_dir=_str(d.get("pipeline_dir", ""), "pipeline_dir"),
        base_label=_str(d.get("base_label"), "base_label"),
        base_sha=_opt_str(d.get("base_sha"), "base_sha"),
        head_label=_str(d.get("head_label"), "head_label"),
        head_sha=_opt_str(d.get("head_sha"), "head_sha"),
        stages=tuple(_stage_row(x) for x in _list(d.get("stages"), "stages")),
        metrics=tuple(_metric_delta(x) for x in _list(d.get("metrics"), "metrics")),
        rules={
            _str(k, "rule name"): _rule(v) for k, v in _mapping(d.get("rules", {}), "rules").items()
        },
        params=tuple(
            ParamChange(
                name=_str(p.get("name"), "param"),
                base=_opt_str(p.get("base"), "param base"),
                head=_opt_str(p.get("head"), "param head"),
            )
            for p in (_mapping(x, "param") for x in _list(d.get("params"), "params"))
        ),
        overrides=tuple(_str(x, "override") for x in _list(d.get("overrides", []), "overrides")),
        plots=tuple(
            PlotRef(
                title=_str(p.get("title"), "plot title"),
                url=_str(p.get("url"), "plot url"),
                note=_opt_str(p.get("note"), "plot note"),
            )
            for p in (_mapping(x, "plot") for x in _list(d.get("plots"), "plots"))
        ),
        notes=tuple(_str(x, "note") for x in _list(d.get("notes", []), "notes")),
        run_url=None,  # the commenting workflow links its own run, never one the PR names
    )


def _stage_row(doc: object) -> StageRow:
    d = _mapping(doc, "stage")
    duration = d.get("duration_s")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float)
    ):
        raise ReportFormatError("stage duration_s must be a number")
    return StageRow(
        name=_str(d.get("name"), "stage name"),
        status=_str(d.get("status"), "stage status"),
        why=_str(d.get("why", ""), "stage why"),
        duration_s=float(duration) if duration is not None else None,
        runner=_opt_str(d.get("runner"), "runner"),
        gpu=_opt_str(d.get("gpu"), "gpu"),
        log_tail=tuple(_str(x, "log line") for x in _list(d.get("log_tail", []), "log_tail")),
    )


def _metric_delta(doc: object) -> MetricDelta:
    d = _mapping(doc, "metric")
    return MetricDelta(
        name=_str(d.get("name"), "metric name"),
        base=_scalar(d.get("base")),
        head=_scalar(d.get("head")),
        has_base=bool(d.get("has_base")),
        has_head=bool(d.get("has_head")),
        change=_opt_float(d.get("change")),
        relative=_opt_float(d.get("relative")),
        verdict=_str(d.get("verdict"), "metric verdict"),
        gate=_str(d.get("gate", ""), "metric gate"),
    )


def _rule(doc: object) -> MetricRule:
    d = _mapping(doc, "rule")
    precision = d.get("precision")
    if precision is not None and (not isinstance(precision, int) or not 0 <= precision <= 12):
        raise ReportFormatError("rule precision must be 0..12")
    return MetricRule(
        better=_opt_str(d.get("better"), "rule better"),
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


def _str(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > 10_000:
        raise ReportFormatError(f"{what} must be a string of at most 10,000 characters")
    return value


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportFormatError("expected a number")
    return float(value)


def _scalar(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int | float):
        return value
    return _str(value, "metric value")
