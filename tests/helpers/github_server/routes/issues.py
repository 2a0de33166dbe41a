"""Routes for issue comments (a pull request's conversation): list, create, get, update, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tests.helpers.github_server.bodies import comment_body
from tests.helpers.github_server.operations import (
    ApiError,
    Call,
    Reply,
    json_reply,
    operation,
    paginate,
)
from tests.helpers.github_server.routes.pulls import pull_for
from tests.helpers.github_server.state import Comment

if TYPE_CHECKING:
    from tests.helpers.github_server.server import GitHubServer


MAX_COMMENT_LENGTH = 65536


def _body_limit(call: Call) -> None:
    if len(call.body["body"]) > MAX_COMMENT_LENGTH:  # GitHub's check; the description has none
        raise ApiError(
            422,
            "Validation Failed",
            [
                {
                    "resource": "IssueComment",
                    "code": "custom",
                    "field": "body",
                    "message": f"body is too long (maximum is {MAX_COMMENT_LENGTH} characters)",
                }
            ],
        )


def _comment_for(server: GitHubServer, comment_id: str) -> Comment:
    comment = server.comments.get(int(comment_id))
    if comment is None:
        raise ApiError(404, "Not Found")
    return comment


@operation("issues/list-comments")
def _list_comments(server: GitHubServer, call: Call) -> Reply:
    pull = pull_for(server, call.params["issue_number"])
    page, links = paginate(server, call, server.comments_on(pull.number))
    return json_reply(server, 200, [comment_body(server, c) for c in page], links)


@operation("issues/create-comment")
def _create_comment(server: GitHubServer, call: Call) -> Reply:
    pull = pull_for(server, call.params["issue_number"])
    _body_limit(call)
    body = comment_body(server, server.add_comment(pull.number, call.body["body"], user=call.login))
    return json_reply(server, 201, body, {"Location": body["url"]})


@operation("issues/get-comment")
def _get_comment(server: GitHubServer, call: Call) -> Reply:
    return json_reply(
        server, 200, comment_body(server, _comment_for(server, call.params["comment_id"]))
    )


@operation("issues/update-comment")
def _update_comment(server: GitHubServer, call: Call) -> Reply:
    comment = _comment_for(server, call.params["comment_id"])
    _body_limit(call)
    server.comments[comment.id] = comment = replace(comment, body=call.body["body"])
    return json_reply(server, 200, comment_body(server, comment))


@operation("issues/delete-comment")
def _delete_comment(server: GitHubServer, call: Call) -> Reply:
    del server.comments[_comment_for(server, call.params["comment_id"]).id]
    return Reply(204)
