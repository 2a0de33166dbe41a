"""Is there a GPU here? Asked of nvidia-smi, the one tool every NVIDIA driver ships."""

from __future__ import annotations

import shutil
import subprocess


def detect_gpu() -> str | None:
    """The first GPU's model name (e.g. 'NVIDIA H100 80GB HBM3'), or None without one."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    return names[0] if proc.returncode == 0 and names else None
