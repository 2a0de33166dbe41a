"""`ci-ml diff`: the metrics and params diff, as a table, JSON or markdown."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ci_ml.commands.plan import add_side_flags
from ci_ml.commands.report import build_report
from ci_ml.report import Report, render_report, verdict


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "diff",
        parents=[common],
        help="show the metrics and params diff between base and head",
        description="Compare metrics (from the workspace and the base's cache entry or "
        "commit) and params between base and head. Nothing is written.",
    )
    add_side_flags(parser)
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print one JSON document")
    form.add_argument("--md", action="store_true", help="print markdown")
    parser.set_defaults(run=run, no_plots=True)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    report, _out = build_report(args, env, None)
    if args.json:
        print(json.dumps(diff_document(report), indent=2))
    elif args.md:
        print(render_report(report), end="")
    else:
        print(render_text(report))
    return 0


def diff_document(report: Report) -> dict[str, Any]:
    result = verdict(report)
    return {
        "base": {"ref": report.base_label, "sha": report.base_sha},
        "head": {"ref": report.head_label, "sha": report.head_sha},
        "verdict": {"state": result.state, "text": result.text},
        "metrics": [
            {
                "name": d.name,
                "base": d.base if d.has_base else None,
                "head": d.head if d.has_head else None,
                "change": d.change,
                "relative": d.relative,
                "verdict": d.verdict,
                "gate": d.gate or None,
            }
            for d in report.metrics
        ],
        "params": [{"name": p.name, "base": p.base, "head": p.head} for p in report.params],
        "notes": list(report.notes),
    }


def render_text(report: Report) -> str:
    from tabulate import tabulate  # lazy: only the diff and the report need it

    def show(value: object, present: bool) -> str:
        return "-" if not present else f"{value:.6g}" if isinstance(value, float) else str(value)

    rows = [
        [
            d.name,
            show(d.base, d.has_base),
            show(d.head, d.has_head),
            "-" if d.change is None else f"{d.change:+.6g}",
            d.verdict,
        ]
        for d in report.metrics
    ]
    parts = [
        tabulate(
            rows, headers=["metric", "base", "head", "change", "verdict"], disable_numparse=True
        )
        if rows
        else "no metrics"
    ]
    if report.params:
        prows = [[p.name, p.base or "-", p.head or "-"] for p in report.params]
        parts.append(tabulate(prows, headers=["param", "base", "head"], disable_numparse=True))
    parts += list(report.notes)
    return "\n\n".join(parts)
