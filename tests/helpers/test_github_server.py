"""Self-tests of the loopback GitHub server, driven through the real PyGithub client."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

import pytest
import requests
import urllib3
from github import GithubException, InputGitTreeElement

from tests.helpers.github_server import (
    READ_ONLY,
    SECONDARY_RATE_LIMIT,
    GitHubServer,
    fake_sha,
    github_server,
)

__all__ = ["github_server"]  # the fixture, registered here until a conftest imports it

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def fill(value: Any, made: Mapping[str, Any]) -> Any:
    """`value` with each "{...}" string formatted from `made`."""
    if isinstance(value, dict):
        return {k: fill(v, made) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, made) for v in value]
    return value.format_map(made) if isinstance(value, str) and value.startswith("{") else value


def test_comment_is_created_by_the_bot_then_edited(github_server: GitHubServer) -> None:
    github_server.add_pull(7)
    pull = github_server.client().get_repo("owner/repo").get_pull(7)

    comment = pull.create_issue_comment("first")
    comment.edit("second")

    assert (comment.user.login, comment.user.type, comment.body) == (
        "github-actions[bot]",
        "Bot",
        "second",
    )
    assert [(c.user, c.body) for c in github_server.comments_on(7)] == [
        ("github-actions[bot]", "second")
    ]
    assert github_server.requests[-1].body == {"body": "second"}


def test_comment_list_follows_link_headers_across_three_pages(
    github_server: GitHubServer,
) -> None:
    github_server.add_pull(7)
    github_server.add_comments(7, 5, user="reviewer")
    client = github_server.client(per_page=2)

    comments = list(client.get_repo("owner/repo").get_pull(7).get_issue_comments())

    assert [(c.user.login, c.body) for c in comments] == [
        ("reviewer", f"comment {i}") for i in range(1, 6)
    ]
    pages = [r.query for r in github_server.requests if r.operation == "issues/list-comments"]
    assert pages == [
        {"per_page": "2"},
        {"per_page": "2", "page": "2"},
        {"per_page": "2", "page": "3"},
    ]


def test_comment_list_link_header_is_githubs(github_server: GitHubServer) -> None:
    github_server.add_pull(7)
    github_server.add_comments(7, 5)
    url = f"{github_server.api_url}/repos/owner/repo/issues/7/comments"

    reply = requests.get(
        url,
        params={"per_page": 2, "page": 2},
        headers={"Authorization": f"token {github_server.token}"},
        timeout=5,
    )

    assert reply.headers["Link"] == ", ".join(
        [
            f'<{url}?per_page=2&page=1>; rel="prev"',
            f'<{url}?per_page=2&page=3>; rel="next"',
            f'<{url}?per_page=2&page=3>; rel="last"',
            f'<{url}?per_page=2&page=1>; rel="first"',
        ]
    )


def test_comment_over_65536_characters_is_rejected_as_github_does(
    github_server: GitHubServer,
) -> None:
    github_server.add_pull(7)
    pull = github_server.client().get_repo("owner/repo").get_pull(7)

    with pytest.raises(GithubException) as caught:
        pull.create_issue_comment("x" * 65537)

    assert caught.value.status == 422
    assert caught.value.data["errors"] == [
        {
            "resource": "IssueComment",
            "code": "custom",
            "field": "body",
            "message": "body is too long (maximum is 65536 characters)",
        }
    ]
    assert github_server.comments_on(7) == []


def test_orphan_branch_flow_then_raw_file_is_served(github_server: GitHubServer) -> None:
    repo = github_server.client().get_repo("owner/repo")

    blob = repo.create_git_blob(base64.b64encode(PNG).decode(), "base64")
    element = InputGitTreeElement("pr-7/loss.png", "100644", "blob", sha=blob.sha)
    tree = repo.create_git_tree([element])
    first = repo.create_git_commit("plots for #7", tree, [])
    ref = repo.create_git_ref("refs/heads/ci-ml/plots", first.sha)
    readme = InputGitTreeElement("README.md", "100644", "blob", content="plots\n")
    second = repo.create_git_commit("more", repo.create_git_tree([readme], tree), [first])
    ref.edit(second.sha)

    assert repo.get_git_ref("heads/ci-ml/plots").object.sha == second.sha
    for at in (second.sha, "ci-ml/plots"):
        raw = requests.get(github_server.raw_url(at, "pr-7/loss.png"), timeout=5)
        assert (raw.status_code, raw.headers["Content-Type"], raw.content) == (
            200,
            "image/png",
            PNG,
        )
    assert github_server.file_at("ci-ml/plots", "README.md") == b"plots\n"
    assert [e.path for e in repo.create_git_tree([], tree).tree] == ["pr-7"]
    paths = {r.operation: r.path for r in github_server.requests}
    assert paths["git/update-ref"] == "/repos/owner/repo/git/refs/heads/ci-ml/plots"
    assert paths["git/get-ref"] == "/repos/owner/repo/git/ref/heads/ci-ml/plots"


def test_ref_update_that_is_not_a_fast_forward_is_rejected(github_server: GitHubServer) -> None:
    repo = github_server.client().get_repo("owner/repo")
    tree = repo.create_git_tree([InputGitTreeElement("a", "100644", "blob", content="a")])
    orphan = repo.create_git_commit("unrelated", tree, [])

    with pytest.raises(GithubException) as caught:
        repo.get_git_ref("heads/main").edit(orphan.sha)

    assert (caught.value.status, caught.value.data["message"]) == (
        422,
        "Update is not a fast forward",
    )
    repo.get_git_ref("heads/main").edit(orphan.sha, force=True)
    assert github_server.refs["refs/heads/main"] == orphan.sha


def test_check_run_is_created_then_completed(github_server: GitHubServer) -> None:
    pull = github_server.add_pull(7)
    repo = github_server.client().get_repo("owner/repo")

    run = repo.create_check_run("ci-ml", pull.head_sha, status="in_progress")
    run.edit(conclusion="success", output={"title": "2 stages ran", "summary": "all good"})

    assert (run.status, run.conclusion, run.output.title) == (
        "completed",
        "success",
        "2 stages ran",
    )
    assert [p.number for p in run.pull_requests] == [7]
    listed = github_server.client(lazy=True).get_repo("owner/repo").get_commit(pull.head_sha)
    assert [r.conclusion for r in listed.get_check_runs()] == ["success"]


def test_completed_check_run_without_conclusion_breaks_the_contract(
    github_server: GitHubServer,
) -> None:
    pull = github_server.add_pull(7)
    repo = github_server.client().get_repo("owner/repo")

    with pytest.raises(GithubException) as caught:
        repo.create_check_run("ci-ml", pull.head_sha, status="completed")

    assert caught.value.status == 422
    assert caught.value.data["message"].startswith("Invalid request.")
    assert len(github_server.contract_errors) == 1
    assert "POST /repos/owner/repo/check-runs (checks/create)" in github_server.contract_errors[0]
    assert "'conclusion' is a required property" in github_server.contract_errors[0]
    assert github_server.check_runs == {}
    github_server.contract_errors.clear()  # deliberate: the fixture's teardown checks the rest


def test_read_only_token_cannot_write(github_server: GitHubServer) -> None:
    github_server.add_pull(7)
    github_server.token_permissions["fork-token"] = READ_ONLY
    pull = github_server.client(token="fork-token").get_repo("owner/repo").get_pull(7)

    with pytest.raises(GithubException) as caught:
        pull.create_issue_comment("hello")

    assert caught.value.status == 403
    assert caught.value.data == {
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        "status": "403",
    }
    assert github_server.comments_on(7) == []


def test_502_is_retried_by_pygithub(github_server: GitHubServer) -> None:
    github_server.add_pull(7)
    github_server.fail_next("GET", r"/pulls/7$", 502)
    retry = urllib3.util.Retry(total=2, status_forcelist=[502], backoff_factor=0)
    client = github_server.client(retry=retry, lazy=True)

    pull = client.get_repo("owner/repo").get_pull(7)

    assert pull.head.ref == "feature"
    assert [r.status for r in github_server.requests] == [502, 200]


def test_secondary_rate_limit_is_waited_out_by_pygithub(github_server: GitHubServer) -> None:
    github_server.add_pull(7)
    github_server.fail_next("POST", r"/issues/7/comments$", **SECONDARY_RATE_LIMIT)
    repo = github_server.client(lazy=True).get_repo("owner/repo")

    repo.get_pull(7).create_issue_comment("hello")  # GithubRetry honours Retry-After: 1

    assert [r.status for r in github_server.requests] == [200, 403, 201]
    assert len(github_server.comments_on(7)) == 1


def test_artifact_is_listed_then_downloaded_through_the_redirect(
    github_server: GitHubServer,
) -> None:
    run = github_server.add_workflow_run(123, head_sha=fake_sha("base"), event="push")
    github_server.add_artifact(run.id, "ci-ml-metrics", {"metrics.json": '{"acc": 0.9}'})
    repo = github_server.client().get_repo("owner/repo")

    (artifact,) = repo.get_workflow_run(123).get_artifacts()
    reply = requests.get(
        artifact.archive_download_url,
        headers={"Authorization": f"Bearer {github_server.token}"},
        timeout=5,
    )

    assert artifact.name == "ci-ml-metrics"
    assert reply.status_code == 200
    assert [h.status_code for h in reply.history] == [302]
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        assert json.loads(archive.read("metrics.json")) == {"acc": 0.9}
    blob = github_server.requests[-1]
    assert (blob.path, blob.operation, blob.status) == (
        f"/_blobs/artifacts/{artifact.id}.zip",
        None,
        200,
    )


def test_expired_artifact_is_gone(github_server: GitHubServer) -> None:
    run = github_server.add_workflow_run()
    artifact = github_server.add_artifact(run.id, "old", {"a": "b"}, expired=True)
    url = f"{github_server.api_url}/repos/owner/repo/actions/artifacts/{artifact.id}/zip"

    reply = requests.get(url, headers={"Authorization": f"token {github_server.token}"}, timeout=5)

    assert (reply.status_code, reply.json()["message"]) == (410, "Artifact has expired")


def test_request_outside_the_api_is_a_contract_error(github_server: GitHubServer) -> None:
    reply = requests.get(f"{github_server.server_url}/repos/owner/repo", timeout=5)

    assert reply.status_code == 404
    assert github_server.contract_errors == [
        "GET /repos/owner/repo: not under /api/v3, not a raw file, not a blob"
    ]
    github_server.contract_errors.clear()


def test_operation_missing_from_the_description_is_a_contract_error(
    github_server: GitHubServer,
) -> None:
    reply = requests.get(
        f"{github_server.api_url}/repos/owner/repo/branches",
        headers={"Authorization": f"token {github_server.token}"},
        timeout=5,
    )

    assert reply.status_code == 404
    assert github_server.contract_errors == [
        "GET /repos/owner/repo/branches: Path not found for "
        f"{github_server.api_url}/repos/owner/repo/branches (not in the description's subset)"
    ]
    github_server.contract_errors.clear()


def test_env_points_at_the_server(github_server: GitHubServer) -> None:
    assert github_server.env(token="t") == {
        "GITHUB_API_URL": f"http://127.0.0.1:{github_server.port}/api/v3",
        "GITHUB_SERVER_URL": f"http://127.0.0.1:{github_server.port}",
        "GITHUB_REPOSITORY": "owner/repo",
        "GITHUB_TOKEN": "t",
    }


def test_every_operation_answers_within_the_contract(github_server: GitHubServer) -> None:
    server = github_server
    pull = server.add_pull(7, files=["dvc.yaml", "params.yaml"])
    comment = server.add_comment(7, "hi")
    run = server.add_workflow_run(55, pull_numbers=[7])
    artifact = server.add_artifact(run.id, "plots", {"loss.png": PNG})
    session = requests.Session()
    session.headers["Authorization"] = f"token {server.token}"
    content = base64.b64encode(b"x").decode()
    main = server.refs["refs/heads/main"]
    blob = server._store_blob(b"y")
    calls: list[tuple[str, str, object, int]] = [
        ("GET", "/rate_limit", None, 200),
        ("GET", "/repos/owner/repo", None, 200),
        ("GET", "/repos/owner/repo/pulls?state=all", None, 200),
        ("GET", "/repos/owner/repo/pulls/7", None, 200),
        ("GET", "/repos/owner/repo/pulls/7/files", None, 200),
        ("GET", "/repos/owner/repo/issues/7/comments", None, 200),
        ("POST", "/repos/owner/repo/issues/7/comments", {"body": "b"}, 201),
        ("GET", f"/repos/owner/repo/issues/comments/{comment.id}", None, 200),
        ("PATCH", f"/repos/owner/repo/issues/comments/{comment.id}", {"body": "c"}, 200),
        ("DELETE", f"/repos/owner/repo/issues/comments/{comment.id}", None, 204),
        ("POST", "/repos/owner/repo/check-runs", {"name": "n", "head_sha": pull.head_sha}, 201),
        ("PATCH", "/repos/owner/repo/check-runs/{check-runs[id]}", {"status": "in_progress"}, 200),
        ("GET", f"/repos/owner/repo/commits/{pull.head_sha}/check-runs", None, 200),
        ("POST", f"/repos/owner/repo/statuses/{pull.head_sha}", {"state": "success"}, 201),
        ("POST", f"/repos/owner/repo/commits/{pull.head_sha}/comments", {"body": "b"}, 201),
        ("GET", "/repos/owner/repo/contents/README.md", None, 200),
        ("PUT", "/repos/owner/repo/contents/plots/pr-7/a.png", {"message": "m", "content": content}, 201),
        ("GET", "/repos/owner/repo/contents/plots?ref=main", None, 200),
        ("POST", "/repos/owner/repo/git/blobs", {"content": "x"}, 201),
        ("POST", "/repos/owner/repo/git/trees", {"tree": [{"path": "a/b", "mode": "100644", "type": "blob", "sha": blob}]}, 201),
        ("POST", "/repos/owner/repo/git/commits", {"message": "m", "tree": "{trees[sha]}", "parents": [main]}, 201),
        ("GET", f"/repos/owner/repo/git/commits/{main}", None, 200),
        ("POST", "/repos/owner/repo/git/refs", {"ref": "refs/heads/side", "sha": main}, 201),
        ("GET", "/repos/owner/repo/git/ref/heads/side", None, 200),
        ("PATCH", "/repos/owner/repo/git/refs/heads/side", {"sha": "{commits[sha]}"}, 200),
        ("GET", "/repos/owner/repo/actions/runs/55", None, 200),
        ("GET", "/repos/owner/repo/actions/runs/55/artifacts", None, 200),
        ("GET", f"/repos/owner/repo/actions/artifacts/{artifact.id}/zip", None, 302),
        ("POST", "/repos/owner/repo/actions/runners/generate-jitconfig", {"name": "gpu-1", "runner_group_id": 1, "labels": ["gpu"]}, 201),
        ("POST", "/repos/owner/repo/actions/runners/registration-token", None, 201),
        ("GET", "/repos/owner/repo/actions/runners", None, 200),
        ("DELETE", "/repos/owner/repo/actions/runners/{generate-jitconfig[runner][id]}", None, 204),
    ]  # fmt: skip
    made: dict[str, Any] = {}  # what each POST answered, by the last segment of its path

    for method, template, body, expected in calls:
        path = template.format_map(made)
        reply = session.request(
            method,
            f"{server.api_url}{path}",
            json=fill(body, made),
            allow_redirects=False,
            timeout=5,
        )
        assert (method, path, reply.status_code) == (method, path, expected), reply.text[:300]
        if method == "POST":
            made[path.rsplit("/", 1)[-1]] = reply.json()

    assert len({r.operation for r in server.requests}) == 31 == len(server.contract.operations)
