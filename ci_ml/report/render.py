"""The PR comment and job summary: verdict, stages, metric and param diffs, plots. [pure]

Everything that comes from the pull request goes through `ci_ml.report.markdown` before it reaches
the output. The body stays under GitHub's comment limit: past it, the least important parts
are left out first, and the report says what was left out and where to find it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ci_ml.config import MetricRule
from ci_ml.report import markdown as md
from ci_ml.report.ledger import Ledger, render_ledger
from ci_ml.report.metrics import MetricDelta

COMMENT_LIMIT = 65_536  # GitHub refuses longer issue comments (422)
SAFETY_MARGIN = 1_536  # room for the hidden marker and the publishing notes


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRow:
    name: str
    status: str  # ran, restored, current, failed, skipped, unchanged, cached, frozen
    why: str = ""
    duration_s: float | None = None
    runner: str | None = None
    gpu: str | None = None
    log_tail: tuple[str, ...] = ()
    run_url: str | None = None  # the stage's MLflow run page
    gpu_stage: bool = False  # `gpu: true` in ci-ml.yaml
    labels: tuple[str, ...] = ()  # runner labels it ran on (prices the ledger)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamChange:
    name: str
    base: str | None  # None: not on that side
    head: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlotRef:
    title: str
    url: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    pipeline: str
    base_label: str
    base_sha: str | None
    head_label: str
    head_sha: str | None
    stages: tuple[StageRow, ...] = ()
    metrics: tuple[MetricDelta, ...] = ()
    rules: Mapping[str, MetricRule] = field(default_factory=dict)
    params: tuple[ParamChange, ...] = ()
    overrides: tuple[str, ...] = ()
    plots: tuple[PlotRef, ...] = ()
    notes: tuple[str, ...] = ()
    ledger: Ledger | None = None
    run_url: str | None = None
    mlflow_url: str | None = None  # the pipeline's parent run page
    pipeline_dir: str = ""  # the pipeline's directory in the repository; "" at its root
    full_report_hint: str = "the job summary or the `ci-ml-report` artifact"


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str  # passed, failed, no-base
    text: str


def check_name(report: Report) -> str:
    """ "ci-ml" for a repository's one pipeline; "ci-ml: DIR" for each of several (a pipeline
    in a subdirectory), so branch protection can require each by name."""
    return f"ci-ml: {report.pipeline_dir}" if report.pipeline_dir else "ci-ml"


def verdict(report: Report) -> Verdict:
    failed = [d for d in report.metrics if d.verdict == "gate failed"]
    if failed:
        return Verdict("failed", "; ".join(d.gate for d in failed))
    if report.metrics and not any(d.has_base for d in report.metrics):
        return Verdict("no-base", "no base metrics to compare with")
    if not any(rule.max_regression is not None for rule in report.rules.values()):
        # Nothing was checked: not a pass to show as green (metrics-config sets gates).
        return Verdict("passed", NO_GATES)
    return Verdict("passed", "all metric gates passed")


NO_GATES = "no gates configured"


def render_report(report: Report, *, limit: int = COMMENT_LIMIT - SAFETY_MARGIN) -> str:
    """The markdown, shrunk to `limit` characters by dropping the least important parts."""
    omitted: list[str] = []
    for level in range(len(_SHRINK_STEPS) + 1):
        body = _render(report, level, omitted)
        if len(body) <= limit:
            return body
        omitted.append(_SHRINK_STEPS[min(level, len(_SHRINK_STEPS) - 1)])
    return (
        body[: limit - 200]
        + f"\n\n… report cut at {limit} characters; see {report.full_report_hint}.\n"
    )


# What goes first when the body is too long: least important first.
_SHRINK_STEPS = (
    "failed stages' log tails",
    "unchanged stages",
    "unchanged metrics",
    "params past the first 50",
    "stages past the first 50",
    "metrics past the first 100",
    "plots",
)


def _render(report: Report, level: int, omitted: Sequence[str]) -> str:
    parts = [
        f"## ci-ml · {md.text(report.pipeline)}",
        _verdict_line(report),
        _stage_section(report, level),
        render_ledger(report.ledger),
        _metrics_section(report, level),
        _params_section(report, level),
        _plots_section(report, level),
        _logs_section(report, level),
        "\n".join(f"> {md.text(note)}" for note in report.notes),
        _omitted_note(report, omitted),
        _footer(report),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def _verdict_line(report: Report) -> str:
    result = verdict(report)
    icon = {"passed": "✅", "failed": "❌", "no-base": "⚪"}[result.state]
    if result.text == NO_GATES:
        icon = "⚪"
    title = "Metric gate failed" if result.state == "failed" else result.text.capitalize()
    head = f"{icon} **{title}**"
    if result.state == "failed":
        head += f": {md.text(result.text)}"
    ran = [s for s in report.stages if s.status == "ran"]
    restored = [s for s in report.stages if s.status == "restored"]
    failed = [s for s in report.stages if s.status == "failed"]
    missing = [s for s in report.stages if s.status == "not run"]
    counts = (
        f"{len(ran)} stage{'s' if len(ran) != 1 else ''} ran, {len(restored)} restored from cache"
    )
    saved = sum(s.duration_s for s in restored if s.duration_s and math.isfinite(s.duration_s))
    if saved:
        counts += f" (≈ {_duration(saved)} of compute saved)"
    if failed:
        counts += f", **{len(failed)} failed**"
    if missing:
        counts += f", **{len(missing)} not run**"
    return f"{head}  \n{counts}."


def _stage_section(report: Report, level: int) -> str:
    rows = list(report.stages)
    if rows and all(s.status in ("unchanged", "current") and not s.run_url for s in rows):
        return "### Stages\n\nNothing to run: this change affects no stage of the pipeline."
    if level >= 2:
        rows = [s for s in rows if s.status not in ("unchanged", "current", "cached")]
    cut = len(rows) - 50 if level >= 5 and len(rows) > 50 else 0
    rows = rows[:50] if cut else rows
    if not rows:
        return ""
    table = _table(
        ["stage", "status", "why", "duration", "runner"],
        [
            [
                f"[{md.code(s.name)}]({_url(s.run_url)})" if s.run_url else md.code(s.name),
                _status(s.status),
                md.text(s.why) or "-",
                _duration_cell(s),
                md.text(_runner(s)) or "-",
            ]
            for s in rows
        ],
    )
    return "### Stages\n\n" + table + (f"\n\n{cut} more stages not shown." if cut else "")


def _metrics_section(report: Report, level: int) -> str:
    rows = list(report.metrics)
    if not rows:
        return ""
    if level >= 3:
        rows = [d for d in rows if d.verdict not in ("unchanged", "-")]
    rows.sort(key=lambda d: d.verdict != "gate failed")  # gate failures first; stable
    cut = len(rows) - 100 if level >= 6 and len(rows) > 100 else 0
    rows = rows[:100] if cut else rows
    table = _table(
        ["metric", "base", "head", "change", "verdict"],
        [
            [
                md.code(d.name),
                _value(d.base, d.has_base, report.rules.get(d.name)),
                _value(d.head, d.has_head, report.rules.get(d.name)),
                _change(d, report.rules.get(d.name)),
                _metric_verdict(d.verdict),
            ]
            for d in rows
        ],
    )
    return "### Metrics\n\n" + table + (f"\n\n{cut} more metrics not shown." if cut else "")


def _params_section(report: Report, level: int) -> str:
    rows = list(report.params)
    cut = len(rows) - 50 if level >= 4 and len(rows) > 50 else 0
    rows = rows[:50] if cut else rows
    parts = []
    if rows:
        table = _table(
            ["param", "base", "head"],
            [
                [
                    md.code(p.name),
                    md.code(p.base) if p.base is not None else "-",
                    md.code(p.head) if p.head is not None else "-",
                ]
                for p in rows
            ],
        )
        parts.append(
            "### Params\n\n" + table + (f"\n\n{cut} more params not shown." if cut else "")
        )
    if report.overrides:
        listed = ", ".join(md.code(o) for o in report.overrides)
        parts.append(f"Manual overrides (`--set`): {listed}")
    return "\n\n".join(parts)


def _plots_section(report: Report, level: int) -> str:
    if not report.plots or level >= 7:
        return ""
    blocks = []
    for plot in report.plots:
        title = md.text(plot.title, limit=120)
        block = f"**{title}**\n\n![{title}]({_url(plot.url)})"
        if plot.note:
            block += f"\n\n_{md.text(plot.note)}_"
        blocks.append(block)
    return "### Plots\n\n" + "\n\n".join(blocks)


def _logs_section(report: Report, level: int) -> str:
    if level >= 1:
        return ""
    blocks = []
    for stage in report.stages:
        if stage.status == "failed" and stage.log_tail:
            summary = f"Log tail of {md.code(stage.name)}"
            blocks.append(
                f"<details><summary>{summary}</summary>\n\n{md.code_block(list(stage.log_tail))}\n\n</details>"
            )
    return "\n\n".join(blocks)


def _omitted_note(report: Report, omitted: Sequence[str]) -> str:
    if not omitted:
        return ""
    return (
        f"_Shortened to fit a comment: left out {', '.join(omitted)}. "
        f"The full report is in {report.full_report_hint}._"
    )


def _footer(report: Report) -> str:
    base = (report.base_sha or "")[:7] or "none"
    head = (report.head_sha or "")[:7] or "working tree"
    base_label, head_label = md.text(report.base_label), md.text(report.head_label)
    line = f"<sub>base {base_label} `{base}` → head {head_label} `{head}`"
    if report.run_url:
        line += f" · [workflow run]({_url(report.run_url)})"
    if report.mlflow_url:
        line += f" · [MLflow run]({_url(report.mlflow_url)})"
    return line + " · ci-ml</sub>"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    from tabulate import tabulate  # lazy: `ci-ml plan` never needs it

    return str(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))


def _url(url: str) -> str:
    # Our own URLs (plot links, the run link), but keep them from closing the link syntax.
    return (
        url.replace(" ", "%20")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace("<", "%3C")
        .replace(">", "%3E")
    )


def _status(status: str) -> str:
    icons = {
        "ran": "▶️ ran",
        "restored": "♻️ restored",
        "failed": "❌ failed",
        "not run": "⚠️ not run",
        "skipped": "⏭️ skipped",
    }
    return icons.get(status, status)


def _duration_cell(stage: StageRow) -> str:
    if not stage.duration_s:
        return "-"
    if stage.status == "restored" and _duration(stage.duration_s) != "-":
        # Computed earlier, elsewhere: that time was saved, not spent in this run.
        return f"{_duration(stage.duration_s)} saved"
    return _duration(stage.duration_s)


def _metric_verdict(verdict_text: str) -> str:
    icons = {
        "improved": "🟢 improved",
        "regressed": "🟠 regressed",
        "gate failed": "❌ gate failed",
        "missing": "⚠️ missing",
    }
    return icons.get(verdict_text, verdict_text)


def _value(value: object, present: bool, rule: MetricRule | None) -> str:
    if not present:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return md.code(value)
    return _number(float(value), rule)


def _number(value: float, rule: MetricRule | None, *, sign: bool = False) -> str:
    spec = f"+.{rule.precision}f" if rule and rule.precision is not None else "+.4g"
    text = format(value, spec)
    return text if sign else text.lstrip("+")


def _change(delta: MetricDelta, rule: MetricRule | None) -> str:
    if delta.change is None:
        return "-"
    text = _number(delta.change, rule, sign=True)
    if delta.relative is not None:
        text += f" ({delta.relative * 100:+.1f} %)"
    return text


def _runner(row: StageRow) -> str:
    """The GPU model for a stage that had one; a GPU stage that ran on a CPU says so (a
    hostname would hide it); other stages show their runner's name."""
    if row.gpu:
        return row.gpu
    if row.gpu_stage and row.status in ("ran", "restored", "failed") and row.duration_s:
        return "CPU (no GPU)"
    return row.runner or ""


def _duration(seconds: float | None) -> str:
    # NaN or infinity can arrive through run records that stage code could touch.
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
