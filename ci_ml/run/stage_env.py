"""The environment a stage command sees: ci-ml's own, minus every credential. [pure]

Stage commands are pull-request code. Whatever ci-ml can reach (the GitHub token, the runner's
OIDC request token that mints credentials for the cache's AWS role, the cache's AWS keys, the
MLflow token, the action's inputs) would let a PR's training script write the trusted cache or
act as the workflow. So those names never reach a stage unless `pass-env` in ci-ml.yaml names
them (see docs/security.md for what that risks).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

# Glob patterns, matched case-sensitively against variable names.
SCRUBBED: tuple[str, ...] = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "ACTIONS_*",  # ACTIONS_ID_TOKEN_REQUEST_TOKEN/URL, ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_URL
    "INPUT_*",  # the action's inputs, github-token among them
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_*",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_ENDPOINT_URL*",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "DATABRICKS_TOKEN",  # MLflow on Databricks
    "DATABRICKS_CLIENT_SECRET",
    "CI_ML_*",  # the cache URL, trust and signing settings
)


def is_scrubbed(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SCRUBBED)


def stage_environment(
    env: Mapping[str, str],
    *,
    pass_env: Iterable[str] = (),
    stage_env: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`env` without the scrubbed names, except those `pass_env` (names or globs) lets through;
    then the stage's own `env:` settings and `extra` (what ci-ml tells the stage) on top."""
    allowed = tuple(pass_env)
    kept = {
        name: value
        for name, value in env.items()
        if not is_scrubbed(name) or any(fnmatch.fnmatchcase(name, p) for p in allowed)
    }
    return {**kept, **(stage_env or {}), **(extra or {})}
