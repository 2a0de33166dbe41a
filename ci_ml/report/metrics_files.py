"""Read a stage's metrics files from the workspace (the I/O edge of metrics.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.report.metrics import parse_metrics_text
from ci_ml.workspace_files import UnsafeFileError, read_text

log = logging.getLogger("ci_ml")


def read_metrics_files(root: Path, paths: Sequence[str]) -> dict[str, Any]:
    """Metrics path -> parsed document, for those that exist and parse (others are logged)."""
    found: dict[str, Any] = {}
    for path in paths:
        file = root / path
        if not (file.exists() or file.is_symlink()):
            continue
        try:
            found[path] = parse_metrics_text(path, read_text(file))
        except (PipelineError, UnsafeFileError) as e:
            log.warning("%s", e)
    return found
