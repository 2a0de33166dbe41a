from __future__ import annotations

import pytest

from ci_ml.run.stage_env import is_scrubbed, stage_environment

SECRETS = {
    "GITHUB_TOKEN": "ghs_x",
    "GH_TOKEN": "ghp_x",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token",
    "ACTIONS_RUNTIME_TOKEN": "rt",
    "INPUT_GITHUB-TOKEN": "ghs_y",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "session",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/tmp/token",
    "MLFLOW_TRACKING_TOKEN": "mlflow",
    "CI_ML_CACHE": "s3://bucket/ci-ml",
}
HARMLESS = {"PATH": "/usr/bin", "HOME": "/home/r", "GITHUB_SHA": "abc", "AWS_REGION": "eu-west-1"}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_credentials_are_scrubbed(name: str) -> None:
    assert is_scrubbed(name)


def test_the_stage_sees_context_but_no_credentials() -> None:
    env = stage_environment({**SECRETS, **HARMLESS}, extra={"CI_ML_STAGE": "train"})
    assert env == {**HARMLESS, "CI_ML_STAGE": "train"}


def test_pass_env_opts_names_and_globs_back_in() -> None:
    env = stage_environment({**SECRETS, **HARMLESS}, pass_env=["AWS_ACCESS_KEY_ID", "AWS_SECRET_*"])
    assert env == {**HARMLESS, "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret"}


def test_stage_env_settings_win_over_the_inherited_ones() -> None:
    env = stage_environment({"PATH": "/usr/bin"}, stage_env={"PATH": "/opt/bin", "SEED": "1"})
    assert env == {"PATH": "/opt/bin", "SEED": "1"}
