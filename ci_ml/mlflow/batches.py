"""What one pipeline run logs to MLflow, as plain data: runs, names, batches. [pure]

MLflow 3 rejects a metric or param name outside letters, digits and `_ - . space : /`, and
one bad name fails its whole log-batch request. Such names are mapped here to valid ones
(`recall@5` -> `recall_5`), injectively, and each run keeps the mapping in its
`ci_ml.renamed` tag (JSON, mapped name -> original) so it can be reversed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# The limits of POST runs/log-batch and of the tracking store (mlflow/utils/validation.py).
MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000  # metrics + params + tags in one request
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
RENAMED_TAG = "ci_ml.renamed"
STEP_COLUMNS = ("step", "epoch")

_INVALID = re.compile(r"[^A-Za-z0-9_\-. :/]")


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    step: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class Entry:
    """A param or a tag."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Batch:
    """One runs/log-batch request's worth."""

    metrics: tuple[Metric, ...] = ()
    params: tuple[Entry, ...] = ()
    tags: tuple[Entry, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """One MLflow run to create: the pipeline's parent run or one stage's child run."""

    stage: str | None  # None: the parent run
    run_name: str
    tags: tuple[Entry, ...] = ()
    params: tuple[Entry, ...] = ()
    metrics: tuple[Metric, ...] = ()
    artifacts: tuple[str, ...] = ()  # workspace paths, uploaded under the same path
    start_ms: int = 0
    end_ms: int = 0
    status: str = "FINISHED"  # or FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class StageResult:
    """What a stage's child run is built from, read from the workspace by the caller."""

    name: str
    key: str
    status: str  # the executor's outcome: ran, restored, current, cached, failed, ...
    duration_s: float
    params: Mapping[str, str]  # dotted label -> value text
    metrics: Mapping[str, object]  # metric name (as `ci-ml diff` shows it) -> value
    series: Mapping[str, Sequence[tuple[int, float]]]  # name -> (step, value) pairs
    artifacts: tuple[str, ...]  # small outputs: metrics and plots files
    large_outputs: tuple[str, ...]  # linked by cache key, never copied


def is_valid_name(name: str) -> bool:
    """MLflow's rule for metric and param names: the characters, and a path that normalises
    to itself (no `a//b`, `./a`, `../a` or leading `/`)."""
    if not name or len(name) > MAX_KEY or _INVALID.search(name):
        return False
    parts = name.split("/")
    return not (any(p in ("", ".", "..") for p in parts) or name.startswith(".."))


def _clean(name: str) -> str:
    text = _INVALID.sub("_", name)
    text = "/".join("_" if p in ("", ".", "..") else p for p in text.split("/"))
    text = "_" + text if text.startswith("..") else text
    if len(text) > MAX_KEY:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        text = f"{text[: MAX_KEY - 9]}_{digest}"
    return text


def map_names(names: Iterable[str]) -> dict[str, str]:
    """Original -> valid name, for every name; valid names map to themselves and no two
    names map to the same one (a clash gets `_2`, `_3`, ...)."""
    ordered = sorted(set(names))
    result = {n: n for n in ordered if is_valid_name(n)}
    used = set(result)
    for name in ordered:
        if name in result:
            continue
        base = _clean(name)
        candidate, n = base, 1
        while candidate in used:
            n += 1
            suffix = f"_{n}"
            candidate = base[: MAX_KEY - len(suffix)] + suffix
        result[name] = candidate
        used.add(candidate)
    return result


def renamed_tags(mapping: Mapping[str, str]) -> tuple[Entry, ...]:
    """`ci_ml.renamed` = {"mapped": "original"} for the names that changed; split over
    `ci_ml.renamed.2`, ... when one tag value would pass MLflow's limit."""
    changed = sorted((new, old) for old, new in mapping.items() if new != old)
    tags: list[Entry] = []
    piece: dict[str, str] = {}
    for new, old in changed:
        trial = json.dumps({**piece, new: old}, sort_keys=True)
        if piece and len(trial) > MAX_TAG_VALUE:
            tags.append(Entry(_renamed_key(len(tags)), json.dumps(piece, sort_keys=True)))
            piece = {}
        piece[new] = old
    if piece:
        tags.append(Entry(_renamed_key(len(tags)), json.dumps(piece, sort_keys=True)))
    return tuple(tags)


def _renamed_key(index: int) -> str:
    return RENAMED_TAG if index == 0 else f"{RENAMED_TAG}.{index + 1}"


def chunk(metrics: Sequence[Metric], params: Sequence[Entry], tags: Sequence[Entry]) -> list[Batch]:
    """Split into log-batch requests within the API's limits, in order."""
    batches = []
    m, p, t = 0, 0, 0
    while m < len(metrics) or p < len(params) or t < len(tags):
        ps = tuple(params[p : p + MAX_PARAMS])
        ts = tuple(tags[t : t + MAX_TAGS])
        room = min(MAX_METRICS, MAX_ENTITIES - len(ps) - len(ts))
        ms = tuple(metrics[m : m + room])
        batches.append(Batch(ms, ps, ts))
        m, p, t = m + len(ms), p + len(ps), t + len(ts)
    return batches


def stage_spec(result: StageResult, *, commit: str, cache_url: str, end_ms: int) -> RunSpec:
    """The child run of one stage: tags, params, metrics and series, with names mapped."""
    names = map_names([*result.params, *result.metrics, *result.series])
    params = tuple(
        Entry(names[k], _truncate(v, MAX_PARAM_VALUE)) for k, v in sorted(result.params.items())
    )
    metrics = [
        Metric(names[k], v, 0, end_ms)
        for k, raw in sorted(result.metrics.items())
        if (v := _number(raw)) is not None
    ]
    for name, points in sorted(result.series.items()):
        metrics += [
            Metric(names[name], v, step, end_ms)
            for step, raw in points
            if (v := _number(raw)) is not None
        ]
    metrics.append(Metric("ci_ml.duration_s", round(result.duration_s, 3), 0, end_ms))
    hit = result.status != "ran" and result.status != "failed"
    tags = [
        Entry("ci_ml.stage", result.name),
        Entry("ci_ml.cache", "hit" if hit else "miss"),
        Entry("ci_ml.status", result.status),
        Entry("ci_ml.key", result.key),
        Entry("mlflow.source.git.commit", commit),
        *renamed_tags(names),
    ]
    if result.large_outputs:
        outputs = dict.fromkeys(result.large_outputs, f"{cache_url} key {result.key}")
        text = json.dumps(outputs, sort_keys=True)
        tags.append(Entry("ci_ml.outputs", _truncate(text, MAX_TAG_VALUE)))
    duration_ms = round(result.duration_s * 1000) if not hit else 0
    return RunSpec(
        stage=result.name,
        run_name=result.name,
        tags=tuple(tags),
        params=params,
        metrics=tuple(metrics),
        artifacts=result.artifacts,
        start_ms=end_ms - duration_ms,
        end_ms=end_ms,
        status="FAILED" if result.status == "failed" else "FINISHED",
    )


def series_from_rows(
    rows: Sequence[Mapping[str, object]], prefix: str
) -> dict[str, list[tuple[int, float]]]:
    """Step series from a plots file's rows when it has a `step` or `epoch` column: one
    series per other numeric column, named `<prefix>/<column>`."""
    if not rows:
        return {}
    column = next((c for c in STEP_COLUMNS if all(_is_step(r.get(c)) for r in rows)), None)
    if column is None:
        return {}
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        step = int(_number(row[column]) or 0)
        for name, raw in row.items():
            if name != column and (value := _number(raw)) is not None:
                series.setdefault(f"{prefix}/{name}", []).append((step, value))
    return series


def metric_name(file: str, key: str, *, several_files: bool) -> str:
    """The name `ci-ml diff` shows: the dotted key, prefixed with its file when the pipeline
    has several metrics files."""
    return f"{file}:{key}" if several_files else key


def _is_step(value: object) -> bool:
    number = _number(value)
    return number is not None and number.is_integer()


def _number(value: object) -> float | None:
    """A finite number MLflow can store (JSON has no NaN), else None; booleans are not."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
