"""examples/gpu-proof through the real CLI: on a CPU with --allow-no-gpu (torch when it is
installed, else the example's pure-Python stand-in), and with a stand-in nvidia-smi so the
GPU model is recorded in the manifest and shown in the report's runner column."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.helpers.gitrepo import GitRepo, run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu-proof"
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "repo")
    shutil.copytree(EXAMPLE, repo.path, dirs_exist_ok=True)
    repo.write({"params.yaml": "steps: 20\nsize: 64\n"})
    repo.commit("gpu proof")
    return repo


@pytest.fixture
def path_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bin directory first on PATH, beside this interpreter (the stage calls `python`).
    ci-ml looks nvidia-smi up on its own PATH, which is what these tests vary."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    python = bindir / "python"
    python.symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return bindir


def run_example(repo: GitRepo, cache: Path, *flags: str) -> dict[str, object]:
    code, out, err = run_cli(
        "run",
        "--all",
        "--json",
        "--cache",
        str(cache),
        "--trust",
        "trusted",
        *flags,
        cwd=repo.path,
        env={"CI": "true"},
    )
    assert code == 0, err
    stages = json.loads(out)["stages"]
    assert [s["name"] for s in stages] == ["gpu-proof"]
    return stages[0]  # type: ignore[no-any-return]


def runner_cell(repo: GitRepo, cache: Path, tmp_path: Path) -> str:
    out = tmp_path / "report"
    code, _out, err = run_cli(
        "report",
        "--base",
        "HEAD",
        "--cache",
        str(cache),
        "--out",
        str(out),
        "--no-fail",
        cwd=repo.path,
    )
    assert code == 0, err
    body = (out / "report.md").read_text(encoding="utf-8")
    row = next(line for line in body.splitlines() if line.startswith("| `gpu-proof`"))
    return row.rstrip(" |").rsplit("|", 1)[1].strip()


def test_the_gpu_proof_runs_on_a_cpu_with_allow_no_gpu(
    repo: GitRepo, path_with: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    stage = run_example(repo, cache, "--allow-no-gpu")
    assert (stage["status"], stage["gpu"]) == ("ran", None)
    metrics = json.loads((repo.path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["device"] == "cpu"
    assert metrics["gpu"] == "none"
    assert metrics["backend"].startswith("torch" if HAS_TORCH else "pure-python stand-in")
    assert metrics["loss"] >= 0
    assert runner_cell(repo, cache, tmp_path) == "CPU (no GPU)"


def test_without_a_gpu_on_ci_the_gpu_proof_fails_clearly(
    repo: GitRepo, path_with: Path, tmp_path: Path
) -> None:
    code, out, _err = run_cli(
        "run",
        "--all",
        "--json",
        "--cache",
        str(tmp_path / "cache"),
        cwd=repo.path,
        env={"CI": "true"},
    )
    assert code == 1
    stage = json.loads(out)["stages"][0]
    assert stage["status"] == "failed"
    assert "needs a GPU (gpu: true in ci-ml.yaml) and nvidia-smi finds none" in stage["detail"]


def test_the_gpu_model_is_recorded_in_the_manifest_and_the_report(
    repo: GitRepo, path_with: Path, tmp_path: Path
) -> None:
    # A stand-in for the driver's nvidia-smi: what ci-ml asks it, it answers as an H100 would.
    fake = path_with / "nvidia-smi"
    fake.write_text(
        '#!/bin/sh\n[ "$1" = "--query-gpu=name" ] || exit 2\necho "NVIDIA H100 80GB HBM3"\n'
    )
    fake.chmod(0o755)
    cache = tmp_path / "cache"
    stage = run_example(repo, cache)
    assert (stage["status"], stage["gpu"]) == ("ran", "NVIDIA H100 80GB HBM3")
    manifest = json.loads((cache / "trusted/manifests" / f"{stage['key']}.json").read_text())
    assert manifest["run"]["gpu"] == "NVIDIA H100 80GB HBM3"
    assert manifest["run"]["labels"] == ["self-hosted", "linux", "gpu"]
    assert manifest["run"]["duration_s"] > 0
    assert runner_cell(repo, cache, tmp_path) == "NVIDIA H100 80GB HBM3"
