"""Verdicts against the planning benchmark's targets, and its markdown tables. [pure]

Works on the plain dicts that benchmarks/plan.py writes to its JSON results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _median(row: Mapping[str, Any] | None, key: str) -> float | None:
    timing = (row or {}).get(key)
    return float(timing["median_s"]) if timing and timing["median_s"] is not None else None


def _verdict(target: str, measured: str, ok: bool | None) -> dict[str, str]:
    verdict = "not measured" if ok is None else ("pass" if ok else "FAIL")
    return {"target": target, "measured": measured, "verdict": verdict}


def _speedup_verdict(
    rows: Mapping[int, Mapping[str, Any]],
    size: int,
    factor: int,
    timeout_s: float,
    *,
    what: str = "file deps",
) -> dict[str, str]:
    row = rows.get(size, {})
    ci, dvc = _median(row, "ci_ml"), row.get("dvc")
    target = f">= {factor}x faster than `dvc status` at {size:,} stages, {what}"
    if ci is None or dvc is None:
        return _verdict(target, "-", None)
    if dvc["timed_out"]:  # DVC's time is at least the timeout: a lower bound on the ratio
        return _verdict(
            target, f">= {timeout_s / ci:.0f}x (dvc timed out)", timeout_s / ci >= factor
        )
    ratio = dvc["median_s"] / ci
    return _verdict(
        target, f"{ratio:.1f}x ({dvc['median_s']:.2f} s vs {ci:.3f} s)", ratio >= factor
    )


def stage_verdicts(
    rows: Mapping[int, Mapping[str, Any]],
    timeout_s: float,
    dir_rows: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[dict[str, str]]:
    found = [
        _speedup_verdict(rows, 100, 15, timeout_s),
        _speedup_verdict(dir_rows or {}, 100, 15, timeout_s, what="directory deps"),
        _speedup_verdict(rows, 1000, 300, timeout_s),
    ]
    t1k, t10k = _median(rows.get(1000), "ci_ml"), _median(rows.get(10_000), "ci_ml")
    found.append(
        _verdict(
            "ci-ml plan < 1 s at 1,000 stages",
            "-" if t1k is None else f"{t1k:.3f} s",
            None if t1k is None else t1k < 1,
        )
    )
    if t1k is None or t10k is None:
        found.append(_verdict("roughly linear beyond 1,000 stages", "-", None))
    else:
        marginal = (t10k - t1k) / 9000 * 1000
        found.append(
            _verdict(
                "roughly linear beyond 1,000 stages (10,000 stages within 15x of 1,000)",
                f"{t1k:.3f} ms/stage at 1,000, {t10k / 10:.3f} ms/stage at 10,000 "
                f"({marginal:.3f} ms per added stage); 10k/1k = {t10k / t1k:.1f}x",
                t10k <= 15 * t1k,
            )
        )
    return found


def data_verdicts(
    data: Mapping[int, Mapping[str, Any]], *, big: int, small: int
) -> list[dict[str, str]]:
    gib = f"{big / 2**30:g} GiB"
    found = []
    for label in ("cold", "warm"):
        ci, dvc = (
            _median(data.get(big), f"ci_ml_first_{label}"),
            _median(data.get(big), f"dvc_fresh_{label}"),
        )
        target = (
            f"first plan over {gib} untracked >= 2x faster than DVC's fresh status "
            f"(page cache {'dropped' if label == 'cold' else 'warm'})"
        )
        if ci is None or dvc is None:
            found.append(_verdict(target, "-", None))
        else:
            found.append(
                _verdict(target, f"{dvc / ci:.1f}x ({ci:.2f} s vs {dvc:.2f} s)", dvc / ci >= 2)
            )
    found.append(_second_plan_verdict(data, big, gib))
    found.append(_memory_verdict(data, big=big, small=small))
    return found


def _second_plan_verdict(
    data: Mapping[int, Mapping[str, Any]], big: int, gib: str
) -> dict[str, str]:
    target = f"second plan over unchanged {gib} adds < 0.2 s over a plan without the data"
    second, none = _median(data.get(big), "ci_ml_second"), _median(data.get(0), "ci_ml_second")
    if second is None or none is None:
        return _verdict(target, "-", None)
    measured = f"+{second - none:.3f} s ({second:.3f} s vs {none:.3f} s)"
    cpu_second = data[big]["ci_ml_second"].get("cpu_s")
    cpu_none = data[0]["ci_ml_second"].get("cpu_s")
    if cpu_second is not None and cpu_none is not None:
        measured += f"; cpu +{cpu_second - cpu_none:.3f} s"
    return _verdict(target, measured, second - none < 0.2)


def _memory_verdict(
    data: Mapping[int, Mapping[str, Any]], *, big: int, small: int
) -> dict[str, str]:
    def rss(size: int) -> float | None:
        row = data.get(size, {})
        timing = row.get("ci_ml_first_cold") or row.get("ci_ml_first_warm")
        return timing["peak_rss_mib"] if timing else None

    small_rss, big_rss = rss(small), rss(big)
    target = f"ci-ml memory flat in data size (peak RSS, {big >> 20} MiB vs {small >> 20} MiB)"
    if small_rss is None or big_rss is None:
        return _verdict(target, "-", None)
    return _verdict(
        target,
        f"{big_rss:.0f} MiB vs {small_rss:.0f} MiB",
        big_rss <= small_rss + max(16.0, 0.1 * small_rss),
    )


def correctness_verdict(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    problems = [
        f"{r.get('stages', str(r.get('data_mib')) + ' MiB')}: {p}"
        for r in rows
        for p in r.get("ci_ml_problems", [])
    ]
    checked = [r for r in rows if "ci_ml_problems" in r]
    return _verdict(
        "ci-ml plans exactly the changed stage and its downstream stages",
        "; ".join(problems) or f"correct in {len(checked)} repos",
        None if not checked else not problems,
    )


def _fmt_s(timing: Mapping[str, Any] | None) -> str:
    if not timing:
        return "-"
    if timing["timed_out"]:
        return f"timeout (> {timing['walls_s'][-1]:.0f} s)"
    if timing["median_s"] is None:
        return f"failed (exit {timing['returncode']})"
    runs = len(timing["walls_s"])
    cpu = f" (cpu {timing['cpu_s']:.2f})" if timing.get("cpu_s") is not None else ""
    return f"{timing['median_s']:.3f} s{cpu}" + ("" if runs > 1 else ", 1 run")


def _fmt_rss(timing: Mapping[str, Any] | None) -> str:
    return f"{timing['peak_rss_mib']:.0f} MiB" if timing and timing["peak_rss_mib"] else "-"


def render_markdown(results: Mapping[str, Any]) -> str:
    lines = [
        "| stages | deps | ci-ml plan | per stage | ci-ml peak RSS | dvc status | dvc peak RSS "
        "| dvc / ci-ml |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["stages"]:
        ci = r.get("ci_ml")
        per = f"{ci['median_s'] / r['stages'] * 1000:.3f} ms" if ci and ci["median_s"] else "-"
        ratio = f"{r['ratio']:.1f}x" if r.get("ratio") else "-"
        lines.append(
            f"| {r['stages']:,} | {'directories' if r.get('dir_deps') else 'files'} "
            f"| {_fmt_s(ci)} | {per} | {_fmt_rss(ci)} | "
            f"{_fmt_s(r.get('dvc'))} | {_fmt_rss(r.get('dvc'))} | {ratio} |"
        )
    if results["data"]:
        lines += [
            "",
            "| untracked data | ci-ml first plan, cold | dvc fresh status, cold "
            "| ci-ml first plan, warm | dvc fresh status, warm | ci-ml second plan "
            "| dvc second status | ci-ml peak RSS (first) |",
            "|---:" * 8 + "|",
        ]
        for r in results["data"]:
            first = r.get("ci_ml_first_cold") or r.get("ci_ml_first_warm")
            cells = [
                _fmt_s(r.get(k))
                for k in (
                    "ci_ml_first_cold",
                    "dvc_fresh_cold",
                    "ci_ml_first_warm",
                    "dvc_fresh_warm",
                    "ci_ml_second",
                    "dvc_second",
                )
            ]
            lines.append(
                f"| {r['data_mib']:,} MiB | " + " | ".join(cells) + f" | {_fmt_rss(first)} |"
            )
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    lines += [
        f"| {_cell(v['target'])} | {_cell(v['measured'])} | {v['verdict']} |"
        for v in results["targets"]
    ]
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 300) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."
