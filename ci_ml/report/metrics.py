"""Metrics files: parse, flatten to dotted keys. [pure]

JSON and YAML documents are flattened (`{"eval": {"acc": 1}}` -> `eval.acc`); a CSV/TSV file
is either a two-column key/value table or a table whose last row holds the final values.
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from ci_ml.config import MetricRule
from ci_ml.errors import PipelineError
from ci_ml.yaml_guard import safe_load

Scalar = str | int | float | bool | None


def parse_metrics_text(path: str, text: str) -> Any:
    """The document in a metrics file, as JSON-compatible data."""
    ext = posixpath.splitext(path)[1].lower()
    try:
        if ext in (".csv", ".tsv"):
            return _parse_table(text, "\t" if ext == ".tsv" else ",")
        if ext == ".json":
            return json.loads(text)
        return safe_load(text, path)
    except (ValueError, yaml.YAMLError, csv.Error) as e:
        raise PipelineError(
            f"{path}: cannot read metrics ({e}). Metrics files are JSON, YAML, CSV or TSV."
        ) from e


def _parse_table(text: str, delimiter: str) -> dict[str, Any]:
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    if not rows:
        return {}
    header = rows[0]
    if len(header) == 2 and len(rows) > 1 and not _is_number(rows[1][0]) and _is_number(rows[1][1]):
        # A key/value table: `metric,value` then one metric per row.
        return {row[0]: _number(row[1]) for row in rows[1:] if len(row) == 2}
    last = rows[-1] if len(rows) > 1 else []
    return {name: _number(value) for name, value in zip(header, last, strict=False)}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str) -> Scalar:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def flatten(document: Any, prefix: str = "") -> dict[str, Scalar]:
    """Nested mappings become dotted keys; lists are indexed (`loss.0`); scalars stay."""
    if isinstance(document, Mapping):
        out: dict[str, Scalar] = {}
        for key, value in document.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(document, list):
        out = {}
        for index, value in enumerate(document):
            out.update(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    if isinstance(document, str | int | float | bool) or document is None:
        return {prefix or "value": document}
    return {prefix or "value": str(document)}


# Without a `better:` setting, a metric whose name says it measures a cost is better lower;
# every other metric is better higher. `metrics-config` in ci-ml.yaml overrides the guess.
_LOWER_IS_BETTER = re.compile(
    r"(^|[._\-/])(loss|error|err|mae|mse|rmse|mape|wer|cer|perplexity|ppl|latency|duration|time)"
    r"($|[._\-/])",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDelta:
    name: str  # the metric's dotted key, prefixed with its file when there are several
    base: Scalar
    head: Scalar
    has_base: bool
    has_head: bool
    change: float | None
    relative: float | None
    verdict: str  # improved, regressed, unchanged, gate failed, new, removed, changed, -
    gate: str = ""  # the failed gate, said plainly


def better_direction(name: str, rule: MetricRule | None) -> str:
    if rule is not None and rule.better:
        return rule.better
    return "lower" if _LOWER_IS_BETTER.search(name) else "higher"


def diff_metrics(
    base: Mapping[str, Mapping[str, Scalar]],
    head: Mapping[str, Mapping[str, Scalar]],
    rules: Mapping[str, MetricRule],
) -> list[MetricDelta]:
    """Compare flattened metrics per file. `base`/`head` map a metrics file to its values."""
    files = sorted(set(base) | set(head))
    deltas = []
    matched: set[str] = set()
    for file in files:
        before, after = base.get(file, {}), head.get(file, {})
        for key in sorted(set(before) | set(after)):
            name = key if len(files) == 1 else f"{file}:{key}"
            matched.update(n for n in (name, key, f"{file}:{key}") if n in rules)
            rule = rules.get(name) or rules.get(key) or rules.get(f"{file}:{key}")
            deltas.append(_delta(name, before, after, key, rule))
    # A gate on a metric that no metrics file has, on either side, guards nothing: say so.
    for name in sorted(rules.keys() - matched):
        rule = rules[name]
        if rule.max_regression is not None:
            absent = MetricDelta(
                name=name,
                base=None,
                head=None,
                has_base=False,
                has_head=False,
                change=None,
                relative=None,
                verdict="-",
            )
            deltas.append(_missing(absent, rule, "in no metrics file"))
    return deltas


def _missing(delta: MetricDelta, rule: MetricRule, where: str) -> MetricDelta:
    """A gated metric that head lacks: its gate fails, unless `on-missing: warn`."""
    text = f"{delta.name} is missing ({where}) and has a gate"
    if rule.on_missing == "warn":
        return replace(delta, verdict="missing", gate="")
    return replace(delta, verdict="gate failed", gate=f"{text}; produce it or set on-missing: warn")


def _delta(
    name: str,
    before: Mapping[str, Scalar],
    after: Mapping[str, Scalar],
    key: str,
    rule: MetricRule | None,
) -> MetricDelta:
    old, new = before.get(key), after.get(key)
    delta = MetricDelta(
        name=name,
        base=old,
        head=new,
        has_base=key in before,
        has_head=key in after,
        change=None,
        relative=None,
        verdict="-",
    )
    if not delta.has_base:
        return replace(delta, verdict="new")
    if not delta.has_head:
        if rule is not None and rule.max_regression is not None:
            return _missing(delta, rule, "not in head's metrics")
        return replace(delta, verdict="removed")
    if not (isinstance(old, int | float) and isinstance(new, int | float)):
        return replace(delta, verdict="unchanged" if old == new else "changed")
    if not (_is_numeric(old) and _is_numeric(new)):
        return replace(delta, verdict="unchanged" if old == new else "changed")
    change = float(new) - float(old)
    relative = change / abs(float(old)) if old else None
    verdict, gate = _judge(name, change, relative, rule)
    return replace(delta, change=change, relative=relative, verdict=verdict, gate=gate)


def _judge(
    name: str, change: float, relative: float | None, rule: MetricRule | None
) -> tuple[str, str]:
    if change == 0:
        return "unchanged", ""
    direction = better_direction(name, rule)
    worse = change < 0 if direction == "higher" else change > 0
    if not worse:
        return "improved", ""
    if rule is None or rule.max_regression is None:
        return "regressed", ""
    if rule.relative:
        amount = abs(relative) if relative is not None else float("inf")
        limit_text = f"{rule.max_regression * 100:g} %"
        amount_text = f"{amount * 100:.2f} %"
    else:
        amount, limit_text, amount_text = (
            abs(change),
            f"{rule.max_regression:g}",
            f"{abs(change):g}",
        )
    if amount > rule.max_regression:
        verb = "dropped" if direction == "higher" else "rose"
        return "gate failed", f"{name} {verb} by {amount_text} (allowed: {limit_text})"
    return "regressed", ""


def _is_numeric(value: Scalar) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
