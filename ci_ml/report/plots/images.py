"""Image plots: the base and head image files side by side.

Decodes the images' bytes with Pillow (imported inside, as is numpy), refusing SVG and images
too large to decode safely; draws on a matplotlib Figure (`figure.py`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from ci_ml.report.plots.figure import Side, show_no_data
from ci_ml.report.plots.shapes import clean_text, figure_text

_MAX_IMAGE_PIXELS = 40_000_000


def draw_images(fig: Any, sides: Sequence[Side], notes: list[str]) -> None:
    """Each side's image on its own axes; one that cannot be decoded is noted instead."""
    axes = fig.subplots(1, len(sides), squeeze=False)[0]
    for ax, side in zip(axes, sides, strict=True):
        pixels, problem = _decode_image(side.image or b"")
        ax.set_title(side.name)
        if pixels is None:
            notes.append(f"{'head' if side.is_head else 'base'} image: {problem}")
            show_no_data(ax, figure_text(problem))
            continue
        ax.imshow(pixels)
        ax.set_axis_off()


def _decode_image(data: bytes) -> tuple[Any, str]:
    import numpy as np
    from PIL import Image

    if b"<svg" in data[:4096]:
        return None, "SVG images are not drawn here; see the file itself"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > _MAX_IMAGE_PIXELS:
                return None, f"image too large ({image.width} x {image.height} px)"
            image.thumbnail((1200, 1200))
            return np.asarray(image.convert("RGBA")), ""
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return None, clean_text(f"cannot decode image ({e})", 100)
