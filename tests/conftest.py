"""Guards and shared fixtures: no test touches the developer's home, git config or cloud."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.gitrepo import GitRepo


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(
            ("GITHUB_", "AWS_", "CI_ML_", "GIT_", "MLFLOW_", "DATABRICKS_")
        ) or name in ("CI", "RUNNER_TEMP"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
        monkeypatch.setenv(f"GIT_{role}_DATE", "2026-01-01T00:00:00+00:00")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/e2e/golden/* from this run instead of comparing (review the diff)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return GitRepo.init(tmp_path / "repo")


# The moto server (its own process on 127.0.0.1) and a fresh bucket, for every suite.
from tests.helpers.github_server import github_server  # noqa: E402
from tests.helpers.mlflow_server import mlflow_server  # noqa: E402
from tests.helpers.moto_server import moto_server, s3_bucket  # noqa: E402

__all__ = ["github_server", "mlflow_server", "moto_server", "s3_bucket"]
