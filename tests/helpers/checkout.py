"""This checkout as a release of the action holds it: the files git tracks, plus new ones it
does not ignore (so .venv and caches stay out). Standard library only, so the benchmarks use
it too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def copy_checkout(root: Path, dest: Path) -> Path:
    """Copy the checkout at `root` into `dest` (which may exist); `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    return dest
