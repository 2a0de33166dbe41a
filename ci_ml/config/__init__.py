"""ci-ml's settings: one OPTIONS table, one precedence (see settings.py). [pure]"""

from __future__ import annotations

from ci_ml.config.options import OPTIONS, Option, options_table
from ci_ml.config.settings import (
    MetricRule,
    MlflowSettings,
    Settings,
    apply_settings,
    resolve,
)
from ci_ml.project_root import CONFIG_FILE

__all__ = [
    "CONFIG_FILE",
    "OPTIONS",
    "MetricRule",
    "MlflowSettings",
    "Option",
    "Settings",
    "apply_settings",
    "options_table",
    "resolve",
]
