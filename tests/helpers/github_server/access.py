"""Who a token is and what it may do: GITHUB_TOKEN's permission scopes, per operation.

Owns the scopes and levels, the presets tests grant (`ALL_WRITE`, `READ_ONLY`), which scope
each operationId needs, and `authorize`, which answers 401 or 403 as GitHub does.
"""

from __future__ import annotations

from collections.abc import Mapping

from tests.helpers.github_server.operations import ApiError

BOT_LOGIN = "github-actions[bot]"
BOT_ID = 41898282  # the real id of github-actions[bot]

SCOPES = ("actions", "administration", "checks", "contents", "issues", "pull_requests", "statuses")
ALL_WRITE: dict[str, str] = dict.fromkeys(SCOPES, "write")
# What GITHUB_TOKEN gets on a pull request from a fork: read everywhere, whatever the workflow asks.
READ_ONLY: dict[str, str] = dict.fromkeys(SCOPES, "read")

_LEVELS = {"none": 0, "read": 1, "write": 2}
# operationId -> (scopes, any one of which grants it; level). PR comments take either scope.
_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "issues/list-comments": (("issues", "pull_requests"), "read"),
    "issues/get-comment": (("issues", "pull_requests"), "read"),
    "issues/create-comment": (("issues", "pull_requests"), "write"),
    "issues/update-comment": (("issues", "pull_requests"), "write"),
    "issues/delete-comment": (("issues", "pull_requests"), "write"),
    "pulls/list": (("pull_requests",), "read"),
    "pulls/get": (("pull_requests",), "read"),
    "pulls/list-files": (("pull_requests",), "read"),
    "checks/create": (("checks",), "write"),
    "checks/update": (("checks",), "write"),
    "checks/list-for-ref": (("checks",), "read"),
    "repos/get-content": (("contents",), "read"),
    "repos/create-or-update-file-contents": (("contents",), "write"),
    "repos/create-commit-comment": (("contents",), "write"),
    "repos/create-commit-status": (("statuses",), "write"),
    "git/get-ref": (("contents",), "read"),
    "git/get-commit": (("contents",), "read"),
    "git/create-ref": (("contents",), "write"),
    "git/update-ref": (("contents",), "write"),
    "git/create-blob": (("contents",), "write"),
    "git/create-tree": (("contents",), "write"),
    "git/create-commit": (("contents",), "write"),
    "actions/get-workflow-run": (("actions",), "read"),
    "actions/list-workflow-run-artifacts": (("actions",), "read"),
    "actions/download-artifact": (("actions",), "read"),
    "actions/list-self-hosted-runners-for-repo": (("administration",), "read"),
    "actions/generate-runner-jitconfig-for-repo": (("administration",), "write"),
    "actions/create-registration-token-for-repo": (("administration",), "write"),
    "actions/delete-self-hosted-runner-from-repo": (("administration",), "write"),
}


def authorize(
    operation: str,
    headers: Mapping[str, str],
    *,
    token_permissions: Mapping[str, Mapping[str, str]],
    token_logins: Mapping[str, str],
) -> str:
    """The login of the request's token, or ApiError 401/403 if it may not run `operation`."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token:
        raise ApiError(401, "Requires authentication")
    if token not in token_permissions:
        raise ApiError(401, "Bad credentials")
    scopes, level = _NEEDS.get(operation, ((), "none"))
    granted = token_permissions[token]
    if scopes and not any(_LEVELS[granted.get(s, "none")] >= _LEVELS[level] for s in scopes):
        raise ApiError(403, "Resource not accessible by integration")
    return token_logins.get(token, BOT_LOGIN)
