"""Running stages: restore or execute each planned stage, with param overrides and GPU checks."""

from __future__ import annotations

from ci_ml.run.executor import Outcome, RunOptions, execute, push_manifest
from ci_ml.run.overrides import apply_overrides, parse_override

__all__ = ["Outcome", "RunOptions", "apply_overrides", "execute", "parse_override", "push_manifest"]
