"""The example pipeline through a simulated pull request, as the README's main job runs it:
main fills the cache, a PR changes one param, the PR's run restores what it needs and runs the
rest, and the report (golden file) shows the diff with plots."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands.test_run import run_json, statuses
from tests.helpers.gitrepo import GitRepo, run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "get-started"
GOLDEN = Path(__file__).parent / "golden" / "report.md"


def normalize(report: str) -> str:
    """Replace what differs between machines and runs: durations and runner names."""
    report = re.sub(r"\d+(\.\d+)? s\b", "<t>", report)
    report = re.sub(r"\d+ min <t>", "<t>", report)
    report = re.sub(
        r"(\| <t>(?: saved)?\s+\| )[^|]*?(\s*\|)$", r"\1<runner>\2", report, flags=re.MULTILINE
    )
    # The cost ledger's minutes and dollars follow the durations.
    report = re.sub(
        r"^(\| (?:ran|restored \(saved\)|estimate for what ran) \|).*$",
        r"\1 <minutes> |",
        report,
        flags=re.MULTILINE,
    )
    # Column widths follow the cells' lengths: compare tables by content, not padding.
    return re.sub(
        r"^\|.*\|$",
        lambda m: re.sub(r" {2,}|-{2,}", lambda r: r.group(0)[0], m.group(0)),
        report,
        flags=re.MULTILINE,
    )


@pytest.fixture
def example_env() -> dict[str, str]:
    # The stages call `python`: make it the interpreter that has the example's dependencies.
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_example_pull_request(
    tmp_path: Path, example_env: dict[str, str], update_golden: bool
) -> None:
    origin = GitRepo.init(tmp_path / "origin")
    shutil.copytree(
        EXAMPLE,
        origin.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".ci-ml", "data", "models", "reports"),
    )
    origin.commit("get-started pipeline")
    cache = str(tmp_path / "cache")

    main = tmp_path / "main"
    subprocess.run(["git", "clone", "-q", str(origin.path), str(main)], check=True)
    code, doc, err = run_json(
        main, "--all", "--cache", cache, "--trust", "trusted", env=example_env
    )
    assert code == 0, err
    assert set(statuses(doc).values()) == {"ran"}

    origin.git("checkout", "-q", "-b", "bigger-model")
    params = (
        (origin.path / "params.yaml").read_text().replace("hidden_size: 64 ", "hidden_size: 128")
    )
    origin.write({"params.yaml": params}, commit="Bigger hidden layer")
    pr = tmp_path / "pr"
    subprocess.run(
        ["git", "clone", "-q", "--branch", "bigger-model", str(origin.path), str(pr)], check=True
    )

    code, out, _ = run_cli(
        "plan", "--json", "--base", "origin/main", "--cache", cache, cwd=pr, env=example_env
    )
    assert code == 0
    planned = {s["name"]: s["will_run"] for s in json.loads(out)["stages"]}
    assert planned == {"prepare": False, "featurize": False, "train": True, "evaluate": True}
    assert json.loads(out)["runs_on"] == ["self-hosted", "linux", "gpu"]
    code, doc, err = run_json(pr, "--base", "origin/main", "--cache", cache, env=example_env)
    assert code == 0, err
    assert statuses(doc) == {
        "prepare": "unchanged",
        "featurize": "restored",
        "train": "ran",
        "evaluate": "ran",
    }

    out_dir = tmp_path / "report"
    code, _out, err = run_cli(
        "report",
        "--base",
        "origin/main",
        "--cache",
        cache,
        "--out",
        str(out_dir),
        "--no-fail",
        cwd=pr,
        env=example_env,
    )
    assert code == 0, err
    report = normalize((out_dir / "report.md").read_text())
    if update_golden:
        GOLDEN.write_text(report)
    assert report == GOLDEN.read_text()
    plots = sorted(p.name for p in (out_dir / "plots").glob("*.png"))
    assert plots == [
        "metric-deltas.png",
        "precision-recall.png",
        "reports-confusion-csv.png",
        "train-accuracy.png",
        "train-loss.png",
    ]
    assert png_size(out_dir / "plots/train-loss.png") == (800, 450)
    assert png_size(out_dir / "plots/reports-confusion-csv.png") == (1200, 400)
    for name in plots:
        assert (out_dir / "plots" / name).stat().st_size > 5_000
