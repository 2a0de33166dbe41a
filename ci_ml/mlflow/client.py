"""A small client for the MLflow tracking server's REST API: the MLflow edge.

It speaks the documented REST API (https://mlflow.org/docs/latest/rest-api.html) with
`requests`, which ci-ml already depends on, instead of the `mlflow` client: that package and
its dependencies would cost seconds of import and install time on every CI job, and its
default retries hold a job for minutes against a dead server. Here every request has short
timeouts and no retries, `/health` is asked first, and any failure is one `MlflowError`
naming the server. requests exceptions never leave this module; credentials never enter a
message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ci_ml.errors import CiMlError
from ci_ml.mlflow.batches import Batch, Entry, RunSpec
from ci_ml.mlflow.target import Target

CONNECT_TIMEOUT_S = 3.05
READ_TIMEOUT_S = 20.0
API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
ARTIFACT_SCHEME = "mlflow-artifacts:"


class MlflowError(CiMlError):
    """The tracking server was unreachable or refused a request."""


@dataclass(frozen=True, slots=True)
class RunRef:
    run_id: str
    experiment_id: str
    artifact_uri: str
    start_time: int = 0
    tags: tuple[Entry, ...] = ()

    def tag(self, key: str) -> str | None:
        return next((t.value for t in self.tags if t.key == key), None)


class MlflowClient:
    def __init__(self, target: Target) -> None:
        import requests  # lazy: most commands never log to MLflow

        self.target = target
        self._session = requests.Session()
        self._session.verify = target.verify
        if target.token:
            self._session.headers["Authorization"] = f"Bearer {target.token}"
        elif target.username and target.password:
            self._session.auth = (target.username, target.password)

    def check(self) -> None:
        """Fail fast when the server does not answer (Databricks has no /health)."""
        if not self.target.databricks:
            self._request("GET", "/health", timeout=(CONNECT_TIMEOUT_S, 5.0), raw=True)

    def experiment_id(self, name: str) -> str:
        """The id of the named experiment, created when absent."""
        found = self._request(
            "GET", f"{API}/experiments/get-by-name", params={"experiment_name": name}, missing=True
        )
        if found:
            return str(found["experiment"]["experiment_id"])
        try:
            created = self._request("POST", f"{API}/experiments/create", json={"name": name})
        except MlflowError:
            # Another job of the same workflow run may have created it a moment ago.
            found = self._request(
                "GET",
                f"{API}/experiments/get-by-name",
                params={"experiment_name": name},
                missing=True,
            )
            if not found:
                raise
            return str(found["experiment"]["experiment_id"])
        return str(created["experiment_id"])

    def create_run(
        self, experiment_id: str, spec: RunSpec, parent_id: str | None, *, tags: Sequence[Entry]
    ) -> RunRef:
        """A run with `tags` (at most 100, with the two added here)."""
        tags_doc = [{"key": t.key, "value": t.value} for t in tags]
        tags_doc.append({"key": "mlflow.runName", "value": spec.run_name})
        if parent_id:
            tags_doc.append({"key": "mlflow.parentRunId", "value": parent_id})
        body = {
            "experiment_id": experiment_id,
            "run_name": spec.run_name,
            "start_time": spec.start_ms,
            "tags": tags_doc,
        }
        return _run_ref(self._request("POST", f"{API}/runs/create", json=body)["run"])

    def log_batch(self, run_id: str, batch: Batch) -> None:
        body = {
            "run_id": run_id,
            "metrics": [
                {"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}
                for m in batch.metrics
            ],
            "params": [{"key": p.key, "value": p.value} for p in batch.params],
            "tags": [{"key": t.key, "value": t.value} for t in batch.tags],
        }
        self._request("POST", f"{API}/runs/log-batch", json=body)

    def finish_run(self, run_id: str, status: str, end_ms: int) -> None:
        body = {"run_id": run_id, "status": status, "end_time": end_ms}
        self._request("POST", f"{API}/runs/update", json=body)

    def delete_run(self, run_id: str) -> None:
        self._request("POST", f"{API}/runs/delete", json={"run_id": run_id})

    def search_runs(self, experiment_id: str, tags: Mapping[str, str]) -> list[RunRef]:
        """Active runs whose tags equal `tags`, oldest first."""
        clauses = [f"tags.`{k}` = '{_quoted(v)}'" for k, v in sorted(tags.items())]
        runs: list[RunRef] = []
        token = None
        while True:
            body: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "filter": " and ".join(clauses),
                "run_view_type": "ACTIVE_ONLY",
                "max_results": 1000,
                "order_by": ["attributes.start_time ASC"],
            }
            if token:
                body["page_token"] = token
            page = self._request("POST", f"{API}/runs/search", json=body)
            runs += [_run_ref(r) for r in page.get("runs", [])]
            token = page.get("next_page_token")
            if not token:
                return sorted(runs, key=lambda r: (r.start_time, r.run_id))

    def upload_artifact(self, run: RunRef, path: str, data: bytes) -> bool:
        """PUT a file through the server's artifact proxy; False when the run's artifacts
        live elsewhere (a server without `--serve-artifacts`), which this client cannot reach."""
        if not run.artifact_uri.startswith(ARTIFACT_SCHEME):
            return False
        where = run.artifact_uri[len(ARTIFACT_SCHEME) :].lstrip("/")
        url = f"{ARTIFACTS_API}/{quote(where)}/{quote(path)}"
        self._request("PUT", url, data=data, raw=True)
        return True

    def _request(
        self,
        method: str,
        path: str,
        *,
        missing: bool = False,
        raw: bool = False,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
        **kwargs: Any,
    ) -> Any:
        import requests

        url = self.target.url + path
        try:
            response = self._session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as e:
            raise MlflowError(f"{self.target.url}: {type(e).__name__}: {_short(e)}") from e
        if missing and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise MlflowError(f"{self.target.url}: {method} {path}: {_error_text(response)}")
        if raw:
            return None
        try:
            return response.json()
        except ValueError as e:
            raise MlflowError(
                f"{self.target.url}: {method} {path}: the answer is not JSON (is this an "
                "MLflow tracking server?)"
            ) from e


def _run_ref(run: Mapping[str, Any]) -> RunRef:
    info = run["info"]
    tags: Sequence[Mapping[str, str]] = run.get("data", {}).get("tags", [])
    return RunRef(
        run_id=str(info["run_id"]),
        experiment_id=str(info["experiment_id"]),
        artifact_uri=str(info.get("artifact_uri", "")),
        start_time=int(info.get("start_time", 0)),
        tags=tuple(Entry(str(t["key"]), str(t.get("value", ""))) for t in tags),
    )


def _error_text(response: Any) -> str:
    try:
        body = response.json()
        text = f"{body.get('error_code', 'ERROR')}: {body.get('message', '')}"
    except ValueError:
        text = response.text[:300]
    return f"HTTP {response.status_code} {text}".strip()


def _short(error: Exception) -> str:
    # urllib3's messages repeat the whole URL and pool object; the first line is enough.
    return str(error).splitlines()[0][:300] if str(error) else "no answer"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
