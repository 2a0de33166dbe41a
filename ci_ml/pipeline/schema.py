"""What a pipeline file may hold, and where a problem in one is. [pure]

Owns the key tables (top-level, stage, and ci-ml's own settings in ci-ml.yaml), `PipelineFile`
(how a file's stages are named and which keys they take), `Site` (a file, line and stage, as
errors name them) and the shape checks shared by the parser's parts: `check_keys` (unknown keys,
with "did you mean") and `field_entries` (a field that must be a list).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ci_ml.errors import PipelineError, did_you_mean
from ci_ml.project_root import CONFIG_FILE
from ci_ml.yaml_schema import key_line

DEFAULT_PARAMS = "params.yaml"
CONFIG_STAGE_KEYS = ("gpu", "runner", "timeout", "env")
STAGE_KEYS = (
    *("cmd", "wdir", "deps", "params", "outs", "metrics", "plots", "frozen", "always_changed"),
    *("desc", "meta", "vars"),
)


@dataclass(frozen=True, slots=True)
class Site:
    """Where a problem is, for messages: `dvc.yaml:12: stage 'train'`."""

    file: str
    line: int | None = None
    stage: str | None = None

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: stage {self.stage!r}" if self.stage is not None else loc

    def at(self, line: int | None) -> Site:
        return Site(self.file, line or self.line, self.stage)


@dataclass(frozen=True, slots=True)
class PipelineFile:
    """One pipeline file, as its stages are named and checked."""

    path: str  # project-relative: `dvc.yaml`, `sub/dvc.yaml`
    dir: str  # its directory, `.` at the root
    prefix: str  # `` at the root, `sub/dvc.yaml:` below it
    is_config: bool  # ci-ml.yaml, which may also hold ci-ml's own settings
    stage_keys: frozenset[str]


def pipeline_file(path: str) -> PipelineFile:
    """The PipelineFile for project-relative `path`: ci-ml.yaml's stages may hold settings."""
    is_config = posixpath.basename(path) == CONFIG_FILE
    return PipelineFile(
        path=path,
        dir=posixpath.dirname(path) or ".",
        prefix="" if path in ("dvc.yaml", CONFIG_FILE) else f"{path}:",
        is_config=is_config,
        stage_keys=frozenset((*STAGE_KEYS, *(CONFIG_STAGE_KEYS if is_config else ()))),
    )


def check_keys(
    mapping: Mapping[Any, Any], allowed: Sequence[str], site: Site, what: str, *, config: bool
) -> None:
    """Raise on the first key not `allowed`; `config`: also allow ci-ml's stage settings."""
    allowed = (*allowed, *(CONFIG_STAGE_KEYS if config else ()))
    for key in mapping:
        if key in allowed:
            continue
        hint = f"A {what} takes {', '.join(allowed)}."
        if key in CONFIG_STAGE_KEYS and what.endswith("stage"):
            hint = f"ci-ml's stage settings go in {CONFIG_FILE} under `stages:`, not in dvc.yaml."
        raise PipelineError(
            f"{site.at(key_line(mapping, key))}: unknown key {key!r}"
            f"{did_you_mean(str(key), allowed)}. {hint}"
        )


def field_entries(value: Any, site: object, field: str) -> list[Any]:
    """The entries of list field `field` ([] when absent); raises if it is not a list."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(f"{site}: `{field}` must be a list, got {a_type(value)}.")
    return value


def a_type(value: Any) -> str:
    """What a YAML value is, in YAML's words and with its article ("a mapping"), for messages:
    never an internal class name (the YAML reader returns mappings as LineDicts)."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    names = {int: "an integer", float: "a number", str: "a string"}
    return names.get(type(value), f"a {type(value).__name__}")
