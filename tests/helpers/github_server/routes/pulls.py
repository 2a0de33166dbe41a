"""Routes for pull requests and the repository itself: list, get and list files of pulls;
the repository; the rate limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.helpers.github_server.bodies import pull_body, repo_body, repo_url
from tests.helpers.github_server.operations import (
    RATE_RESET,
    ApiError,
    Call,
    Reply,
    json_reply,
    operation,
    paginate,
)
from tests.helpers.github_server.state import PullRequest, fake_sha

if TYPE_CHECKING:
    from tests.helpers.github_server.server import GitHubServer


def pull_for(server: GitHubServer, number: str) -> PullRequest:
    pull = server.pulls.get(int(number))
    if pull is None:
        raise ApiError(404, "Not Found")
    return pull


@operation("pulls/list")
def _list_pulls(server: GitHubServer, call: Call) -> Reply:
    state, head, base = (call.query.get(k) for k in ("state", "head", "base"))
    pulls = [
        p
        for p in server.pulls.values()
        if state in ("all", p.state) or (state is None and p.state == "open")
        if head in (None, f"{(p.head_repo or server.repository).split('/')[0]}:{p.head_ref}")
        if base in (None, p.base_ref)
    ]
    page, links = paginate(server, call, pulls)
    return json_reply(
        server, 200, [pull_body(server, p, "pull-request-simple") for p in page], links
    )


@operation("pulls/get")
def _get_pull(server: GitHubServer, call: Call) -> Reply:
    return json_reply(server, 200, pull_body(server, pull_for(server, call.params["pull_number"])))


@operation("pulls/list-files")
def _list_pull_files(server: GitHubServer, call: Call) -> Reply:
    pull = pull_for(server, call.params["pull_number"])
    page, links = paginate(server, call, pull.files)
    return json_reply(
        server,
        200,
        [
            server.contract.instance(
                "diff-entry",
                {
                    "sha": fake_sha(name),
                    "filename": name,
                    "status": "modified",
                    "additions": 1,
                    "deletions": 1,
                    "changes": 2,
                    "blob_url": server.raw_url(pull.head_sha, name),
                    "raw_url": server.raw_url(pull.head_sha, name),
                    "contents_url": repo_url(server, f"contents/{name}?ref={pull.head_sha}"),
                },
            )
            for name in page
        ],
        links,
    )


@operation("repos/get")
def _get_repo(server: GitHubServer, call: Call) -> Reply:
    return json_reply(server, 200, repo_body(server, server.repository, "full-repository"))


@operation("rate-limit/get")
def _get_rate_limit(server: GitHubServer, call: Call) -> Reply:
    rate = {"limit": 5000, "remaining": 4999, "reset": RATE_RESET, "used": 1, "resource": "core"}
    body = server.contract.instance(
        "rate-limit-overview", {"resources": {"core": rate}, "rate": rate}
    )
    return json_reply(server, 200, body, {"X-RateLimit-Limit": "5000"})
