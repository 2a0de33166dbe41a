"""Metrics files: parse, flatten to dotted keys. [pure]

JSON and YAML documents are flattened (`{"eval": {"acc": 1}}` -> `eval.acc`); a CSV/TSV file
is either a two-column key/value table or a table whose last row holds the final values.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Mapping
from typing import Any

import yaml

from ci_ml.errors import PipelineError

Scalar = str | int | float | bool | None


def parse_metrics_text(path: str, text: str) -> Any:
    """The document in a metrics file, as JSON-compatible data."""
    ext = posixpath.splitext(path)[1].lower()
    try:
        if ext in (".csv", ".tsv"):
            return _parse_table(text, "\t" if ext == ".tsv" else ",")
        if ext == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
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
