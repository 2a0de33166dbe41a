"""The metric-delta chart: a bar per metric of its relative change from base to head.

Draws on a matplotlib Figure (`figure.py`); the changes come from `plot_data.relative_changes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ci_ml.plot_data import figure_text
from ci_ml.plots.figure import BLUE, GREY, ORANGE


def draw_deltas(fig: Any, shown: Sequence[tuple[str, float, float, float]]) -> None:
    """A bar per (name, base, head, change in %), with the values themselves at the right."""
    ax = fig.add_subplot()
    positions = list(range(len(shown)))
    changes = [change for *_, change in shown]
    colours = [BLUE if c > 0 else ORANGE if c < 0 else GREY for c in changes]
    ax.barh(positions, changes, color=colours, height=0.5)
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
