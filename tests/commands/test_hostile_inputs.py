"""Inputs a pull request shapes to exhaust memory, hang or crash ci-ml: each ends in a clear
message within 10 s (a real `ci-ml` process, killed at the limit, so a hang fails the test)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.gitrepo import GitRepo

LIMIT_S = 10
PIPELINE = """\
stages:
  train:
    cmd: echo run
    deps: [train.sh]
    params: [lr]
    metrics:
      - metrics.yaml:
          cache: false
    plots:
      - confusion.csv:
          template: confusion
          x: actual
          y: predicted
          cache: false
"""
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(ord('b') + i)}: &{chr(ord('b') + i)} [{', '.join(['*' + chr(ord('a') + i)] * 9)}]\n"
    for i in range(8)
)


def ci_ml(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ci_ml", *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
        env={**os.environ, "MPLBACKEND": "Agg"},
        check=False,
    )


@pytest.fixture
def repo(git_repo: GitRepo) -> GitRepo:
    git_repo.write(
        {
            "dvc.yaml": PIPELINE,
            "params.yaml": "lr: 0.1\n",
            "train.sh": "",
            ".gitignore": "metrics.yaml\nconfusion.csv\n",
        },
        commit="base",
    )
    git_repo.git("branch", "-M", "main")
    return git_repo


def test_a_metrics_file_linked_to_dev_zero_is_refused(repo: GitRepo) -> None:
    (repo.path / "metrics.yaml").symlink_to("/dev/zero")
    result = ci_ml(repo, "report", "--base", "main", "--no-fail", "--out", "rep")
    assert result.returncode == 0, result.stderr
    assert "metrics.yaml is a symbolic link" in result.stderr


def test_a_metrics_fifo_does_not_hang(repo: GitRepo) -> None:
    os.mkfifo(repo.path / "metrics.yaml")
    result = ci_ml(repo, "report", "--base", "main", "--no-fail", "--out", "rep")
    assert result.returncode == 0, result.stderr
    assert "metrics.yaml is not a regular file" in result.stderr


def test_a_billion_laughs_in_metrics_is_refused(repo: GitRepo) -> None:
    (repo.path / "metrics.yaml").write_text(LAUGHS)
    result = ci_ml(repo, "report", "--base", "main", "--no-fail", "--out", "rep")
    assert result.returncode == 2, result.stderr  # as any malformed metrics file
    assert "metrics.yaml: the YAML aliases (*name) expand to over 1,000,000 values" in result.stderr


def test_a_billion_laughs_in_params_is_a_user_error(repo: GitRepo) -> None:
    (repo.path / "params.yaml").write_text("lr: 0.1\n" + LAUGHS)
    result = ci_ml(repo, "plan", "--base", "main")
    assert result.returncode == 2, result.stderr
    assert "params.yaml: the YAML aliases" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_huge_confusion_matrix_is_not_drawn(repo: GitRepo) -> None:
    rows = "".join(f"c{i},c{(i * 7) % 3000}\n" for i in range(3000))
    (repo.path / "confusion.csv").write_text("actual,predicted\n" + rows)
    result = ci_ml(repo, "report", "--base", "main", "--no-fail", "--out", "rep")
    assert result.returncode == 0, result.stderr
    assert "3000 classes: over the 200" in (repo.path / "rep/report.md").read_text()


def test_non_utf8_params_are_a_user_error(repo: GitRepo) -> None:
    (repo.path / "params.yaml").write_bytes(b"lr: 0.1\nname: caf\xe9\n")
    result = ci_ml(repo, "plan", "--base", "main")
    assert result.returncode == 2, result.stderr
    assert "params.yaml is not UTF-8 text" in result.stderr
    assert "internal error" not in result.stderr


def test_a_directory_dep_holding_a_fifo_and_a_link_to_dev_zero_plans(git_repo: GitRepo) -> None:
    # data/ is not in git (fetched, or DVC-tracked without a pointer): ci-ml hashes it on disk.
    git_repo.write(
        {
            "dvc.yaml": "stages:\n  a:\n    cmd: ls data\n    deps: [data]\n",
            ".gitignore": "data/\n",
        },
        commit="base",
    )
    (git_repo.path / "data").mkdir()
    (git_repo.path / "data" / "real.txt").write_text("1\n")
    os.mkfifo(git_repo.path / "data" / "pipe")
    (git_repo.path / "data" / "zeros").symlink_to("/dev/zero")
    result = ci_ml(git_repo, "plan", "--base", "HEAD", "--json")
    assert result.returncode == 0, result.stderr
    assert "data/pipe is not a regular file or a link" in result.stderr
