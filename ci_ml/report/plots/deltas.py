"""The metric-delta chart: a bar per metric of its relative change from base to head.

Draws on a matplotlib Figure (`figure.py`); the changes come from `shapes.relative_changes`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from ci_ml.report.plots.figure import BETTER, GREY, WORSE
from ci_ml.report.plots.shapes import change_sense, figure_text


def draw_deltas(
    fig: Any,
    shown: Sequence[tuple[str, float, float, float]],
    *,
    lower_is_better: Collection[str] = (),
) -> None:
    """A bar per (name, base, head, change in %), green when better in the metric's direction
    and red when worse, with the values themselves at the right."""
    from matplotlib.patches import Patch

    ax = fig.add_subplot()
    positions = list(range(len(shown)))
    changes = [change for *_, change in shown]
    senses = [change_sense(c, lower_is_better=name in lower_is_better) for name, *_, c in shown]
    palette = {"better": BETTER, "worse": WORSE, "same": GREY}
    ax.barh(positions, changes, color=[palette[s] for s in senses], height=0.5)
    legend = [Patch(color=palette[s], label=s) for s in ("better", "worse") if s in senses]
    if legend:
        ax.legend(handles=legend, loc="lower right", fontsize=8, frameon=False)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(positions, [figure_text(name, 40) for name, *_ in shown])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("change from base to head (%)")
    spread = max(abs(c) for c in changes) or 1.0
    ax.set_xlim(-spread * 1.15, spread * 1.15)
    # The absolute values sit on a second axis at the right, clear of the bars.
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(
        positions,
        [f"{base:.4g} → {head:.4g} ({change:+.2f}%)" for _, base, head, change in shown],
    )
    right.grid(False)
