"""Routes that report on a commit: check runs, commit statuses and commit comments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.helpers.github_server.bodies import check_run_body, repo_url, user_body
from tests.helpers.github_server.operations import (
    ApiError,
    Call,
    Reply,
    json_reply,
    operation,
    paginate,
)
from tests.helpers.github_server.state import NOW

if TYPE_CHECKING:
    from tests.helpers.github_server.server import GitHubServer


def _known_commit(server: GitHubServer, sha: str) -> str:
    commit = server._resolve_commit(sha)
    if commit is None:
        raise ApiError(422, f"No commit found for SHA: {sha}")
    return commit


@operation("checks/create")
def _create_check_run(server: GitHubServer, call: Call) -> Reply:
    _known_commit(server, call.body["head_sha"])
    run = {
        "id": next(server._ids),
        "status": "queued",
        "conclusion": None,
        "started_at": NOW,
        "completed_at": None,
        "details_url": None,
        "external_id": None,
        **call.body,
    }
    server.check_runs[run["id"]] = _settle_check_run(run)
    return json_reply(server, 201, check_run_body(server, run))


@operation("checks/update")
def _update_check_run(server: GitHubServer, call: Call) -> Reply:
    run = server.check_runs.get(int(call.params["check_run_id"]))
    if run is None:
        raise ApiError(404, "Not Found")
    run.update(call.body)
    return json_reply(server, 200, check_run_body(server, _settle_check_run(run)))


def _settle_check_run(run: dict[str, Any]) -> dict[str, Any]:
    # GitHub: a conclusion completes the run, and completing stamps completed_at.
    if run.get("conclusion"):
        run["status"] = "completed"
    if run["status"] == "completed" and not run.get("completed_at"):
        run["completed_at"] = NOW
    return run


@operation("checks/list-for-ref")
def _list_check_runs(server: GitHubServer, call: Call) -> Reply:
    sha = _known_commit(server, call.params["ref"])
    runs = [r for r in server.check_runs.values() if r["head_sha"] == sha]
    runs = [r for r in runs if call.query.get("check_name") in (None, r["name"])]
    runs = [r for r in runs if call.query.get("status") in (None, r["status"])]
    if call.query.get("filter", "latest") == "latest":
        runs = list({r["name"]: r for r in sorted(runs, key=lambda r: r["id"])}.values())
    page, links = paginate(server, call, sorted(runs, key=lambda r: -r["id"]))
    body = {"total_count": len(runs), "check_runs": [check_run_body(server, r) for r in page]}
    return json_reply(server, 200, body, links)


@operation("repos/create-commit-status")
def _create_status(server: GitHubServer, call: Call) -> Reply:
    sha = _known_commit(server, call.params["sha"])
    status = {
        "id": next(server._ids),
        "sha": sha,
        "context": "default",
        "target_url": None,
        "description": None,
        **call.body,
        "creator": call.login,
    }
    server.statuses.append(status)
    body = server.contract.instance(
        "status",
        {
            **{k: status[k] for k in ("id", "state", "context", "target_url", "description")},
            "url": repo_url(server, f"statuses/{sha}"),
            "avatar_url": None,
            "node_id": f"SC_{status['id']}",
            "created_at": NOW,
            "updated_at": NOW,
            "creator": user_body(server, call.login),
        },
    )
    return json_reply(server, 201, body, {"Location": body["url"]})


@operation("repos/create-commit-comment")
def _create_commit_comment(server: GitHubServer, call: Call) -> Reply:
    sha = _known_commit(server, call.params["commit_sha"])
    comment = {
        "id": next(server._ids),
        "commit_id": sha,
        "path": None,
        "position": None,
        "line": None,
        **call.body,
        "user": call.login,
    }
    server.commit_comments.append(comment)
    body = server.contract.instance(
        "commit-comment",
        {
            **{k: comment[k] for k in ("id", "commit_id", "body", "path", "position", "line")},
            "url": repo_url(server, f"comments/{comment['id']}"),
            "node_id": f"CC_{comment['id']}",
            "html_url": f"{server.server_url}/{server.repository}/commit/{sha}#commitcomment-{comment['id']}",
            "user": user_body(server, call.login),
            "author_association": "NONE",
        },
    )
    return json_reply(server, 201, body, {"Location": body["url"]})
