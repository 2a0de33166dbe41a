"""examples/demo.sh, as a reader runs it and pipes it to a log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_plain_text_when_not_a_terminal(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CI_ML_VENV": str(Path(sys.executable).parent.parent),  # this environment: no install
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "examples/demo.sh"), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "\x1b[" not in out
    assert "== ci-ml report: metric and param diff against main, with plots" in out
    # The diff as a terminal table, not markdown with its escapes.
    assert "metric" in out
    assert "verdict" in out
    assert "\\." not in out
    assert "| --- |" not in out
    assert "PR comment (markdown): " in out
