"""`--set file:key=value` param overrides for manual retrains.

The stage's own code reads its params file, so an override is written into that file in the
workspace (as `dvc exp run --set-param` does) before planning: keys, commands and the cache
entry all see the new value. YAML and JSON params files can be overridden; the edited key must
already exist, so a typo is an error rather than a silently ignored param.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ci_ml.errors import UserError, did_you_mean
from ci_ml.pipeline import flat_keys, parse_params_text
from ci_ml.workspace_files import read_text

DEFAULT_PARAMS = "params.yaml"


@dataclass(frozen=True, slots=True)
class Override:
    file: str
    key: str
    value: Any

    def __str__(self) -> str:
        return f"{self.file}:{self.key}={json.dumps(self.value)}"


def parse_override(text: str) -> Override:
    """`train.lr=0.2` (params.yaml) or `conf/train.yaml:lr=0.2`; the value is read as YAML."""
    target, sep, raw = text.partition("=")
    if not sep or not target:
        raise UserError(
            f"--set {text!r}: expected FILE:KEY=VALUE or KEY=VALUE (params.yaml), e.g. "
            "--set train.lr=0.2."
        )
    file, colon, key = target.rpartition(":")
    file, key = (file, key) if colon else (DEFAULT_PARAMS, target)
    if not key:
        raise UserError(f"--set {text!r}: the key is empty; write FILE:KEY=VALUE.")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return Override(posixpath.normpath(file), key, value)


def set_key(document: Any, key: str, value: Any, *, file: str) -> Any:
    """A copy of `document` with dotted `key` set; the key must exist."""
    parts = key.split(".")
    node = document
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            raise UserError(
                f"--set {file}:{key}: {file} has no param {key!r}"
                f"{did_you_mean(key, flat_keys(document))}. Fix the key; overrides can only "
                "change params that exist."
            )
        if depth == len(parts) - 1:
            node[part] = value
        node = node[part]
    return document


def apply_overrides(root: Path, overrides: Sequence[Override]) -> None:
    """Write each override into its params file (YAML or JSON) in the workspace."""
    for override in overrides:
        path = root / override.file
        if not path.is_file():
            raise UserError(f"--set {override}: params file {override.file} does not exist.")
        ext = path.suffix.lower()
        if ext not in (".yaml", ".yml", ".json"):
            raise UserError(
                f"--set {override}: {override.file} is not YAML or JSON; edit it by hand instead."
            )
        document = parse_params_text(override.file, read_text(path, follow_symlinks=True))
        document = set_key(_plain(document), override.key, override.value, file=override.file)
        text = (
            json.dumps(document, indent=2) + "\n"
            if ext == ".json"
            else yaml.safe_dump(document, sort_keys=False)
        )
        tmp = path.with_name(path.name + ".ci-ml-tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


def _plain(value: Any) -> Any:
    """Line-annotated mappings from the params loader, as plain dicts for dumping."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
