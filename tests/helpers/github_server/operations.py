"""What an operation handler gets and gives, and the registry of handlers by operationId.

Owns `Call` (a validated request), `Reply`, `ApiError` (raised to answer with GitHub's error
body), the JSON replies with GitHub's rate-limit headers, pagination with GitHub's Link header,
and `OPERATIONS`, which the route modules fill with `@operation("issues/create-comment")`.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.helpers.github_server.server import GitHubServer

RATE_RESET = 4102444800  # 2100-01-01: never reached
DOCS_URL = "https://docs.github.com/rest"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


@dataclass(frozen=True)
class Call:
    params: dict[str, str]  # path parameters, percent-decoded
    query: dict[str, str]
    body: Any
    path: str
    login: str


OPERATIONS: dict[str, Callable[[GitHubServer, Call], Reply]] = {}


def operation(operation_id: str) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    def register(handler: Callable[..., Reply]) -> Callable[..., Reply]:
        OPERATIONS[operation_id] = handler
        return handler

    return register


def json_reply(
    server: GitHubServer, status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> Reply:
    # Bodies built from the schema carry https://api.github.com placeholders; PyGithub only
    # follows URLs on its own host.
    text = "" if payload is None else json.dumps(payload)
    text = text.replace("https://api.github.com", server.api_url)
    text = text.replace("https://github.com", server.server_url)
    return Reply(
        status,
        text.encode(),
        {
            "Content-Type": "application/json; charset=utf-8",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(RATE_RESET),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
            **(headers or {}),
        },
    )


def error_reply(
    server: GitHubServer,
    status: int,
    message: str,
    operation: str | None,
    errors: list[dict[str, Any]] | None = None,
) -> Reply:
    docs = server.contract.operations[operation]["externalDocs"]["url"] if operation else DOCS_URL
    payload: dict[str, Any] = {"message": message, "documentation_url": docs}
    if errors:
        payload["errors"] = errors
    return json_reply(server, status, {**payload, "status": str(status)})


def paginate(
    server: GitHubServer, call: Call, items: Sequence[Any]
) -> tuple[Sequence[Any], dict[str, str]]:
    """One page of `items` and GitHub's Link header, which PyGithub follows."""
    per_page = min(max(int(call.query.get("per_page", 30)), 1), 100)
    page = max(int(call.query.get("page", 1)), 1)
    last = max(math.ceil(len(items) / per_page), 1)

    def link(n: int, rel: str) -> str:
        query = urllib.parse.urlencode({**call.query, "per_page": per_page, "page": n})
        return f'<{server.api_url}{call.path}?{query}>; rel="{rel}"'

    links = [link(page - 1, "prev")] if page > 1 else []
    links += [link(page + 1, "next"), link(last, "last")] if page < last else []
    links += [link(1, "first")] if page > 1 else []
    chunk = items[(page - 1) * per_page : page * per_page]
    return chunk, ({"Link": ", ".join(links)} if links else {})
