"""The figure plumbing every plot shares: style, canvas, title, legend, PNG output.

[edge: `save_png` writes files] matplotlib and Pillow are imported inside the functions that use
them, so `import ci_ml.cli` stays light. Drawing uses a bare `Figure` on the Agg canvas (no
pyplot, no global figure state) under matplotlib's default rcParams plus ours, so a user's
matplotlibrc cannot change or break the output. Colours are Okabe-Ito, safe for the common
colour-vision deficiencies.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_ml.report.plots.data import Rows
from ci_ml.report.plots.shapes import figure_text

BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#999999"
# Okabe-Ito green and vermillion: told apart with the common colour-vision deficiencies.
BETTER, WORSE = "#009E73", "#D55E00"
DPI = 100
_RC: dict[Any, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "figure.titlesize": 12.0,
    "figure.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.0,
    "legend.framealpha": 0.85,
    "svg.hashsalt": "ci-ml",
    "text.usetex": False,
}


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison, as the drawing functions get it: rows or an image."""

    name: str  # "base main (abc1234)", as the legend shows it
    is_head: bool
    rows: Mapping[str, Rows | None] | None = None
    image: bytes | None = None


def set_title(fig: Any, title: str) -> None:
    """The figure's title, wrapped to fit its width (about 75 characters per 800 px)."""
    width = int(fig.get_figwidth() * 9.5)
    lines = textwrap.wrap(figure_text(title), width, max_lines=2, placeholder=" …")
    fig.suptitle("\n".join(lines))


@contextmanager
def plot_style() -> Iterator[None]:
    """matplotlib's defaults plus ours while drawing, whatever the user's matplotlibrc says."""
    import matplotlib

    with warnings.catch_warnings(), matplotlib.rc_context():
        # Glyphs missing from DejaVu Sans (hostile or CJK titles) and layouts that do not fit
        # only warn; the figure is still written.
        warnings.simplefilter("ignore", UserWarning)
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_RC)
        yield


def new_figure(size: tuple[float, float]) -> Any:
    """A bare Figure on the Agg canvas: no pyplot, no global figure state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: Path, *, photo: bool = False) -> None:
    """An opaque PNG without metadata chunks, so its bytes depend on nothing but the drawing.

    A chart fits a 256-colour palette with no visible loss at under half the size of RGB;
    a figure showing the user's own images (`photo`) stays RGB.
    """
    from PIL import Image

    fig.tight_layout()
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()
    rgba = Image.frombuffer("RGBA", (width, height), fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    image = rgba.convert("RGB")
    if not photo:
        image = image.quantize(256, dither=Image.Dither.NONE)
    image.save(path, format="PNG", optimize=True)


def add_legend(ax: Any, handles: Sequence[Any]) -> None:
    """A legend of `handles` in a row above the axes."""
    # Above the axes, not inside: a legend placed "best" still hides lines in busy plots.
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncols=min(len(handles), 4),
        frameon=False,
        borderaxespad=0.0,
    )


def show_no_data(ax: Any, text: str = "no data to plot") -> None:
    """`text` in place of a plot, on axes without ticks."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])
