"""Routes for GitHub Actions: workflow runs, their artifacts, and self-hosted runners."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING

from tests.helpers.github_server.bodies import minimal_pull_body, repo_body, repo_url, user_body
from tests.helpers.github_server.operations import (
    ApiError,
    Call,
    Reply,
    json_reply,
    operation,
    paginate,
)
from tests.helpers.github_server.state import NOW, WorkflowRun

if TYPE_CHECKING:
    from tests.helpers.github_server.server import GitHubServer


def _workflow_run_for(server: GitHubServer, run_id: str) -> WorkflowRun:
    run = server.workflow_runs.get(int(run_id))
    if run is None:
        raise ApiError(404, "Not Found")
    return run


@operation("actions/get-workflow-run")
def _get_workflow_run(server: GitHubServer, call: Call) -> Reply:
    run = _workflow_run_for(server, call.params["run_id"])
    url = repo_url(server, f"actions/runs/{run.id}")
    return json_reply(
        server,
        200,
        server.contract.instance(
            "workflow-run",
            {
                "id": run.id,
                "name": run.name,
                "node_id": f"WFR_{run.id}",
                "head_branch": run.head_branch,
                "head_sha": run.head_sha,
                "path": run.path,
                "run_number": 1,
                "run_attempt": 1,
                "event": run.event,
                "status": run.status,
                "conclusion": run.conclusion,
                "workflow_id": 1,
                "display_title": run.name,
                "url": url,
                "artifacts_url": f"{url}/artifacts",
                "html_url": f"{server.server_url}/{server.repository}/actions/runs/{run.id}",
                "pull_requests": [
                    minimal_pull_body(server, server.pulls[n]) for n in run.pull_numbers
                ],
                "actor": user_body(server, "octocat"),
                "triggering_actor": user_body(server, "octocat"),
                "repository": repo_body(server, server.repository, "minimal-repository"),
                "head_repository": repo_body(server, server.repository, "minimal-repository"),
            },
        ),
    )


@operation("actions/list-workflow-run-artifacts")
def _list_artifacts(server: GitHubServer, call: Call) -> Reply:
    run = _workflow_run_for(server, call.params["run_id"])
    found = [a for a in server.artifacts.values() if a.run_id == run.id]
    found = [a for a in found if call.query.get("name") in (None, a.name)]
    found.sort(key=lambda a: a.id, reverse=call.query.get("direction", "desc") == "desc")
    page, links = paginate(server, call, found)
    return json_reply(
        server,
        200,
        {
            "total_count": len(found),
            "artifacts": [
                server.contract.instance(
                    "artifact",
                    {
                        "id": a.id,
                        "node_id": f"MDg_{a.id}",
                        "name": a.name,
                        "size_in_bytes": len(a.zip_bytes()),
                        "url": repo_url(server, f"actions/artifacts/{a.id}"),
                        "expired": a.expired,
                        "archive_download_url": repo_url(server, f"actions/artifacts/{a.id}/zip"),
                        "created_at": NOW,
                        "updated_at": NOW,
                        "expires_at": NOW,
                        "digest": "sha256:" + hashlib.sha256(a.zip_bytes()).hexdigest(),
                        "workflow_run": {
                            "id": run.id,
                            "repository_id": 1,
                            "head_repository_id": 1,
                            "head_branch": run.head_branch,
                            "head_sha": run.head_sha,
                        },
                    },
                )
                for a in page
            ],
        },
        links,
    )


@operation("actions/download-artifact")
def _download_artifact(server: GitHubServer, call: Call) -> Reply:
    artifact = server.artifacts.get(int(call.params["artifact_id"]))
    if artifact is None or call.params["archive_format"] != "zip":
        raise ApiError(404, "Not Found")
    if artifact.expired:
        raise ApiError(410, "Artifact has expired")
    location = f"{server.blob_url}/artifacts/{artifact.id}.zip?sig=loopback&se=2100-01-01"
    return Reply(302, b"", {"Location": location, "Content-Type": "text/html;charset=utf-8"})


@operation("actions/list-self-hosted-runners-for-repo")
def _list_runners(server: GitHubServer, call: Call) -> Reply:
    runners = [r for r in server.runners.values() if call.query.get("name") in (None, r["name"])]
    page, links = paginate(server, call, runners)
    body = {
        "total_count": len(runners),
        "runners": [server.contract.instance("runner", r) for r in page],
    }
    return json_reply(server, 200, body, links)


@operation("actions/generate-runner-jitconfig-for-repo")
def _generate_jitconfig(server: GitHubServer, call: Call) -> Reply:
    name = call.body["name"]
    if any(r["name"] == name for r in server.runners.values()):
        raise ApiError(409, f"Already exists - A runner with the name {name} already exists.")
    runner = {
        "id": next(server._ids),
        "name": name,
        "os": "unknown",
        "status": "offline",
        "busy": False,
        "runner_group_id": call.body["runner_group_id"],
        "labels": [{"name": label, "type": "custom"} for label in call.body["labels"]],
    }
    server.runners[runner["id"]] = runner
    config = base64.b64encode(json.dumps({"runner": name}).encode()).decode()
    body = {"runner": server.contract.instance("runner", runner), "encoded_jit_config": config}
    return json_reply(server, 201, body)


@operation("actions/create-registration-token-for-repo")
def _create_registration_token(server: GitHubServer, call: Call) -> Reply:
    token = {"token": "LLBF3JGZDX3P5PMEXLND6TS6FCWO6", "expires_at": "2100-01-01T00:00:00Z"}
    return json_reply(server, 201, server.contract.instance("authentication-token", token))


@operation("actions/delete-self-hosted-runner-from-repo")
def _delete_runner(server: GitHubServer, call: Call) -> Reply:
    if server.runners.pop(int(call.params["runner_id"]), None) is None:
        raise ApiError(404, "Not Found")
    return Reply(204)
