"""A real `mlflow server` on 127.0.0.1, in its own process, for the whole test session.

It keeps runs in SQLite and serves artifacts through its proxy (`--artifacts-destination`),
as a team's server would. `MlflowServer` reads what the code under test logged, over the
same REST API, so the tests check what a user would see in the MLflow UI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers.servers import free_port, stop, wait_until_answering

STARTUP_TIMEOUT_S = 90


@dataclass(frozen=True)
class MlflowServer:
    url: str

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.url}/api/2.0/mlflow/{path}", timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def runs(self, experiment: str) -> list[dict[str, Any]]:
        """Every active run of the experiment, as plain dicts with tags/params flattened."""
        found = requests.get(
            f"{self.url}/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": experiment},
            timeout=30,
        )
        if found.status_code == 404:
            return []
        experiment_id = found.json()["experiment"]["experiment_id"]
        runs = self.api(
            "POST", "runs/search", json={"experiment_ids": [experiment_id], "max_results": 1000}
        ).get("runs", [])
        return [_flat(run) for run in runs]

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        doc = self.api("GET", "metrics/get-history", params={"run_id": run_id, "metric_key": key})
        return sorted((m.get("step", 0), m["value"]) for m in doc.get("metrics", []))

    def artifacts(self, run_id: str, path: str = "") -> list[str]:
        doc = self.api("GET", "artifacts/list", params={"run_id": run_id, "path": path})
        names = []
        for entry in doc.get("files", []):
            if entry.get("is_dir"):
                names += self.artifacts(run_id, entry["path"])
            else:
                names.append(entry["path"])
        return sorted(names)


def _flat(run: dict[str, Any]) -> dict[str, Any]:
    data = run.get("data", {})
    return {
        "info": run["info"],
        "tags": {t["key"]: t["value"] for t in data.get("tags", [])},
        "params": {p["key"]: p["value"] for p in data.get("params", [])},
        "metrics": {m["key"]: m["value"] for m in data.get("metrics", [])},
    }


def _mlflow_command() -> list[str]:
    beside = Path(sys.executable).with_name("mlflow")
    found = str(beside) if beside.exists() else shutil.which("mlflow")
    if found is None:
        pytest.fail("`mlflow` is not installed: tests/run.sh installs it (see its comment)")
    return [found]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    home = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = home / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # One worker and no job runner: the server boots in seconds.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        *_mlflow_command(),
        "server",
        "--backend-store-uri",
        f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination",
        str(home / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(
            f"{url}/health",
            process,
            name="mlflow server",
            log=str(log),
            timeout_s=STARTUP_TIMEOUT_S,
            any_http_answer=False,
        )
        yield MlflowServer(url)
    finally:
        stop(process)
