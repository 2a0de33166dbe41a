"""Which directory is a pipeline's project: found from the file names alone, so the console
entry can find it (and start git's reads of its working tree) before importing the rest."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "ci-ml.yaml"
PIPELINE_FILE = "dvc.yaml"


def find_root(start: Path, top: Path) -> Path | None:
    """The nearest directory at or above `start` with ci-ml.yaml or `.dvc/`, else the nearest
    with a dvc.yaml; the search stops at `top`, the repository's top level (resolved)."""
    candidates = [start.resolve(), *start.resolve().parents]
    candidates = candidates[: candidates.index(top) + 1] if top in candidates else [top]
    root = next(
        (d for d in candidates if (d / CONFIG_FILE).is_file() or (d / ".dvc").is_dir()), None
    )
    return root or next((d for d in candidates if (d / PIPELINE_FILE).is_file()), None)
