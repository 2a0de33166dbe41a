from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.gitrepo import GitRepo, run_cli

REF = "octo/ci-ml@" + "a" * 40


def test_init_writes_pinned_workflows_and_settings(git_repo: GitRepo) -> None:
    git_repo.write({"ml/dvc.yaml": "stages:\n  train:\n    cmd: echo\n"}, commit="base")
    code, out, err = run_cli(
        "init", "--action-ref", REF, "--gpu-labels", "self-hosted,a100", cwd=git_repo.path / "ml"
    )
    assert code == 0, err
    workflows = git_repo.path / ".github/workflows"
    assert sorted(p.name for p in workflows.glob("*.yml")) == [
        "ci-ml-comment.yml",
        "ci-ml-main.yml",
        "ci-ml-pr.yml",
        "ci-ml-retrain.yml",
    ]
    pr = (workflows / "ci-ml-pr.yml").read_text()
    assert f"uses: {REF} # ci-ml v" in pr
    assert "0000000000000000000000000000000000000000" not in pr
    assert "CI_ML_PIPELINE: ml" in pr
    retrain = yaml.safe_load((workflows / "ci-ml-retrain.yml").read_text())
    assert retrain["jobs"]["retrain"]["runs-on"] == ["self-hosted", "a100"]
    settings = yaml.safe_load((git_repo.path / "ml/ci-ml.yaml").read_text())
    assert settings["gpu-runner"] == ["self-hosted", "a100"]
    assert "Next steps" in out
    # ci-ml itself accepts what init wrote.
    assert run_cli("plan", "--base", "HEAD", cwd=git_repo.path / "ml")[0] == 0


def test_init_refuses_to_overwrite_without_force(git_repo: GitRepo) -> None:
    git_repo.write({"dvc.yaml": "stages: {}\n", "ci-ml.yaml": "runner: [x]\n"}, commit="base")
    code, _out, err = run_cli("init", "--action-ref", REF, cwd=git_repo.path)
    assert code == 2
    assert "ci-ml.yaml already exist(s); pass --force to overwrite." in err
    assert (git_repo.path / "ci-ml.yaml").read_text() == "runner: [x]\n"
    assert run_cli("init", "--action-ref", REF, "--force", cwd=git_repo.path)[0] == 0


def test_init_without_dvc_writes_a_pipeline_in_ci_ml_yaml(git_repo: GitRepo) -> None:
    git_repo.write({"README.md": "x"}, commit="base")
    assert run_cli("init", "--action-ref", REF, cwd=git_repo.path)[0] == 0
    settings = yaml.safe_load((git_repo.path / "ci-ml.yaml").read_text())
    assert settings["stages"]["train"]["cmd"] == "python train.py"


def test_action_ref_must_be_pinned(git_repo: GitRepo) -> None:
    code, _out, err = run_cli("init", "--action-ref", "octo/ci-ml@v1", cwd=git_repo.path)
    assert code == 2
    assert "40-hex commit SHA" in err


def test_written_workflows_pass_the_linters(git_repo: GitRepo) -> None:
    git_repo.write({"dvc.yaml": "stages: {}\n"}, commit="base")
    assert run_cli("init", "--action-ref", REF, cwd=git_repo.path)[0] == 0
    bindir = Path(sys.executable).parent
    files = sorted(str(p) for p in (git_repo.path / ".github/workflows").glob("*.yml"))
    subprocess.run([str(bindir / "actionlint"), "-no-color", *files], check=True, cwd=git_repo.path)
    subprocess.run(
        [str(bindir / "zizmor"), "--offline", "--strict-collection", *files],
        check=True,
        capture_output=True,
    )
