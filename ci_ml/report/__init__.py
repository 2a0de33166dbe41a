"""The report: metric and param diffs, plots, the markdown comment and report.json."""

from __future__ import annotations

from ci_ml.report.data import (
    RAN,
    BaseFiles,
    base_metrics,
    head_metrics,
    metrics_paths,
    param_changes,
    recorded_runs,
    stage_rows,
    tally,
)
from ci_ml.report.figures import draw_plots
from ci_ml.report.image_links import publish_to_s3
from ci_ml.report.json_doc import ReportFormatError, report_from_dict, report_to_dict
from ci_ml.report.ledger import Ledger, Minutes
from ci_ml.report.metrics import diff_metrics, flatten
from ci_ml.report.metrics_files import read_metrics_files
from ci_ml.report.plots.data import parse_plot_file
from ci_ml.report.png import png_problem
from ci_ml.report.render import PlotRef, Report, StageRow, check_name, render_report, verdict

__all__ = [
    "RAN",
    "BaseFiles",
    "Ledger",
    "Minutes",
    "PlotRef",
    "Report",
    "ReportFormatError",
    "StageRow",
    "base_metrics",
    "check_name",
    "diff_metrics",
    "draw_plots",
    "flatten",
    "head_metrics",
    "metrics_paths",
    "param_changes",
    "parse_plot_file",
    "png_problem",
    "publish_to_s3",
    "read_metrics_files",
    "recorded_runs",
    "render_report",
    "report_from_dict",
    "report_to_dict",
    "stage_rows",
    "tally",
    "verdict",
]
