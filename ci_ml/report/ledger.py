"""The cost ledger: minutes run and restored (saved), GPU split out, priced by runner label,
the estimate beside them, and why GPU jobs wait. [pure]"""

from __future__ import annotations

from dataclasses import dataclass

from ci_ml.report import markdown as md


@dataclass(frozen=True, slots=True, kw_only=True)
class Minutes:
    gpu: float = 0.0
    cpu: float = 0.0
    cost_usd: float = 0.0
    unpriced: bool = False  # some of these minutes ran on labels runner-cost does not price


@dataclass(frozen=True, slots=True, kw_only=True)
class Ledger:
    ran: Minutes = Minutes()
    saved: Minutes = Minutes()
    estimate: Minutes | None = None  # the ran stages, estimated from their last trusted runs
    waiting: tuple[str, ...] = ()  # why GPU jobs wait for approval; empty when none wait
    how_to_approve: str | None = None


def render_ledger(ledger: Ledger | None) -> str:
    if ledger is None:
        return ""
    parts = []
    if ledger.waiting:
        why = "; ".join(md.text(reason) for reason in ledger.waiting)
        parts.append(
            f"⏸️ **GPU jobs wait for approval**: {why}.  \n"
            f"To run them, {md.text(ledger.how_to_approve or '')}."
        )
    rows = [("ran", ledger.ran), ("restored (saved)", ledger.saved)]
    if ledger.estimate is not None:
        rows.append(("estimate for what ran", ledger.estimate))
    if any(m.gpu or m.cpu for _, m in rows) or ledger.waiting:
        lines = ["| | GPU min | CPU min | cost |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {label} | {m.gpu:.1f} | {m.cpu:.1f} | {_usd(m)} |" for label, m in rows]
        parts.append("### Compute\n\n" + "\n".join(lines))
    if any(m.unpriced for _, m in rows):
        parts.append("Some minutes ran on labels with no price in `runner-cost` (counted as $0).")
    return "\n\n".join(parts)


def _usd(m: Minutes) -> str:
    return f"${m.cost_usd:.2f}" + ("\\*" if m.unpriced else "")
