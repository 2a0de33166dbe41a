"""Routes for files and git data: the contents API, blobs, trees, commits and refs."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from tests.helpers.github_server.bodies import (
    content_body,
    git_commit_body,
    git_ref_body,
    repo_url,
    tree_entries,
)
from tests.helpers.github_server.operations import ApiError, Call, Reply, json_reply, operation
from tests.helpers.github_server.state import NOW

if TYPE_CHECKING:
    from tests.helpers.github_server.server import GitHubServer


@operation("repos/get-content")
def _get_content(server: GitHubServer, call: Call) -> Reply:
    ref = call.query.get("ref", server.default_branch)
    if server._resolve_commit(ref) is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    path = call.params["path"].strip("/")
    files = server._subtree(ref, "")
    if path in files:
        return json_reply(server, 200, content_body(server, ref, path, files[path], "content-file"))
    listing: dict[str, str | None] = {}  # a directory's own entries: files, and subdirectories
    for name, blob in server._subtree(ref, path).items():
        top, _, rest = name.partition("/")
        listing[top] = None if rest else blob
    if not listing:
        raise ApiError(404, "Not Found")
    prefix = f"{path}/" if path else ""
    entries = [
        content_body(server, ref, f"{prefix}{name}", blob, "content-directory")
        for name, blob in sorted(listing.items())
    ]
    return json_reply(server, 200, entries)


@operation("repos/create-or-update-file-contents")
def _put_content(server: GitHubServer, call: Call) -> Reply:
    branch = call.body.get("branch", server.default_branch)
    if f"refs/heads/{branch}" not in server.refs:
        raise ApiError(404, f"Branch {branch} not found")
    path = call.params["path"]
    current = server._subtree(branch, "").get(path)
    if current and "sha" not in call.body:
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if current and call.body["sha"] != current:
        raise ApiError(409, f"{path} does not match {call.body['sha']}")
    data = base64.b64decode(call.body["content"])
    sha = server.commit_files(branch, {path: data}, message=call.body["message"])
    content = content_body(server, branch, path, server._subtree(branch, "")[path], "content-file")
    del content["content"], content["encoding"]  # file-commit's content carries no data
    return json_reply(
        server,
        200 if current else 201,
        {"content": content, "commit": git_commit_body(server, sha)},
    )


@operation("git/create-blob")
def _create_blob(server: GitHubServer, call: Call) -> Reply:
    content = call.body["content"]
    if call.body.get("encoding", "utf-8") == "base64":
        data = base64.b64decode(content)
    else:
        data = content.encode()
    sha = server._store_blob(data)
    url = repo_url(server, f"git/blobs/{sha}")
    return json_reply(
        server,
        201,
        server.contract.instance("short-blob", {"sha": sha, "url": url}),
        {"Location": url},
    )


@operation("git/create-tree")
def _create_tree(server: GitHubServer, call: Call) -> Reply:
    base_tree = call.body.get("base_tree")
    if base_tree and base_tree not in server.trees:
        raise ApiError(422, "base_tree is not a valid tree oid")
    files = dict(server.trees[base_tree]) if base_tree else {}
    for entry in call.body["tree"]:
        path, sha = entry["path"], entry.get("sha")
        if "content" in entry:
            files[path] = server._store_blob(entry["content"].encode())
        elif sha is None:
            files = {p: b for p, b in files.items() if p != path and not p.startswith(f"{path}/")}
        elif sha in server.trees:
            files |= {f"{path}/{p}": b for p, b in server.trees[sha].items()}
        elif sha in server.blobs:
            files[path] = sha
        else:
            raise ApiError(422, f"tree.sha {sha} is not a valid blob")
    sha = server._store_tree(files)
    url = repo_url(server, f"git/trees/{sha}")
    body = {"sha": sha, "url": url, "truncated": False, "tree": tree_entries(server, files)}
    return json_reply(server, 201, server.contract.instance("git-tree", body), {"Location": url})


@operation("git/create-commit")
def _create_commit(server: GitHubServer, call: Call) -> Reply:
    tree, parents = call.body["tree"], call.body.get("parents", [])
    if tree not in server.trees:
        raise ApiError(422, "Tree SHA does not exist")
    if any(p not in server.commits for p in parents):
        raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    sha = server._store_commit(tree, parents, call.body["message"])
    for role in ("author", "committer"):
        if role in call.body:
            server.commits[sha][role] = {"date": NOW, **call.body[role]}
    body = git_commit_body(server, sha)
    return json_reply(server, 201, body, {"Location": body["url"]})


@operation("git/get-commit")
def _get_commit(server: GitHubServer, call: Call) -> Reply:
    if call.params["commit_sha"] not in server.commits:
        raise ApiError(404, "Not Found")
    return json_reply(server, 200, git_commit_body(server, call.params["commit_sha"]))


@operation("git/get-ref")
def _get_ref(server: GitHubServer, call: Call) -> Reply:
    ref = f"refs/{call.params['ref']}"
    if ref not in server.refs:
        raise ApiError(404, "Not Found")
    return json_reply(server, 200, git_ref_body(server, ref))


@operation("git/create-ref")
def _create_ref(server: GitHubServer, call: Call) -> Reply:
    ref, sha = call.body["ref"], call.body["sha"]
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, f"{ref} is not a valid ref name.")
    if ref in server.refs:
        raise ApiError(422, "Reference already exists")
    if sha not in server.commits:
        raise ApiError(422, "Object does not exist")
    server.refs[ref] = sha
    body = git_ref_body(server, ref)
    return json_reply(server, 201, body, {"Location": body["url"]})


@operation("git/update-ref")
def _update_ref(server: GitHubServer, call: Call) -> Reply:
    ref, sha = f"refs/{call.params['ref']}", call.body["sha"]
    if ref not in server.refs:
        raise ApiError(422, "Reference does not exist")
    if sha not in server.commits:
        raise ApiError(422, "Object does not exist")
    if not call.body.get("force") and not server._is_ancestor(server.refs[ref], sha):
        raise ApiError(422, "Update is not a fast forward")
    server.refs[ref] = sha
    return json_reply(server, 200, git_ref_body(server, ref))
