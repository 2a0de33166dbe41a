from __future__ import annotations

import pytest

from ci_ml.config import MlflowSettings
from ci_ml.errors import UserError
from ci_ml.mlflow.target import parent_spec, resolve_target, run_context, withheld_env


def test_logging_is_off_without_a_tracking_uri() -> None:
    assert resolve_target(MlflowSettings(), {}, default_experiment="repo") is None


@pytest.mark.parametrize(
    ("flag", "env", "file", "url"),
    [
        ("http://flag", {"MLFLOW_TRACKING_URI": "http://env"}, "http://file", "http://flag"),
        (None, {"MLFLOW_TRACKING_URI": "http://env/"}, "http://file", "http://env"),
        (None, {}, "https://file:8443/mlflow/", "https://file:8443/mlflow"),
    ],
)
def test_tracking_uri_precedence(
    flag: str | None, env: dict[str, str], file: str, url: str
) -> None:
    settings = MlflowSettings(tracking_uri=file)
    target = resolve_target(settings, env, flag_uri=flag, default_experiment="repo")
    assert target is not None
    assert target.url == url


@pytest.mark.parametrize(
    ("env", "file", "experiment"),
    [
        ({"MLFLOW_EXPERIMENT_NAME": "env-exp"}, "file-exp", "env-exp"),
        ({}, "file-exp", "file-exp"),
        ({}, None, "repo"),
    ],
)
def test_experiment_precedence(env: dict[str, str], file: str | None, experiment: str) -> None:
    settings = MlflowSettings(tracking_uri="http://x", experiment=file)
    target = resolve_target(settings, env, default_experiment="repo")
    assert target is not None
    assert target.experiment == experiment


def test_credentials_stay_out_of_the_url_and_repr() -> None:
    target = resolve_target(
        MlflowSettings(),
        {
            "MLFLOW_TRACKING_URI": "https://bob:hunter2@mlflow.example.com",
            "MLFLOW_TRACKING_TOKEN": "tok",
        },
        default_experiment="repo",
    )
    assert target is not None
    assert target.url == "https://mlflow.example.com"
    assert (target.username, target.password, target.token) == ("bob", "hunter2", "tok")
    assert "hunter2" not in repr(target)
    assert "tok" not in repr(target)


def test_databricks_uses_its_host_and_token() -> None:
    env = {
        "MLFLOW_TRACKING_URI": "databricks",
        "DATABRICKS_HOST": "https://dbc-1.cloud.databricks.com/",
        "DATABRICKS_TOKEN": "dapi",
    }
    target = resolve_target(MlflowSettings(), env, default_experiment="/Users/me/repo")
    assert target is not None
    assert (target.url, target.token, target.databricks) == (
        "https://dbc-1.cloud.databricks.com",
        "dapi",
        True,
    )
    assert (
        target.run_page("1", "r")
        == "https://dbc-1.cloud.databricks.com/#mlflow/experiments/1/runs/r"
    )


def test_a_non_http_uri_is_a_user_error_without_its_password() -> None:
    with pytest.raises(UserError, match="is not an http") as info:
        resolve_target(
            MlflowSettings(), {"MLFLOW_TRACKING_URI": "sqlite://u:pw@/x.db"}, default_experiment="r"
        )
    assert "pw" not in str(info.value)


def test_stage_credentials_are_withheld_unless_opted_in() -> None:
    assert "MLFLOW_TRACKING_TOKEN" in withheld_env(MlflowSettings())
    assert withheld_env(MlflowSettings(stage_credentials=True)) == ()


def test_run_context_from_a_pull_request_event() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/p",
        "GITHUB_RUN_ID": "9",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_REF": "refs/pull/12/merge",
    }
    context = run_context(env, {"pull_request": {"number": 12}}, commit="a" * 40)
    assert (context.branch, context.pr, context.workflow_run_id) == ("feature", 12, "9-2")
    assert context.workflow_url == "https://github.com/acme/p/actions/runs/9/attempts/2"
    tags = {t.key: t.value for t in parent_spec(context, start_ms=1, end_ms=2, failed=False).tags}
    assert tags["ci_ml.pr"] == "12"
    assert tags["mlflow.source.git.commit"] == "a" * 40


def test_a_uri_from_ci_ml_yaml_gets_no_credentials_from_the_environment() -> None:
    # ci-ml.yaml is the PR's file: pointing it at the PR author's server must not hand over
    # the team's token.
    env = {"MLFLOW_TRACKING_TOKEN": "team-token", "MLFLOW_TRACKING_PASSWORD": "pw"}
    settings = MlflowSettings(tracking_uri="https://attacker.example")
    target = resolve_target(settings, env, default_experiment="x")
    assert target is not None
    assert (target.token, target.password) == (None, None)
    from_env = resolve_target(
        MlflowSettings(),
        {**env, "MLFLOW_TRACKING_URI": "https://ml.example"},
        default_experiment="x",
    )
    assert from_env is not None
    assert from_env.token == "team-token"
