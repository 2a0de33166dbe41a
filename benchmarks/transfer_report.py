"""Verdicts against the transfer benchmark's targets, and its markdown tables. [pure]"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from transfer_model import OP_LABELS, OPS, Case, Measurement

NOCHANGE_TARGET_S = 0.3
RSS_TARGET_MB = 200.0
PEER_NAMES = ("awscli", "s5cmd", "dvc")
TRANSFERS = (("big", "push"), ("big", "pull"), ("small", "push"), ("small", "pull"))


def _find(results: Sequence[Measurement], tool: str, case: str, op: str) -> Measurement | None:
    return next((m for m in results if (m.tool, m.case, m.op) == (tool, case, op)), None)


def best_peer(results: Sequence[Measurement], case: str, op: str) -> Measurement | None:
    done = [m for m in results if m.tool in PEER_NAMES and (m.case, m.op) == (case, op)]
    timed = [m for m in done if m.wall_s is not None]
    return min(timed, key=lambda m: m.wall_s or 0.0) if timed else None


def verdicts(results: Sequence[Measurement]) -> list[dict[str, Any]]:
    """Pass or fail for each target; None where a measurement is missing."""
    found: list[dict[str, Any]] = []
    for case, op in TRANSFERS:
        ours, peer = _find(results, "ci-ml", case, op), best_peer(results, case, op)
        aws = _find(results, "awscli", case, op)
        found.append(_compare(f"{case} {op}: wall <= best peer", ours, peer, "wall_s"))
        found.append(_compare(f"{case} {op}: CPU <= awscli", ours, aws, "cpu_s"))
    found += [_nochange_verdict(results, case) for case in ("big", "small")]
    peaks = [m.peak_rss_mb for m in results if m.tool == "ci-ml" and m.peak_rss_mb is not None]
    found.append(
        {
            "target": f"ci-ml peak RSS < {RSS_TARGET_MB:g} MB",
            "passed": max(peaks) < RSS_TARGET_MB if peaks else None,
            "detail": f"{max(peaks) if peaks else None} MB (max over every ci-ml run)",
        }
    )
    return found


def _nochange_verdict(results: Sequence[Measurement], case: str) -> dict[str, Any]:
    """Judged on what a ci-ml process does to learn "already cached": make its S3 client and
    read the manifest. Interpreter start and imports are shown beside it, not counted."""
    check = _find(results, "ci-ml", case, "nochange")
    phases = check.phases if check else []
    cold = [p["s3_client"] + p["get_manifest"] for p in phases if "s3_client" in p]
    warm = [p["get_manifest_again"] for p in phases if "get_manifest_again" in p]
    seconds = round(statistics.median(cold), 3) if cold else None
    return {
        "target": f"{case} no-change push < {NOCHANGE_TARGET_S} s (S3 client + get_manifest)",
        "passed": None if seconds is None else seconds < NOCHANGE_TARGET_S,
        "detail": f"{seconds} s; with a client already made"
        f" {round(statistics.median(warm), 3) if warm else None} s;"
        f" whole process {check.wall_s if check else None} s",
    }


def _compare(
    target: str, ours: Measurement | None, theirs: Measurement | None, attr: str
) -> dict[str, Any]:
    mine = getattr(ours, attr) if ours else None
    other = getattr(theirs, attr) if theirs else None
    passed = None if mine is None or other is None else mine <= other
    ratio = round(mine / other, 2) if mine is not None and other else None
    who = theirs.tool if theirs else "?"
    return {"target": target, "passed": passed, "detail": f"{mine} vs {other} ({who}): x{ratio}"}


def render_markdown(results: Sequence[Measurement], cases: Sequence[Case]) -> str:
    lines = [
        "| data | operation | tool | wall s | CPU s | peak RSS MB | moto CPU s | ci-ml vs peers |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in cases:
        for op in OPS:
            for m in sorted(
                (m for m in results if (m.case, m.op) == (case.name, op)),
                key=lambda m: (m.tool != "ci-ml", m.wall_s is None, m.wall_s or 0.0),
            ):
                lines.append(_row(case, m, results))
    lines += ["", _phase_table(results, cases)]
    return "\n".join(lines)


def _row(case: Case, m: Measurement, results: Sequence[Measurement]) -> str:
    wall = _fmt(m.wall_s) if m.status == "ok" else m.status
    if m.status == "ok" and len(m.walls_s) > 1:
        wall += f" ({len(m.walls_s)} runs)"
    ratio = ""
    if m.tool == "ci-ml" and m.wall_s is not None:
        peer = best_peer(results, m.case, m.op)
        aws = _find(results, "awscli", m.case, m.op)
        if peer and peer.wall_s:
            ratio = f"wall x{m.wall_s / peer.wall_s:.2f} of {peer.tool}"
        if aws and aws.cpu_s and m.cpu_s is not None:
            ratio += f"; CPU x{m.cpu_s / aws.cpu_s:.2f} of awscli"
    cells = [case.label, OP_LABELS[m.op], m.tool, wall, _fmt(m.cpu_s), _fmt(m.peak_rss_mb)]
    return "| " + " | ".join([*cells, _fmt(m.server_cpu_s), ratio]) + " |"


def _phase_table(results: Sequence[Measurement], cases: Sequence[Case]) -> str:
    """ci-ml's own timings of each phase (median over runs), from inside its process."""
    lines = ["| ci-ml, timed inside | phases (median s) |", "| --- | --- |"]
    for case in cases:
        for op in OPS:
            m = _find(results, "ci-ml", case.name, op)
            if not m or not m.phases:
                continue
            names = list(m.phases[0])
            medians = {n: statistics.median(p.get(n, 0.0) for p in m.phases) for n in names}
            text = ", ".join(f"{n} {v:.3f}" for n, v in medians.items())
            lines.append(f"| {case.label}, {OP_LABELS[op]} | {text} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def render_verdicts(found: Sequence[dict[str, Any]]) -> str:
    marks = {True: "pass", False: "FAIL", None: "n/a"}
    return "\n".join(f"- {marks[v['passed']]}: {v['target']}: {v['detail']}" for v in found)
