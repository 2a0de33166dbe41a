from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ci_ml.commands.init import starter_config
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


def test_init_keeps_an_existing_ci_ml_yaml_and_writes_the_workflows(git_repo: GitRepo) -> None:
    settings = "stages:\n  train:\n    gpu: true\n"
    git_repo.write({"dvc.yaml": "stages: {}\n", "ci-ml.yaml": settings}, commit="base")
    code, out, err = run_cli("init", "--action-ref", REF, cwd=git_repo.path)
    assert code == 0, err
    assert "kept ci-ml.yaml" in out
    assert (git_repo.path / "ci-ml.yaml").read_text() == settings
    assert (git_repo.path / ".github/workflows/ci-ml-pr.yml").is_file()
    # --force is about the workflows; the settings are still kept.
    assert run_cli("init", "--action-ref", REF, "--force", cwd=git_repo.path)[0] == 0
    assert (git_repo.path / "ci-ml.yaml").read_text() == settings


def test_init_refuses_to_overwrite_workflows_without_force(git_repo: GitRepo) -> None:
    git_repo.write({"dvc.yaml": "stages: {}\n"}, commit="base")
    assert run_cli("init", "--action-ref", REF, cwd=git_repo.path)[0] == 0
    code, _out, err = run_cli("init", "--action-ref", REF, cwd=git_repo.path)
    assert code == 2
    assert ".github/workflows/ci-ml-pr.yml" in err
    assert "pass --force to overwrite." in err


def test_starter_config_is_valid_yaml_whichever_example_lines_are_uncommented(
    tmp_path: Path,
) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    lines = starter_config(tmp_path, ["self-hosted", "gpu"], "").splitlines()
    examples = [n for n, line in enumerate(lines) if line.startswith("  # ")]
    assert len(examples) == 4
    for chosen in itertools.chain.from_iterable(
        itertools.combinations(examples, k) for k in range(len(examples) + 1)
    ):
        text = "\n".join(
            line.replace("# ", "", 1) if n in chosen else line for n, line in enumerate(lines)
        )
        assert isinstance(yaml.safe_load(text), dict), text


@pytest.mark.parametrize("uncomment", [(), ("train",), ("gates",), ("train", "gates")])
def test_starter_config_examples_are_valid_settings_once_uncommented(
    git_repo: GitRepo, uncomment: tuple[str, ...]
) -> None:
    git_repo.write(
        {"dvc.yaml": "stages:\n  train:\n    cmd: echo\n", "params.yaml": "x: 1\n"},
        commit="base",
    )
    assert run_cli("init", "--action-ref", REF, cwd=git_repo.path)[0] == 0
    config = git_repo.path / "ci-ml.yaml"
    prefixes = {"train": ("  # train:", "  #   gpu:"), "gates": ("  # accuracy:", "  # loss:")}
    chosen = [p for name in uncomment for p in prefixes[name]]
    config.write_text(
        "".join(
            line.replace("# ", "", 1) if line.startswith(tuple(chosen)) else line
            for line in config.read_text().splitlines(keepends=True)
        )
    )
    code, _out, err = run_cli("plan", "--base", "HEAD", cwd=git_repo.path)
    assert code == 0, err


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"requirements.txt": "numpy\n"}, "          requirements: requirements.txt\n"),
        (
            {"pyproject.toml": '[project]\nname = "p"\nversion = "0"\n'},
            "          setup: python -m pip install .\n",
        ),
        (
            {"environment.yml": "dependencies: [numpy]\n"},
            "          setup: conda env update --name base --file environment.yml\n",
        ),
        ({"pyproject.toml": "[tool.ruff]\n"}, None),
    ],
)
def test_init_installs_the_pipeline_dependencies_in_every_job_that_runs_stages(
    git_repo: GitRepo, files: dict[str, str], expected: str | None
) -> None:
    git_repo.write({"dvc.yaml": "stages: {}\n", **files}, commit="base")
    assert run_cli("init", "--action-ref", REF, cwd=git_repo.path)[0] == 0
    workflows = git_repo.path / ".github/workflows"
    for name in ("pr", "main", "retrain"):
        text = (workflows / f"ci-ml-{name}.yml").read_text()
        if expected is None:
            assert "requirements:" not in text
            assert "setup:" not in text
        else:
            assert f"          command: run\n{expected}" in text, name
            assert text.count(expected) == 1
    assert "command: run" not in (workflows / "ci-ml-comment.yml").read_text()


def test_init_finds_requirements_of_a_pipeline_in_a_subdirectory(git_repo: GitRepo) -> None:
    git_repo.write({"ml/dvc.yaml": "stages: {}\n", "ml/requirements.txt": "x\n"}, commit="b")
    assert run_cli("init", "--action-ref", REF, cwd=git_repo.path / "ml")[0] == 0
    text = (git_repo.path / ".github/workflows/ci-ml-main.yml").read_text()
    assert "          requirements: ml/requirements.txt\n" in text


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
    git_repo.write({"dvc.yaml": "stages: {}\n", "requirements.txt": "numpy\n"}, commit="base")
    assert run_cli("init", "--action-ref", REF, cwd=git_repo.path)[0] == 0
    bindir = Path(sys.executable).parent
    files = sorted(str(p) for p in (git_repo.path / ".github/workflows").glob("*.yml"))
    subprocess.run([str(bindir / "actionlint"), "-no-color", *files], check=True, cwd=git_repo.path)
    subprocess.run(
        [str(bindir / "zizmor"), "--offline", "--strict-collection", *files],
        check=True,
        capture_output=True,
    )
