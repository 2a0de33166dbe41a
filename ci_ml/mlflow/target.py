"""Where MLflow logging goes and what the pipeline's parent run says about this CI run. [pure]

Logging is on when a tracking URI is set: `--mlflow-tracking-uri` (the action's
`mlflow-tracking-uri` input), else MLFLOW_TRACKING_URI, else `mlflow.tracking-uri` in
ci-ml.yaml. Credentials are read the MLflow way and kept out of every repr and message, and
are sent only to a URI the workflow chose (a flag or the environment), never to one that
ci-ml.yaml names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ci_ml.config import MlflowSettings
from ci_ml.errors import UserError
from ci_ml.mlflow.batches import Entry, RunSpec

# Never passed to stage commands unless ci-ml.yaml says `mlflow: {stage-credentials: true}`.
CREDENTIAL_VARS = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
)
TRUE = ("true", "1", "yes", "on")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A tracking server's REST base URL (no credentials in it) and how to authenticate."""

    url: str
    experiment: str
    databricks: bool = False
    token: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    verify: bool | str = True  # False: MLFLOW_TRACKING_INSECURE_TLS; str: a CA bundle

    def run_page(self, experiment_id: str, run_id: str) -> str:
        if self.databricks:
            return f"{self.url}/#mlflow/experiments/{experiment_id}/runs/{run_id}"
        return f"{self.url}/#/experiments/{experiment_id}/runs/{run_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """This CI run, as the parent run's tags describe it."""

    commit: str
    branch: str | None = None
    pr: int | None = None
    repository: str | None = None
    workflow_url: str | None = None
    workflow_run_id: str | None = None  # shared by the jobs of one workflow run attempt


def resolve_target(
    settings: MlflowSettings,
    env: Mapping[str, str],
    *,
    flag_uri: str | None = None,
    default_experiment: str,
) -> Target | None:
    """The target, or None when logging is off (no tracking URI anywhere)."""
    uri = flag_uri or env.get("MLFLOW_TRACKING_URI") or settings.tracking_uri
    if not uri:
        return None
    # ci-ml.yaml is the PR's own file: a URI from it gets no credentials from the environment,
    # or a PR could point it at its own server and collect the team's token.
    if not (flag_uri or env.get("MLFLOW_TRACKING_URI")):
        env = {k: v for k, v in env.items() if k not in CREDENTIAL_VARS}
    experiment = env.get("MLFLOW_EXPERIMENT_NAME") or settings.experiment or default_experiment
    verify: bool | str = env.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True
    if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in TRUE:
        verify = False
    if uri == "databricks" or uri.startswith("databricks://"):
        host = env.get("DATABRICKS_HOST", "").rstrip("/")
        if not host.startswith(("https://", "http://")):
            raise UserError(
                "MLFLOW_TRACKING_URI is `databricks` but DATABRICKS_HOST is not set to the "
                "workspace URL (https://...). Set DATABRICKS_HOST and DATABRICKS_TOKEN."
            )
        return Target(
            url=host,
            experiment=experiment,
            databricks=True,
            token=env.get("DATABRICKS_TOKEN") or None,
            verify=verify,
        )
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"MLflow tracking URI {_safe(uri)!r} is not an http(s) URL. ci-ml logs through "
            "the tracking server's REST API: start `mlflow server` and point "
            "MLFLOW_TRACKING_URI (or mlflow.tracking-uri in ci-ml.yaml) at it."
        )
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return Target(
        url=urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")),
        experiment=experiment,
        token=env.get("MLFLOW_TRACKING_TOKEN") or None,
        username=env.get("MLFLOW_TRACKING_USERNAME") or parts.username or None,
        password=env.get("MLFLOW_TRACKING_PASSWORD") or parts.password or None,
        verify=verify,
    )


def _safe(uri: str) -> str:
    """A URI with any user:password@ removed, for messages."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def withheld_env(settings: MlflowSettings) -> tuple[str, ...]:
    """The variables stage commands must not see."""
    return () if settings.stage_credentials else CREDENTIAL_VARS


def granted_env(settings: MlflowSettings) -> tuple[str, ...]:
    """The credentials stage commands may see although ci-ml scrubs them
    (ci_ml/run/stage_env.py): those not withheld, that is all with `stage-credentials: true`."""
    withheld = withheld_env(settings)
    return tuple(name for name in CREDENTIAL_VARS if name not in withheld)


def run_context(env: Mapping[str, str], event: Mapping[str, Any], *, commit: str) -> RunContext:
    """Branch, PR and workflow run from the GitHub Actions environment and event."""
    pull = event.get("pull_request")
    pr = pull.get("number") if isinstance(pull, Mapping) else None
    ref = env.get("GITHUB_REF", "")
    if pr is None and ref.startswith("refs/pull/"):
        number = ref.split("/")[2]
        pr = int(number) if number.isdigit() else None
    branch = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME") or None
    server, repo, run_id = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    attempt = env.get("GITHUB_RUN_ATTEMPT") or "1"
    url = f"{server}/{repo}/actions/runs/{run_id}/attempts/{attempt}"
    return RunContext(
        commit=commit,
        branch=branch,
        pr=pr if isinstance(pr, int) and not isinstance(pr, bool) else None,
        repository=repo or None,
        workflow_url=url if server and repo and run_id else None,
        workflow_run_id=f"{run_id}-{attempt}" if run_id else None,
    )


def parent_spec(context: RunContext, *, start_ms: int, end_ms: int, failed: bool) -> RunSpec:
    tags = [
        Entry("ci_ml.role", "pipeline"),
        Entry("mlflow.source.git.commit", context.commit),
        Entry("mlflow.source.type", "JOB"),
    ]
    optional = {
        "mlflow.source.git.branch": context.branch,
        "mlflow.source.name": context.repository,
        "ci_ml.pr": str(context.pr) if context.pr is not None else None,
        "ci_ml.workflow_run_url": context.workflow_url,
        "ci_ml.workflow_run_id": context.workflow_run_id,
    }
    tags += [Entry(k, v) for k, v in optional.items() if v]
    name = f"ci-ml {context.commit[:7]}" + (f" PR #{context.pr}" if context.pr else "")
    return RunSpec(
        stage=None,
        run_name=name,
        tags=tuple(tags),
        start_ms=start_ms,
        end_ms=end_ms,
        status="FAILED" if failed else "FINISHED",
    )
