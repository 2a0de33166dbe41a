"""ci-ml's settings: one OPTIONS table, one precedence (see settings.py). [pure]"""

from __future__ import annotations

from ci_ml.config.options import CONFIG_FILE, OPTIONS, Option, options_table
from ci_ml.config.settings import (
    MetricRule,
    MlflowSettings,
    Settings,
    apply_settings,
    resolve,
)

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
