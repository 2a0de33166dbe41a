from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ci_ml.commands.init import SETUP_PYTHON, read_template, starter_config
from tests.helpers.gitrepo import GitRepo, plan_json, run_cli

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
    ("files", "expected", "pip_cache_key"),
    [
        (
            {"requirements.txt": "numpy\n"},
            "          requirements: requirements.txt\n",
            "requirements.txt",
        ),
        (
            {"pyproject.toml": '[project]\nname = "p"\nversion = "0"\n'},
            "          setup: python -m pip install .\n",
            "pyproject.toml",
        ),
        (
            {"environment.yml": "dependencies: [numpy]\n"},
            "          setup: conda env update --name base --file environment.yml\n",
            None,
        ),
        ({"pyproject.toml": "[tool.ruff]\n"}, None, None),
    ],
)
def test_init_installs_the_pipeline_dependencies_in_every_job_that_runs_stages(
    git_repo: GitRepo, files: dict[str, str], expected: str | None, pip_cache_key: str | None
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
        [run_job] = [
            job["steps"]
            for job in yaml.safe_load(text)["jobs"].values()
            if any(step.get("with", {}).get("command") == "run" for step in job["steps"])
        ]
        setup_python = [s for s in run_job if s.get("uses", "").startswith("actions/setup-python@")]
        if pip_cache_key is None:
            assert setup_python == [], name
        else:  # right before the ci-ml step, so the stages get that Python and pip's cache
            after = run_job[run_job.index(setup_python[0]) + 1]
            assert after["with"]["command"] == "run", name
            assert setup_python[0]["with"] == {
                "python-version": "3.12",
                "cache": "pip",
                "cache-dependency-path": pip_cache_key,
            }
    assert "command: run" not in (workflows / "ci-ml-comment.yml").read_text()


def test_init_pins_setup_python_as_the_action_does() -> None:
    action = (Path(__file__).resolve().parents[2] / "action.yml").read_text(encoding="utf-8")
    assert f"uses: {SETUP_PYTHON}\n" in action


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


@pytest.mark.parametrize(
    ("engine", "pr_labels", "main_labels"),
    [
        ("hosted", "ci-ml-gpu-t4-pr", "ci-ml-gpu-t4-main"),
        ("arc", "ci-ml-gpu-pr", "ci-ml-gpu-main"),
        ("aws", "self-hosted, linux, x64, ci-ml-gpu-pr", "self-hosted, linux, x64, ci-ml-gpu-main"),
    ],
)
def test_init_gpu_runner_writes_separate_pr_and_main_labels_and_links_the_docs(
    git_repo: GitRepo, engine: str, pr_labels: str, main_labels: str
) -> None:
    git_repo.write({"dvc.yaml": "stages:\n  train:\n    cmd: echo\n"}, commit="base")
    code, out, err = run_cli("init", "--action-ref", REF, "--gpu-runner", engine, cwd=git_repo.path)
    assert code == 0, err
    workflows = git_repo.path / ".github/workflows"
    pr = yaml.safe_load((workflows / "ci-ml-pr.yml").read_text())
    main = yaml.safe_load((workflows / "ci-ml-main.yml").read_text())
    assert pr["env"]["CI_ML_GPU_RUNNER"] == pr_labels
    assert main["env"]["CI_ML_GPU_RUNNER"] == main_labels
    settings = yaml.safe_load((git_repo.path / "ci-ml.yaml").read_text())
    assert settings["gpu-runner"] == pr_labels.split(", ")
    assert "docs/gpu-runners.md#" in out
    lint = yaml.safe_load((git_repo.path / ".github/actionlint.yaml").read_text())
    assert pr_labels.split(", ")[-1] in lint["self-hosted-runner"]["labels"]
    assert main_labels.split(", ")[-1] in lint["self-hosted-runner"]["labels"]
    # What the PR workflow's plan routes a GPU stage to.
    written = (git_repo.path / "ci-ml.yaml").read_text()
    assert "stages:\n  # train:\n  #   gpu: true\n" in written
    gpu = written.replace("  # train:\n  #   gpu: true\n", "  train:\n    gpu: true\n")
    git_repo.write({"ci-ml.yaml": gpu}, commit="gpu")
    git_repo.write({"dvc.yaml": "stages:\n  train:\n    cmd: echo 2\n"}, commit="change")
    env = {"CI_ML_GPU_RUNNER": pr["env"]["CI_ML_GPU_RUNNER"]}
    doc = plan_json(git_repo, "--base", "HEAD~1", env=env)
    assert doc["runs_on"] == pr_labels.split(", ")


def test_init_gpu_runner_and_gpu_labels_are_one_choice(git_repo: GitRepo) -> None:
    git_repo.write({"dvc.yaml": "stages: {}\n"}, commit="base")
    code, _out, err = run_cli(
        "init",
        "--action-ref",
        REF,
        "--gpu-runner",
        "arc",
        "--gpu-labels",
        "gpu",
        cwd=git_repo.path,
    )
    assert code == 2
    assert "--gpu-runner and --gpu-labels" in err


def test_workflows_written_for_an_engine_pass_the_linters(git_repo: GitRepo) -> None:
    git_repo.write({"dvc.yaml": "stages: {}\n"}, commit="base")
    assert run_cli("init", "--action-ref", REF, "--gpu-runner", "aws", cwd=git_repo.path)[0] == 0
    bindir = Path(sys.executable).parent
    files = sorted(str(p) for p in (git_repo.path / ".github/workflows").glob("*.yml"))
    subprocess.run([str(bindir / "actionlint"), "-no-color", *files], check=True, cwd=git_repo.path)


def test_pr_template_gates_gpu_jobs_and_bounds_every_job() -> None:
    pr = yaml.safe_load(read_template("pr.yml"))
    main = yaml.safe_load(read_template("main.yml"))
    on = pr[True]["pull_request"]  # PyYAML reads the key `on` as True
    assert "labeled" in on["types"]
    assert "ci-ml:run-gpu" in pr["jobs"]["plan"]["if"]
    run = pr["jobs"]["run"]
    assert run["timeout-minutes"] == "${{ matrix.timeout-minutes }}"
    assert run["environment"] == "${{ matrix.environment }}"
    assert main["jobs"]["run"]["timeout-minutes"] == (
        "${{ fromJSON(needs.plan.outputs.timeout-minutes) }}"
    )
    # The budget and the approval mode are the workflow's, never ci-ml.yaml's.
    assert pr["env"]["CI_ML_GPU_BUDGET_MINUTES"] == "${{ vars.CI_ML_GPU_BUDGET_MINUTES }}"
    assert pr["env"]["CI_ML_GPU_APPROVAL"] == "${{ vars.CI_ML_GPU_APPROVAL }}"


def test_every_job_of_every_template_has_a_timeout() -> None:
    # GitHub's default is 360 minutes: a hung job, or a fork PR's, would hold a runner that long.
    templates = Path(__file__).resolve().parents[2] / "templates"
    missing = [
        f"{path.name}:{name}"
        for path in sorted(templates.glob("*.yml"))
        for name, job in yaml.safe_load(path.read_text())["jobs"].items()
        if "timeout-minutes" not in job
    ]
    assert missing == []
