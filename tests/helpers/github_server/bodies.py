"""GitHub's JSON bodies for the repository state, each built from its schema in the contract.

Owns how a user, repository, comment, pull request, check run, git ref, commit, tree entry or
contents entry looks to a client; the routes answer with these.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tests.helpers.github_server.access import BOT_ID, BOT_LOGIN
from tests.helpers.github_server.state import NOW, Comment, PullRequest, fake_sha

if TYPE_CHECKING:
    from tests.helpers.github_server.server import GitHubServer


def repo_url(server: GitHubServer, rest: str) -> str:
    return f"{server.api_url}/repos/{server.repository}/{rest}"


def user_body(server: GitHubServer, login: str) -> dict[str, Any]:
    bot = login.endswith("[bot]")
    user_id = BOT_ID if login == BOT_LOGIN else int(fake_sha(login)[:7], 16)
    html = f"{server.server_url}/{'apps/' if bot else ''}{login.removesuffix('[bot]')}"
    return server.contract.instance(
        "simple-user",
        {
            "login": login,
            "id": user_id,
            "node_id": f"U_{user_id}",
            "type": "Bot" if bot else "User",
            "url": f"{server.api_url}/users/{login}",
            "html_url": html,
            "gravatar_id": "",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        },
    )


def repo_body(server: GitHubServer, full_name: str, schema: str = "repository") -> dict[str, Any]:
    owner, name = full_name.split("/")
    return server.contract.instance(
        schema,
        {
            "id": int(fake_sha(full_name)[:7], 16),
            "node_id": f"R_{full_name}",
            "name": name,
            "full_name": full_name,
            "owner": user_body(server, owner),
            "private": False,
            "fork": full_name != server.repository,
            "default_branch": server.default_branch,
            "url": f"{server.api_url}/repos/{full_name}",
            "html_url": f"{server.server_url}/{full_name}",
        },
    )


def comment_body(server: GitHubServer, comment: Comment) -> dict[str, Any]:
    return server.contract.instance(
        "issue-comment",
        {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "body": comment.body,
            "user": user_body(server, comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": "NONE",
            "url": repo_url(server, f"issues/comments/{comment.id}"),
            "issue_url": repo_url(server, f"issues/{comment.issue_number}"),
            "html_url": f"{server.server_url}/{server.repository}/pull/{comment.issue_number}"
            f"#issuecomment-{comment.id}",
        },
    )


def pull_body(
    server: GitHubServer, pull: PullRequest, schema: str = "pull-request"
) -> dict[str, Any]:
    head_repo = pull.head_repo or server.repository
    n = pull.number
    return server.contract.instance(
        schema,
        {
            "id": n,
            "node_id": f"PR_{n}",
            "number": n,
            "state": pull.state,
            "title": pull.title,
            "body": pull.body,
            "user": user_body(server, pull.user),
            "merge_commit_sha": pull.merge_sha,
            "url": repo_url(server, f"pulls/{n}"),
            "html_url": f"{server.server_url}/{server.repository}/pull/{n}",
            "issue_url": repo_url(server, f"issues/{n}"),
            "comments_url": repo_url(server, f"issues/{n}/comments"),
            "statuses_url": repo_url(server, f"statuses/{pull.head_sha}"),
            "head": {
                "label": f"{head_repo.split('/')[0]}:{pull.head_ref}",
                "ref": pull.head_ref,
                "sha": pull.head_sha,
                "repo": repo_body(server, head_repo),
                "user": user_body(server, head_repo.split("/")[0]),
            },
            "base": {
                "label": f"{server.owner}:{pull.base_ref}",
                "ref": pull.base_ref,
                "sha": pull.base_sha,
                "repo": repo_body(server, server.repository),
                "user": user_body(server, server.owner),
            },
        },
    )


def minimal_pull_body(server: GitHubServer, pull: PullRequest) -> dict[str, Any]:
    def side(ref: str, sha: str, repo: str) -> dict[str, Any]:
        full = repo_body(server, repo)
        return {"ref": ref, "sha": sha, "repo": {k: full[k] for k in ("id", "url", "name")}}

    return server.contract.instance(
        "pull-request-minimal",
        {
            "id": pull.number,
            "number": pull.number,
            "url": repo_url(server, f"pulls/{pull.number}"),
            "head": side(pull.head_ref, pull.head_sha, pull.head_repo or server.repository),
            "base": side(pull.base_ref, pull.base_sha, server.repository),
        },
    )


def check_run_body(server: GitHubServer, run: dict[str, Any]) -> dict[str, Any]:
    output = run.get("output") or {}
    return server.contract.instance(
        "check-run",
        {
            **{
                k: run.get(k)
                for k in (
                    "id",
                    "name",
                    "head_sha",
                    "status",
                    "conclusion",
                    "started_at",
                    "completed_at",
                    "details_url",
                    "external_id",
                )
            },
            "node_id": f"CR_{run['id']}",
            "url": repo_url(server, f"check-runs/{run['id']}"),
            "html_url": f"{server.server_url}/{server.repository}/runs/{run['id']}",
            "output": {
                "title": output.get("title"),
                "summary": output.get("summary"),
                "text": output.get("text"),
                "annotations_count": len(output.get("annotations", [])),
                "annotations_url": repo_url(server, f"check-runs/{run['id']}/annotations"),
            },
            "check_suite": {"id": 1},
            "app": {
                "id": 15368,
                "slug": "github-actions",
                "name": "GitHub Actions",
                "node_id": "A_15368",
                "owner": user_body(server, "github"),
            },
            "pull_requests": [
                minimal_pull_body(server, p)
                for p in server.pulls.values()
                if p.head_sha == run["head_sha"]
            ],
        },
    )


def git_ref_body(server: GitHubServer, ref: str) -> dict[str, Any]:
    sha = server.refs[ref]
    return server.contract.instance(
        "git-ref",
        {
            "ref": ref,
            "node_id": f"REF_{ref}",
            "url": repo_url(server, f"git/{ref}"),
            "object": {"type": "commit", "sha": sha, "url": repo_url(server, f"git/commits/{sha}")},
        },
    )


def git_commit_body(server: GitHubServer, sha: str) -> dict[str, Any]:
    commit = server.commits[sha]
    person = {"name": "ci-ml", "email": "ci-ml@users.noreply.github.com", "date": NOW}
    return server.contract.instance(
        "git-commit",
        {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": repo_url(server, f"git/commits/{sha}"),
            "html_url": f"{server.server_url}/{server.repository}/commit/{sha}",
            "author": commit.get("author") or person,
            "committer": commit.get("committer") or person,
            "message": commit["message"],
            "tree": {"sha": commit["tree"], "url": repo_url(server, f"git/trees/{commit['tree']}")},
            "parents": [
                {
                    "sha": p,
                    "url": repo_url(server, f"git/commits/{p}"),
                    "html_url": f"{server.server_url}/{server.repository}/commit/{p}",
                }
                for p in commit["parents"]
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
    )


def content_body(
    server: GitHubServer, ref: str, path: str, blob: str | None, schema: str
) -> dict[str, Any]:
    """A file (blob given) or a directory entry, as the contents API lists it."""
    sha = blob or server._store_tree(server._subtree(ref, path))
    git_url = repo_url(server, f"git/{'blobs' if blob else 'trees'}/{sha}")
    html_url = f"{server.server_url}/{server.repository}/{'blob' if blob else 'tree'}/{ref}/{path}"
    body = {
        "type": "file" if blob else "dir",
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": len(server.blobs[blob]) if blob else 0,
        "url": repo_url(server, f"contents/{path}"),
        "git_url": git_url,
        "html_url": html_url,
        "download_url": server.raw_url(ref, path) if blob else None,
        "_links": {
            "self": repo_url(server, f"contents/{path}"),
            "git": git_url,
            "html": html_url,
        },
    }
    if schema == "content-file":
        body |= {
            "encoding": "base64",
            "content": base64.b64encode(server.blobs[blob or ""]).decode(),
        }
    return server.contract.instance(schema, body)


def tree_entries(server: GitHubServer, files: Mapping[str, str]) -> list[dict[str, Any]]:
    """A tree's own entries, as GitHub lists them: files, and one subtree per directory."""
    entries: list[dict[str, Any]] = []
    subtrees: dict[str, dict[str, str]] = {}
    for path, blob in files.items():
        top, _, rest = path.partition("/")
        if rest:
            subtrees.setdefault(top, {})[rest] = blob
        else:
            entries.append(
                {
                    "path": path,
                    "mode": "100644",
                    "type": "blob",
                    "sha": blob,
                    "size": len(server.blobs[blob]),
                    "url": repo_url(server, f"git/blobs/{blob}"),
                }
            )
    for top, sub in subtrees.items():
        sha = server._store_tree(sub)
        entries.append(
            {
                "path": top,
                "mode": "040000",
                "type": "tree",
                "sha": sha,
                "url": repo_url(server, f"git/trees/{sha}"),
            }
        )
    return sorted(entries, key=lambda e: e["path"])
