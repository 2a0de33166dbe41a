"""MLflow: every `ci-ml run` recorded in the team's tracking server (docs/mlflow.md)."""

from __future__ import annotations

from ci_ml.mlflow.collect import find_links, log_run, push_logs
from ci_ml.mlflow.target import granted_env
from ci_ml.mlflow.tracking import Links, read_links

__all__ = [
    "Links",
    "find_links",
    "granted_env",
    "log_run",
    "push_logs",
    "read_links",
]
