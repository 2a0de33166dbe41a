"""Which directory is a pipeline's project: found from file names alone, with `os.path`, so the
console entry can find it (and start git's reads of its working tree) before the CLI's
imports."""

# ruff: noqa: PTH112, PTH113, PTH118, PTH120 - os.path, not pathlib (13 ms to import)

from __future__ import annotations

import os

CONFIG_FILE = "ci-ml.yaml"
PIPELINE_FILE = "dvc.yaml"


def find_root(start: str, top: str) -> str | None:
    """The nearest directory at or above `start` with ci-ml.yaml or `.dvc/`, else the nearest
    with a dvc.yaml; the search stops at `top`, the repository's top level. Both resolved
    (symlinks followed); None when there is none."""
    here, top = os.path.realpath(start), os.path.realpath(top)
    candidates = [here]
    while candidates[-1] != top and os.path.dirname(candidates[-1]) != candidates[-1]:
        candidates.append(os.path.dirname(candidates[-1]))
    if candidates[-1] != top:  # `start` is not inside `top`
        candidates = [top]
    root = next(
        (
            d
            for d in candidates
            if os.path.isfile(os.path.join(d, CONFIG_FILE))
            or os.path.isdir(os.path.join(d, ".dvc"))
        ),
        None,
    )
    return root or next(
        (d for d in candidates if os.path.isfile(os.path.join(d, PIPELINE_FILE))), None
    )


def repo_prefix(root: str, top: str) -> str:
    """`root` relative to the repository's top level `top` ('' when they match), POSIX."""
    prefix = os.path.relpath(root, os.path.realpath(top)).replace(os.sep, "/")
    return "" if prefix == "." else prefix
