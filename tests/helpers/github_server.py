"""A loopback GitHub REST API for tests, held to GitHub's own OpenAPI description.

`GitHubServer` serves one repository on 127.0.0.1 in GitHub Enterprise's layout: the REST API
under `api_url` (`http://127.0.0.1:PORT/api/v3`, what `Github(base_url=...)` takes), raw files
under `{server_url}/{owner}/{repo}/raw/{ref}/{path}`, artifact archives on `localhost:PORT`
(another host, as GitHub's blob storage is). Every API request and every response is validated
with openapi-core against `tests/fixtures/github-openapi/` (see the README there). A request
that breaks the contract is answered 422, a response of ours that does is answered 500, and
both are recorded in `contract_errors`, which the `github_server` fixture requires empty.

    def test_x(github_server: GitHubServer) -> None:
        pull = github_server.add_pull(7, head_repo="fork/repo")      # registers its commits too
        github_server.add_comments(7, 3, user="reviewer")            # seeded by someone else
        run = github_server.add_workflow_run(pull_numbers=[7])
        github_server.add_artifact(run.id, "metrics", {"metrics.json": "{}"})
        github_server.token_permissions["ro"] = READ_ONLY            # 403 on any write
        github_server.fail_next("POST", r"/comments$", 502)          # or **SECONDARY_RATE_LIMIT
        code = run_cli(..., env=github_server.env())                 # GITHUB_API_URL and friends
        assert [r.operation for r in github_server.requests] == [...]

Register the fixture in a conftest with `from tests.helpers.github_server import github_server`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http
import io
import itertools
import json
import math
import mimetypes
import re
import threading
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "github-openapi"
SPEC_FILE = SPEC_PATH / "api.github.com.subset.json"
API_PREFIX = "/api/v3"  # GitHub Enterprise's layout: the API and the web share one host
DEFAULT_TOKEN = "ghs_loopback_test_token"
BOT_LOGIN = "github-actions[bot]"
BOT_ID = 41898282  # the real id of github-actions[bot]
NOW = "2026-01-01T00:00:00Z"  # every timestamp; output stays deterministic
RATE_RESET = 4102444800  # 2100-01-01: never reached
MAX_COMMENT_LENGTH = 65536
DOCS_URL = "https://docs.github.com/rest"

SCOPES = ("actions", "administration", "checks", "contents", "issues", "pull_requests", "statuses")
ALL_WRITE: dict[str, str] = dict.fromkeys(SCOPES, "write")
# What GITHUB_TOKEN gets on a pull request from a fork: read everywhere, whatever the workflow asks.
READ_ONLY: dict[str, str] = dict.fromkeys(SCOPES, "read")

SECONDARY_RATE_LIMIT: dict[str, Any] = {
    "status": 403,
    "headers": {"Retry-After": "1"},
    "body": {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
        "try again. If you reach out to GitHub Support for help, please include the request ID "
        "C0DE:1A2B:3C4D5E:6F7A8B:67890ABC.",
        "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
        "rate-limits-for-the-rest-api#about-secondary-rate-limits",
    },
}

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

# ---------------------------------------------------------------------------------------------
# The contract: GitHub's description, loaded once per process, with the README's load-time fixes.


@dataclass(frozen=True)
class Contract:
    raw: dict[str, Any]
    spec: Any  # openapi_core.OpenAPI
    finder: Any  # APICallPathFinder
    operations: dict[str, dict[str, Any]]  # operationId -> operation

    def resolve(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.raw
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return dict(schema)

    def instance(self, schema: Mapping[str, Any] | str, overlay: Any = ...) -> Any:
        """A value of `schema`: its required fields filled in, then `overlay` laid over them.

        Our response bodies are built this way, from the schema rather than from GitHub's
        examples (two of which fail their own schemas), and then validated like any other.
        """
        if isinstance(schema, str):
            schema = {"$ref": f"#/components/schemas/{schema}"}
        schema = self.resolve(schema)
        if "allOf" in schema:
            schema = self._merge_all_of(schema)
        if overlay is not ... and not isinstance(overlay, (dict, list)):
            return overlay
        for key in ("oneOf", "anyOf"):
            if key in schema and "properties" not in schema:
                return self.instance(schema[key][0], overlay)
        kind = schema.get("type", "object" if "properties" in schema else None)
        if isinstance(overlay, dict) or (kind == "object" and overlay is ...):
            if overlay is ... and schema.get("nullable"):
                return None
            return self._object(schema, overlay if isinstance(overlay, dict) else {})
        if isinstance(overlay, list) or (kind == "array" and overlay is ...):
            items = overlay if isinstance(overlay, list) else [...] * schema.get("minItems", 0)
            return [self.instance(schema.get("items", {}), item) for item in items]
        return _placeholder(schema)

    def _object(self, schema: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
        props = schema.get("properties", {})
        names = dict.fromkeys([*schema.get("required", []), *overlay])
        return {name: self.instance(props.get(name, {}), overlay.get(name, ...)) for name in names}

    def _merge_all_of(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in [schema, *schema["allOf"]]:
            part = self.resolve(part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
            merged["nullable"] = merged.get("nullable") or part.get("nullable", False)
        return merged


def _placeholder(schema: Mapping[str, Any]) -> Any:
    if schema.get("nullable") or not schema:
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return NOW
        if fmt == "uri":
            return "https://api.github.com/"
        return "0" * schema.get("minLength", 0)
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return False if kind == "boolean" else None


def _patch_description(raw: dict[str, Any]) -> None:
    """The README's load-time fixes. Each fails loudly if the description no longer needs it."""
    # 1. The description lists only https://api.github.com; requests come to the loopback port.
    raw["servers"] = [
        {"url": "http://127.0.0.1:{port}/api/v3", "variables": {"port": {"default": "80"}}}
    ]
    # 2. `discriminator` on inline oneOf branches without a mapping: openapi-core looks up
    #    #/components/schemas/completed and rejects every check run. The oneOf keeps the rule.
    check_run = raw["paths"]["/repos/{owner}/{repo}/check-runs"]["post"]["requestBody"]
    check_run["content"]["application/json"]["schema"].pop("discriminator")
    # 3. get-content's discriminator maps `array`, but a discriminator reads an object's property.
    content = raw["paths"]["/repos/{owner}/{repo}/contents/{path}"]["get"]["responses"]["200"]
    content["content"]["application/json"]["schema"].pop("discriminator")
    # 4. A nullable enum must list null to admit it (check-run.conclusion, while in progress).
    assert _admit_null_in_nullable_enums(raw) > 0, "no nullable enum left to fix"


def _admit_null_in_nullable_enums(node: Any) -> int:
    fixed = 0
    if isinstance(node, dict):
        if node.get("nullable") and "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
            fixed += 1
        fixed += sum(_admit_null_in_nullable_enums(value) for value in node.values())
    elif isinstance(node, list):
        fixed += sum(_admit_null_in_nullable_enums(value) for value in node)
    return fixed


def _validator_config() -> Any:
    """openapi-core's V3.0 validators, minus a deep copy of the format checker per schema.

    That copy (5 ms, 10 of them a request) made each request cost 50 ms. The copy only guards
    against adding formats to a shared checker, and nothing here adds any.
    """
    from openapi_core import Config
    from openapi_core.validation.request.validators import V30RequestValidator
    from openapi_core.validation.response.validators import V30ResponseValidator
    from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
    from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

    class SharedFormatChecker(SchemaValidatorsFactory):
        def get_format_checker(self, format_validators: Any = None, extra: Any = None) -> Any:
            if format_validators is None and extra is None:
                return self.format_checker
            return super().get_format_checker(format_validators, extra)

    class RequestValidator(V30RequestValidator):
        schema_validators_factory = SharedFormatChecker(OAS30WriteValidator)

    class ResponseValidator(V30ResponseValidator):
        schema_validators_factory = SharedFormatChecker(OAS30ReadValidator)

    return Config(request_validator_cls=RequestValidator, response_validator_cls=ResponseValidator)


@functools.cache  # about 0.7 s (plus 0.9 s to import openapi-core): once per test session
def load_contract() -> Contract:
    from openapi_core import OpenAPI
    from openapi_core.templating.paths.finders import APICallPathFinder

    raw = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    _patch_description(raw)
    spec = OpenAPI.from_dict(raw, config=_validator_config())
    operations = {
        op["operationId"]: op
        for item in raw["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    return Contract(raw, spec, APICallPathFinder(spec.spec), operations)


# GitHub takes raw slashes in these parameters (marked x-multi-segment) and PyGithub sends them;
# openapi-core matches one segment, so the parameter is re-encoded (/ as %2F) before matching.
_MULTI_SEGMENT = (
    re.compile(r"^(/repos/[^/]+/[^/]+/(?:contents|git/refs?|statuses))/(.+)()$"),
    re.compile(r"^(/repos/[^/]+/[^/]+/commits)/(.+)(/comments|/check-runs)$"),
)


def contract_path(path: str) -> str:
    """`path` as the description's templates match it: one segment per parameter."""
    for pattern in _MULTI_SEGMENT:
        m = pattern.match(path)
        if m:
            return f"{m[1]}/{urllib.parse.quote(urllib.parse.unquote(m[2]), safe='')}{m[3]}"
    return path


def _brief(exc: BaseException) -> str:
    """openapi-core's messages embed the whole offending document; keep one line per error."""
    text = str(exc)
    head = text if len(text) <= 100 else type(exc).__name__
    schema_errors = getattr(exc.__cause__, "schema_errors", None)
    if not schema_errors:
        return _cut(text, 300)
    return f"{head}: " + "; ".join(_brief_schema_error(e) for e in schema_errors)


def _brief_schema_error(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    if error.context:  # oneOf/anyOf: say why each branch failed, not what the value was
        reasons = sorted({_cut(sub.message, 120) for sub in error.context})
        return f"{where}: matches no allowed schema ({'; '.join(reasons)})"
    return f"{where}: {_cut(error.message, 200)}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# State that tests arrange and inspect.


@dataclass(kw_only=True)
class Comment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: str = NOW
    updated_at: str = NOW


@dataclass(kw_only=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str = "feature"
    head_repo: str = ""  # full name; "" means the server's repository, another one a fork
    base_ref: str = "main"
    base_sha: str = ""  # "" means the base branch's head when the pull request is added
    merge_sha: str | None = None
    title: str = "Change the model"
    body: str | None = None
    user: str = "octocat"
    state: str = "open"
    files: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class WorkflowRun:
    id: int
    head_sha: str
    head_branch: str = "feature"
    event: str = "pull_request"
    status: str = "completed"
    conclusion: str | None = "success"
    name: str = "ci-ml"
    path: str = ".github/workflows/ci-ml.yml"
    pull_numbers: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class Artifact:
    id: int
    run_id: int
    name: str
    files: dict[str, bytes]
    expired: bool = False

    def zip_bytes(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, data in sorted(self.files.items()):
                archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
        return out.getvalue()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the /api/v3 prefix for API requests; query string apart
    query: dict[str, str]
    body: Any  # decoded JSON, or None
    operation: str | None  # operationId; None outside the API (raw files, artifact blobs)
    status: int


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


@dataclass(frozen=True)
class _Call:
    params: dict[str, str]  # path parameters, percent-decoded
    query: dict[str, str]
    body: Any
    path: str
    login: str


_OPERATIONS: dict[str, Callable[[GitHubServer, _Call], _Reply]] = {}


def _operation(operation_id: str) -> Callable[[Callable[..., _Reply]], Callable[..., _Reply]]:
    def register(handler: Callable[..., _Reply]) -> Callable[..., _Reply]:
        _OPERATIONS[operation_id] = handler
        return handler

    return register


def _sha(kind: str, data: bytes) -> str:
    return hashlib.sha1(b"%s %d\0%s" % (kind.encode(), len(data), data)).hexdigest()


def fake_sha(seed: str) -> str:
    """A 40-hex commit id for arranging, e.g. `fake_sha("pr-7-head")`."""
    return hashlib.sha1(seed.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The server.


class GitHubServer:
    """One repository's worth of GitHub on a free loopback port. Use as a context manager."""

    def __init__(self, *, repository: str = "owner/repo", default_branch: str = "main") -> None:
        self.contract = load_contract()
        self.repository = repository
        self.owner, self.repo = repository.split("/")
        self.default_branch = default_branch
        self.token = DEFAULT_TOKEN
        self.token_permissions: dict[str, dict[str, str]] = {DEFAULT_TOKEN: dict(ALL_WRITE)}
        self.token_logins: dict[str, str] = {}  # token -> login; default BOT_LOGIN
        self.requests: list[RecordedRequest] = []
        self.contract_errors: list[str] = []
        self.comments: dict[int, Comment] = {}
        self.pulls: dict[int, PullRequest] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.commit_comments: list[dict[str, Any]] = []
        self.workflow_runs: dict[int, WorkflowRun] = {}
        self.artifacts: dict[int, Artifact] = {}
        self.runners: dict[int, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, str]] = {}  # sha -> {path: blob sha}, flattened
        self.commits: dict[str, dict[str, Any]] = {}  # sha -> {tree, parents, message}
        self.refs: dict[str, str] = {}  # "refs/heads/main" -> commit sha
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1_000_001)
        self._lock = threading.RLock()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.app = self
        self.port = self._httpd.server_address[1]
        self.server_url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.server_url}{API_PREFIX}"
        # Artifact archives live on another host, as on GitHub (blob storage): clients must
        # follow the 302 there without the token. Same process, other host name.
        self.blob_url = f"http://localhost:{self.port}/_blobs"
        self._thread: threading.Thread | None = None
        self.commit_files(default_branch, {"README.md": b"# repo\n"}, message="Initial commit")

    def __enter__(self) -> GitHubServer:
        serve = functools.partial(self._httpd.serve_forever, poll_interval=0.02)  # fast shutdown
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- arranging -----------------------------------------------------------------------------

    def env(self, token: str | None = None) -> dict[str, str]:
        """The variables a workflow step sees, pointing at this server."""
        return {
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": self.server_url,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_TOKEN": self.token if token is None else token,
        }

    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        """A PyGithub client for this server (for arranging and for the self-tests).

        PyGithub spaces requests (0.25 s) and writes (1 s) by default; not here.
        """
        from github import Auth, Github

        kwargs = {"seconds_between_requests": 0, "seconds_between_writes": 0, **kwargs}
        return Github(base_url=self.api_url, auth=Auth.Token(token or self.token), **kwargs)

    def raw_url(self, ref: str, path: str) -> str:
        return f"{self.server_url}/{self.repository}/raw/{ref}/{urllib.parse.quote(path)}"

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching requests with `status` instead of handling them.

        `path_regex` is searched in the path as `requests` records it (no /api/v3 prefix).
        A faulted request changes nothing. `body` is JSON (default `{"message": reason}`).
        """
        body = {"message": http.HTTPStatus(status).phrase} if body is None else body
        fault = _Fault(method.upper(), re.compile(path_regex), status, dict(headers or {}), body)
        with self._lock:
            self._faults += [fault] * times

    def add_pull(self, number: int, **fields: Any) -> PullRequest:
        fields.setdefault("head_sha", fake_sha(f"pr-{number}-head"))
        pull = PullRequest(number=number, **fields)
        with self._lock:
            pull.base_sha = pull.base_sha or self.refs.get(f"refs/heads/{pull.base_ref}", "")
            for sha in (pull.head_sha, pull.base_sha, pull.merge_sha):
                if sha and sha not in self.commits:
                    self.add_commit(sha)
            self.pulls[number] = pull
        return pull

    def add_comment(self, issue_number: int, body: str, *, user: str = "octocat") -> Comment:
        with self._lock:
            comment = Comment(id=next(self._ids), issue_number=issue_number, body=body, user=user)
            self.comments[comment.id] = comment
        return comment

    def add_comments(
        self, issue_number: int, count: int, *, user: str = "octocat"
    ) -> list[Comment]:
        """`count` comments by someone other than the token's user, oldest first."""
        return [self.add_comment(issue_number, f"comment {i + 1}", user=user) for i in range(count)]

    def comments_on(self, issue_number: int) -> list[Comment]:
        return [c for c in self.comments.values() if c.issue_number == issue_number]

    def add_workflow_run(self, run_id: int | None = None, **fields: Any) -> WorkflowRun:
        with self._lock:
            run_id = next(self._ids) if run_id is None else run_id
            fields.setdefault("head_sha", fake_sha(f"run-{run_id}-head"))
            run = WorkflowRun(id=run_id, **fields)
            if run.head_sha not in self.commits:
                self.add_commit(run.head_sha)
            self.workflow_runs[run.id] = run
        return run

    def add_artifact(
        self, run_id: int, name: str, files: Mapping[str, bytes | str], *, expired: bool = False
    ) -> Artifact:
        data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        with self._lock:
            assert run_id in self.workflow_runs, f"add_workflow_run({run_id}) first"
            artifact = Artifact(
                id=next(self._ids), run_id=run_id, name=name, files=data, expired=expired
            )
            self.artifacts[artifact.id] = artifact
        return artifact

    def add_commit(self, sha: str, files: Mapping[str, bytes | str] | None = None) -> str:
        """Register a commit under a chosen id (a PR head, say), with `files` as its tree."""
        with self._lock:
            self.commits[sha] = {
                "tree": self._store_tree(self._store_files({}, files or {})),
                "parents": [],
                "message": "arranged",
            }
        return sha

    def commit_files(
        self, branch: str, files: Mapping[str, bytes | str | None], *, message: str = "Update"
    ) -> str:
        """Commit `files` (None deletes) on `branch`, creating it as an orphan if missing."""
        with self._lock:
            head = self.refs.get(f"refs/heads/{branch}")
            base = dict(self.trees[self.commits[head]["tree"]]) if head else {}
            tree = self._store_tree(self._store_files(base, files))
            sha = self._store_commit(tree, [head] if head else [], message)
            self.refs[f"refs/heads/{branch}"] = sha
        return sha

    def file_at(self, ref: str, path: str) -> bytes | None:
        with self._lock:
            sha = self._resolve_commit(ref)
            blob = self.trees[self.commits[sha]["tree"]].get(path) if sha else None
            return None if blob is None else self.blobs[blob]

    # -- git model -----------------------------------------------------------------------------

    def _store_files(
        self, base: dict[str, str], files: Mapping[str, bytes | str | None]
    ) -> dict[str, str]:
        for path, data in files.items():
            if data is None:
                base.pop(path, None)
            else:
                base[path] = self._store_blob(data.encode() if isinstance(data, str) else data)
        return base

    def _store_blob(self, data: bytes) -> str:
        sha = _sha("blob", data)  # git's own blob id: `git hash-object` agrees
        self.blobs[sha] = data
        return sha

    def _store_tree(self, files: Mapping[str, str]) -> str:
        sha = _sha("tree", json.dumps(sorted(files.items())).encode())
        self.trees[sha] = dict(sorted(files.items()))
        return sha

    def _store_commit(self, tree: str, parents: list[str], message: str) -> str:
        record = {"tree": tree, "parents": parents, "message": message}
        sha = _sha("commit", json.dumps(record, sort_keys=True).encode())
        self.commits[sha] = record
        return sha

    def _resolve_commit(self, ref: str) -> str | None:
        if ref in self.commits:
            return ref
        for name in (ref, f"refs/{ref}", f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if name in self.refs:
                return self.refs[name]
        return None

    def _is_ancestor(self, old: str, new: str) -> bool:
        todo, seen = [new], set()
        while todo:
            sha = todo.pop()
            if sha == old:
                return True
            if sha not in seen:
                seen.add(sha)
                todo += self.commits.get(sha, {}).get("parents", [])
        return False

    def _top_level(self, files: Mapping[str, str]) -> list[dict[str, Any]]:
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
                        "size": len(self.blobs[blob]),
                        "url": self._url(f"git/blobs/{blob}"),
                    }
                )
        for top, sub in subtrees.items():
            sha = self._store_tree(sub)
            entries.append(
                {
                    "path": top,
                    "mode": "040000",
                    "type": "tree",
                    "sha": sha,
                    "url": self._url(f"git/trees/{sha}"),
                }
            )
        return sorted(entries, key=lambda e: e["path"])

    # -- HTTP ----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        split = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        with self._lock:
            if split.path == API_PREFIX or split.path.startswith(f"{API_PREFIX}/"):
                path = split.path.removeprefix(API_PREFIX)
                reply, operation = self._api(method, path, query, headers, body)
            else:
                path, operation = split.path, None
                reply = self._fault(method, path) or self._web(method, path, headers)
            self.requests.append(
                RecordedRequest(
                    method, path, dict(query), _json_or_none(body), operation, reply.status
                )
            )
        return reply

    def _api(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[_Reply, str | None]:
        from openapi_core.exceptions import OpenAPIError
        from openapi_core.testing import MockRequest

        where = f"{method} {path}"
        target = contract_path(path)
        host = f"http://127.0.0.1:{self.port}"
        try:
            found = self.contract.finder.find(method.lower(), f"{host}{API_PREFIX}{target}")
        except OpenAPIError as e:
            self._violation(f"{where}: {_brief(e)} (not in the description's subset)")
            return self._error_reply(404, "Not Found", None), None
        operation = found.operation["operationId"]
        content_type = headers.get("content-type", "application/json").split(";")[0].strip()
        request = MockRequest(
            host,
            method,
            f"{API_PREFIX}{target}",
            args=query,  # a list of pairs keeps repeated keys; werkzeug's MultiDict takes it
            headers=dict(headers),
            data=body or None,
            content_type=content_type,
        )
        try:
            self.contract.spec.validate_request(request)
        except OpenAPIError as e:
            self._violation(f"{where} ({operation}): {_brief(e)}")
            return self._error_reply(422, f"Invalid request.\n\n{_brief(e)}", operation), operation
        fault = self._fault(method, path)
        if fault:
            return fault, operation
        try:
            login = self._authorize(operation, headers)
            params = {k: urllib.parse.unquote(v) for k, v in found.path_result.variables.items()}
            repo = f"{params.get('owner')}/{params.get('repo')}"
            if "owner" in params and repo.lower() != self.repository.lower():
                raise _HTTPError(404, "Not Found")
            call = _Call(params, dict(query), _json_or_none(body), path, login)
            reply = _OPERATIONS[operation](self, call)
        except _HTTPError as e:
            reply = self._error_reply(e.status, e.message, operation, e.errors)
        return self._checked(request, reply, f"{where} ({operation})", operation), operation

    def _authorize(self, operation: str, headers: Mapping[str, str]) -> str:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token:
            raise _HTTPError(401, "Requires authentication")
        if token not in self.token_permissions:
            raise _HTTPError(401, "Bad credentials")
        scopes, level = _NEEDS.get(operation, ((), "none"))
        granted = self.token_permissions[token]
        if scopes and not any(_LEVELS[granted.get(s, "none")] >= _LEVELS[level] for s in scopes):
            raise _HTTPError(403, "Resource not accessible by integration")
        return self.token_logins.get(token, BOT_LOGIN)

    def _checked(self, request: Any, reply: _Reply, where: str, operation: str) -> _Reply:
        """Validate our own response, where the description documents its status."""
        from openapi_core.exceptions import OpenAPIError
        from openapi_core.testing import MockResponse

        if str(reply.status) not in self.contract.operations[operation]["responses"]:
            return reply  # GitHub answers undocumented statuses too (403, 404 almost anywhere)
        content_type = reply.headers.get("Content-Type", "application/json").split(";")[0]
        response = MockResponse(reply.body, reply.status, reply.headers, content_type)
        try:
            self.contract.spec.validate_response(request, response)
        except OpenAPIError as e:
            self._violation(f"{where} response {reply.status}: {_brief(e)}")
            return self._error_reply(
                500, f"the contract server broke the contract: {_brief(e)}", None
            )
        return reply

    def _violation(self, message: str) -> None:
        self.contract_errors.append(message)

    def _fault(self, method: str, path: str) -> _Reply | None:
        for fault in self._faults:
            if fault.method == method and fault.pattern.search(path):
                self._faults.remove(fault)
                reply = self._json(fault.status, fault.body)
                reply.headers.update(fault.headers)
                return reply
        return None

    def _error_reply(
        self,
        status: int,
        message: str,
        operation: str | None,
        errors: list[dict[str, Any]] | None = None,
    ) -> _Reply:
        docs = self.contract.operations[operation]["externalDocs"]["url"] if operation else DOCS_URL
        payload: dict[str, Any] = {"message": message, "documentation_url": docs}
        if errors:
            payload["errors"] = errors
        return self._json(status, {**payload, "status": str(status)})

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> _Reply:
        # Bodies built from the schema carry https://api.github.com placeholders; PyGithub only
        # follows URLs on its own host.
        text = "" if payload is None else json.dumps(payload)
        text = text.replace("https://api.github.com", self.api_url)
        text = text.replace("https://github.com", self.server_url)
        return _Reply(
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

    def _web(self, method: str, path: str, headers: Mapping[str, str]) -> _Reply:
        raw = re.fullmatch(rf"/{re.escape(self.repository)}/raw/(.+)", path, re.IGNORECASE)
        blob = re.fullmatch(r"/_blobs/artifacts/(\d+)\.zip", path)
        if method == "GET" and raw:
            return self._raw_file(urllib.parse.unquote(raw[1]))
        if method == "GET" and blob:
            if "authorization" in headers:
                # Blob storage rejects a request that carries GitHub's token; it must not leak.
                return _Reply(400, b"Authorization header sent to the artifact storage host")
            artifact = self.artifacts.get(int(blob[1]))
            if artifact:
                return _Reply(200, artifact.zip_bytes(), {"Content-Type": "application/zip"})
            return _Reply(404, b"BlobNotFound")
        self._violation(f"{method} {path}: not under {API_PREFIX}, not a raw file, not a blob")
        return _Reply(404, b"Not Found")

    def _raw_file(self, ref_and_path: str) -> _Reply:
        parts = ref_and_path.split("/")
        for cut in range(1, len(parts)):  # branch names may hold slashes: try each split
            sha = self._resolve_commit("/".join(parts[:cut]))
            blob = self.trees[self.commits[sha]["tree"]].get("/".join(parts[cut:])) if sha else None
            if blob:
                kind = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
                return _Reply(200, self.blobs[blob], {"Content-Type": kind})
        return _Reply(404, b"404: Not Found")

    # -- bodies --------------------------------------------------------------------------------

    def _url(self, rest: str) -> str:
        return f"{self.api_url}/repos/{self.repository}/{rest}"

    def _user(self, login: str) -> dict[str, Any]:
        bot = login.endswith("[bot]")
        user_id = BOT_ID if login == BOT_LOGIN else int(fake_sha(login)[:7], 16)
        html = f"{self.server_url}/{'apps/' if bot else ''}{login.removesuffix('[bot]')}"
        return self.contract.instance(
            "simple-user",
            {
                "login": login,
                "id": user_id,
                "node_id": f"U_{user_id}",
                "type": "Bot" if bot else "User",
                "url": f"{self.api_url}/users/{login}",
                "html_url": html,
                "gravatar_id": "",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            },
        )

    def _repo(self, full_name: str, schema: str = "repository") -> dict[str, Any]:
        owner, name = full_name.split("/")
        return self.contract.instance(
            schema,
            {
                "id": int(fake_sha(full_name)[:7], 16),
                "node_id": f"R_{full_name}",
                "name": name,
                "full_name": full_name,
                "owner": self._user(owner),
                "private": False,
                "fork": full_name != self.repository,
                "default_branch": self.default_branch,
                "url": f"{self.api_url}/repos/{full_name}",
                "html_url": f"{self.server_url}/{full_name}",
            },
        )

    def _comment(self, comment: Comment) -> dict[str, Any]:
        return self.contract.instance(
            "issue-comment",
            {
                "id": comment.id,
                "node_id": f"IC_{comment.id}",
                "body": comment.body,
                "user": self._user(comment.user),
                "created_at": comment.created_at,
                "updated_at": comment.updated_at,
                "author_association": "NONE",
                "url": self._url(f"issues/comments/{comment.id}"),
                "issue_url": self._url(f"issues/{comment.issue_number}"),
                "html_url": f"{self.server_url}/{self.repository}/pull/{comment.issue_number}"
                f"#issuecomment-{comment.id}",
            },
        )

    def _pull(self, pull: PullRequest, schema: str = "pull-request") -> dict[str, Any]:
        head_repo = pull.head_repo or self.repository
        n = pull.number
        return self.contract.instance(
            schema,
            {
                "id": n,
                "node_id": f"PR_{n}",
                "number": n,
                "state": pull.state,
                "title": pull.title,
                "body": pull.body,
                "user": self._user(pull.user),
                "merge_commit_sha": pull.merge_sha,
                "url": self._url(f"pulls/{n}"),
                "html_url": f"{self.server_url}/{self.repository}/pull/{n}",
                "issue_url": self._url(f"issues/{n}"),
                "comments_url": self._url(f"issues/{n}/comments"),
                "statuses_url": self._url(f"statuses/{pull.head_sha}"),
                "head": {
                    "label": f"{head_repo.split('/')[0]}:{pull.head_ref}",
                    "ref": pull.head_ref,
                    "sha": pull.head_sha,
                    "repo": self._repo(head_repo),
                    "user": self._user(head_repo.split("/")[0]),
                },
                "base": {
                    "label": f"{self.owner}:{pull.base_ref}",
                    "ref": pull.base_ref,
                    "sha": pull.base_sha,
                    "repo": self._repo(self.repository),
                    "user": self._user(self.owner),
                },
            },
        )

    def _minimal_pull(self, pull: PullRequest) -> dict[str, Any]:
        def side(ref: str, sha: str, repo: str) -> dict[str, Any]:
            full = self._repo(repo)
            return {"ref": ref, "sha": sha, "repo": {k: full[k] for k in ("id", "url", "name")}}

        return self.contract.instance(
            "pull-request-minimal",
            {
                "id": pull.number,
                "number": pull.number,
                "url": self._url(f"pulls/{pull.number}"),
                "head": side(pull.head_ref, pull.head_sha, pull.head_repo or self.repository),
                "base": side(pull.base_ref, pull.base_sha, self.repository),
            },
        )

    def _check_run(self, run: dict[str, Any]) -> dict[str, Any]:
        output = run.get("output") or {}
        return self.contract.instance(
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
                "url": self._url(f"check-runs/{run['id']}"),
                "html_url": f"{self.server_url}/{self.repository}/runs/{run['id']}",
                "output": {
                    "title": output.get("title"),
                    "summary": output.get("summary"),
                    "text": output.get("text"),
                    "annotations_count": len(output.get("annotations", [])),
                    "annotations_url": self._url(f"check-runs/{run['id']}/annotations"),
                },
                "check_suite": {"id": 1},
                "app": {
                    "id": 15368,
                    "slug": "github-actions",
                    "name": "GitHub Actions",
                    "node_id": "A_15368",
                    "owner": self._user("github"),
                },
                "pull_requests": [
                    self._minimal_pull(p)
                    for p in self.pulls.values()
                    if p.head_sha == run["head_sha"]
                ],
            },
        )

    def _git_ref(self, ref: str) -> dict[str, Any]:
        sha = self.refs[ref]
        return self.contract.instance(
            "git-ref",
            {
                "ref": ref,
                "node_id": f"REF_{ref}",
                "url": self._url(f"git/{ref}"),
                "object": {"type": "commit", "sha": sha, "url": self._url(f"git/commits/{sha}")},
            },
        )

    def _git_commit(self, sha: str) -> dict[str, Any]:
        commit = self.commits[sha]
        person = {"name": "ci-ml", "email": "ci-ml@users.noreply.github.com", "date": NOW}
        return self.contract.instance(
            "git-commit",
            {
                "sha": sha,
                "node_id": f"C_{sha}",
                "url": self._url(f"git/commits/{sha}"),
                "html_url": f"{self.server_url}/{self.repository}/commit/{sha}",
                "author": commit.get("author") or person,
                "committer": commit.get("committer") or person,
                "message": commit["message"],
                "tree": {"sha": commit["tree"], "url": self._url(f"git/trees/{commit['tree']}")},
                "parents": [
                    {
                        "sha": p,
                        "url": self._url(f"git/commits/{p}"),
                        "html_url": f"{self.server_url}/{self.repository}/commit/{p}",
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

    def _content(self, ref: str, path: str, blob: str | None, schema: str) -> dict[str, Any]:
        """A file (blob given) or a directory entry, as the contents API lists it."""
        sha = blob or self._store_tree(self._subtree(ref, path))
        git_url = self._url(f"git/{'blobs' if blob else 'trees'}/{sha}")
        html_url = f"{self.server_url}/{self.repository}/{'blob' if blob else 'tree'}/{ref}/{path}"
        body = {
            "type": "file" if blob else "dir",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": len(self.blobs[blob]) if blob else 0,
            "url": self._url(f"contents/{path}"),
            "git_url": git_url,
            "html_url": html_url,
            "download_url": self.raw_url(ref, path) if blob else None,
            "_links": {"self": self._url(f"contents/{path}"), "git": git_url, "html": html_url},
        }
        if schema == "content-file":
            body |= {
                "encoding": "base64",
                "content": base64.b64encode(self.blobs[blob or ""]).decode(),
            }
        return self.contract.instance(schema, body)

    def _subtree(self, ref: str, directory: str) -> dict[str, str]:
        sha = self._resolve_commit(ref) or ""
        prefix = f"{directory}/" if directory else ""
        files = self.trees[self.commits[sha]["tree"]] if sha else {}
        return {p.removeprefix(prefix): b for p, b in files.items() if p.startswith(prefix)}

    def _paginate(self, call: _Call, items: Sequence[Any]) -> tuple[Sequence[Any], dict[str, str]]:
        """One page of `items` and GitHub's Link header, which PyGithub follows."""
        per_page = min(max(int(call.query.get("per_page", 30)), 1), 100)
        page = max(int(call.query.get("page", 1)), 1)
        last = max(math.ceil(len(items) / per_page), 1)

        def link(n: int, rel: str) -> str:
            query = urllib.parse.urlencode({**call.query, "per_page": per_page, "page": n})
            return f'<{self.api_url}{call.path}?{query}>; rel="{rel}"'

        links = [link(page - 1, "prev")] if page > 1 else []
        links += [link(page + 1, "next"), link(last, "last")] if page < last else []
        links += [link(1, "first")] if page > 1 else []
        chunk = items[(page - 1) * per_page : page * per_page]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _known_commit(self, sha: str) -> str:
        commit = self._resolve_commit(sha)
        if commit is None:
            raise _HTTPError(422, f"No commit found for SHA: {sha}")
        return commit


# ---------------------------------------------------------------------------------------------
# Operations: one handler per operationId, each answering with a body built from its schema.


def _body_limit(call: _Call) -> None:
    if len(call.body["body"]) > MAX_COMMENT_LENGTH:  # GitHub's check; the description has none
        raise _HTTPError(
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


def _pull_for(server: GitHubServer, number: str) -> PullRequest:
    pull = server.pulls.get(int(number))
    if pull is None:
        raise _HTTPError(404, "Not Found")
    return pull


def _comment_for(server: GitHubServer, comment_id: str) -> Comment:
    comment = server.comments.get(int(comment_id))
    if comment is None:
        raise _HTTPError(404, "Not Found")
    return comment


@_operation("issues/list-comments")
def _list_comments(server: GitHubServer, call: _Call) -> _Reply:
    pull = _pull_for(server, call.params["issue_number"])
    page, links = server._paginate(call, server.comments_on(pull.number))
    return server._json(200, [server._comment(c) for c in page], links)


@_operation("issues/create-comment")
def _create_comment(server: GitHubServer, call: _Call) -> _Reply:
    pull = _pull_for(server, call.params["issue_number"])
    _body_limit(call)
    body = server._comment(server.add_comment(pull.number, call.body["body"], user=call.login))
    return server._json(201, body, {"Location": body["url"]})


@_operation("issues/get-comment")
def _get_comment(server: GitHubServer, call: _Call) -> _Reply:
    return server._json(200, server._comment(_comment_for(server, call.params["comment_id"])))


@_operation("issues/update-comment")
def _update_comment(server: GitHubServer, call: _Call) -> _Reply:
    comment = _comment_for(server, call.params["comment_id"])
    _body_limit(call)
    server.comments[comment.id] = comment = replace(comment, body=call.body["body"])
    return server._json(200, server._comment(comment))


@_operation("issues/delete-comment")
def _delete_comment(server: GitHubServer, call: _Call) -> _Reply:
    del server.comments[_comment_for(server, call.params["comment_id"]).id]
    return _Reply(204)


@_operation("pulls/list")
def _list_pulls(server: GitHubServer, call: _Call) -> _Reply:
    state, head, base = (call.query.get(k) for k in ("state", "head", "base"))
    pulls = [
        p
        for p in server.pulls.values()
        if state in ("all", p.state) or (state is None and p.state == "open")
        if head in (None, f"{(p.head_repo or server.repository).split('/')[0]}:{p.head_ref}")
        if base in (None, p.base_ref)
    ]
    page, links = server._paginate(call, pulls)
    return server._json(200, [server._pull(p, "pull-request-simple") for p in page], links)


@_operation("pulls/get")
def _get_pull(server: GitHubServer, call: _Call) -> _Reply:
    return server._json(200, server._pull(_pull_for(server, call.params["pull_number"])))


@_operation("pulls/list-files")
def _list_pull_files(server: GitHubServer, call: _Call) -> _Reply:
    pull = _pull_for(server, call.params["pull_number"])
    page, links = server._paginate(call, pull.files)
    return server._json(
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
                    "contents_url": server._url(f"contents/{name}?ref={pull.head_sha}"),
                },
            )
            for name in page
        ],
        links,
    )


@_operation("checks/create")
def _create_check_run(server: GitHubServer, call: _Call) -> _Reply:
    server._known_commit(call.body["head_sha"])
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
    return server._json(201, server._check_run(run))


@_operation("checks/update")
def _update_check_run(server: GitHubServer, call: _Call) -> _Reply:
    run = server.check_runs.get(int(call.params["check_run_id"]))
    if run is None:
        raise _HTTPError(404, "Not Found")
    run.update(call.body)
    return server._json(200, server._check_run(_settle_check_run(run)))


def _settle_check_run(run: dict[str, Any]) -> dict[str, Any]:
    # GitHub: a conclusion completes the run, and completing stamps completed_at.
    if run.get("conclusion"):
        run["status"] = "completed"
    if run["status"] == "completed" and not run.get("completed_at"):
        run["completed_at"] = NOW
    return run


@_operation("checks/list-for-ref")
def _list_check_runs(server: GitHubServer, call: _Call) -> _Reply:
    sha = server._known_commit(call.params["ref"])
    runs = [r for r in server.check_runs.values() if r["head_sha"] == sha]
    runs = [r for r in runs if call.query.get("check_name") in (None, r["name"])]
    runs = [r for r in runs if call.query.get("status") in (None, r["status"])]
    if call.query.get("filter", "latest") == "latest":
        runs = list({r["name"]: r for r in sorted(runs, key=lambda r: r["id"])}.values())
    page, links = server._paginate(call, sorted(runs, key=lambda r: -r["id"]))
    body = {"total_count": len(runs), "check_runs": [server._check_run(r) for r in page]}
    return server._json(200, body, links)


@_operation("repos/create-commit-status")
def _create_status(server: GitHubServer, call: _Call) -> _Reply:
    sha = server._known_commit(call.params["sha"])
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
            "url": server._url(f"statuses/{sha}"),
            "avatar_url": None,
            "node_id": f"SC_{status['id']}",
            "created_at": NOW,
            "updated_at": NOW,
            "creator": server._user(call.login),
        },
    )
    return server._json(201, body, {"Location": body["url"]})


@_operation("repos/create-commit-comment")
def _create_commit_comment(server: GitHubServer, call: _Call) -> _Reply:
    sha = server._known_commit(call.params["commit_sha"])
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
            "url": server._url(f"comments/{comment['id']}"),
            "node_id": f"CC_{comment['id']}",
            "html_url": f"{server.server_url}/{server.repository}/commit/{sha}#commitcomment-{comment['id']}",
            "user": server._user(call.login),
            "author_association": "NONE",
        },
    )
    return server._json(201, body, {"Location": body["url"]})


@_operation("repos/get")
def _get_repo(server: GitHubServer, call: _Call) -> _Reply:
    return server._json(200, server._repo(server.repository, "full-repository"))


@_operation("rate-limit/get")
def _get_rate_limit(server: GitHubServer, call: _Call) -> _Reply:
    rate = {"limit": 5000, "remaining": 4999, "reset": RATE_RESET, "used": 1, "resource": "core"}
    body = server.contract.instance(
        "rate-limit-overview", {"resources": {"core": rate}, "rate": rate}
    )
    return server._json(200, body, {"X-RateLimit-Limit": "5000"})


@_operation("repos/get-content")
def _get_content(server: GitHubServer, call: _Call) -> _Reply:
    ref = call.query.get("ref", server.default_branch)
    if server._resolve_commit(ref) is None:
        raise _HTTPError(404, f"No commit found for the ref {ref}")
    path = call.params["path"].strip("/")
    files = server._subtree(ref, "")
    if path in files:
        return server._json(200, server._content(ref, path, files[path], "content-file"))
    listing: dict[str, str | None] = {}  # a directory's own entries: files, and subdirectories
    for name, blob in server._subtree(ref, path).items():
        top, _, rest = name.partition("/")
        listing[top] = None if rest else blob
    if not listing:
        raise _HTTPError(404, "Not Found")
    prefix = f"{path}/" if path else ""
    entries = [
        server._content(ref, f"{prefix}{name}", blob, "content-directory")
        for name, blob in sorted(listing.items())
    ]
    return server._json(200, entries)


@_operation("repos/create-or-update-file-contents")
def _put_content(server: GitHubServer, call: _Call) -> _Reply:
    branch = call.body.get("branch", server.default_branch)
    if f"refs/heads/{branch}" not in server.refs:
        raise _HTTPError(404, f"Branch {branch} not found")
    path = call.params["path"]
    current = server._subtree(branch, "").get(path)
    if current and "sha" not in call.body:
        raise _HTTPError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if current and call.body["sha"] != current:
        raise _HTTPError(409, f"{path} does not match {call.body['sha']}")
    data = base64.b64decode(call.body["content"])
    sha = server.commit_files(branch, {path: data}, message=call.body["message"])
    content = server._content(branch, path, server._subtree(branch, "")[path], "content-file")
    del content["content"], content["encoding"]  # file-commit's content carries no data
    return server._json(
        200 if current else 201, {"content": content, "commit": server._git_commit(sha)}
    )


@_operation("git/create-blob")
def _create_blob(server: GitHubServer, call: _Call) -> _Reply:
    content = call.body["content"]
    if call.body.get("encoding", "utf-8") == "base64":
        data = base64.b64decode(content)
    else:
        data = content.encode()
    sha = server._store_blob(data)
    url = server._url(f"git/blobs/{sha}")
    return server._json(
        201, server.contract.instance("short-blob", {"sha": sha, "url": url}), {"Location": url}
    )


@_operation("git/create-tree")
def _create_tree(server: GitHubServer, call: _Call) -> _Reply:
    base_tree = call.body.get("base_tree")
    if base_tree and base_tree not in server.trees:
        raise _HTTPError(422, "base_tree is not a valid tree oid")
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
            raise _HTTPError(422, f"tree.sha {sha} is not a valid blob")
    sha = server._store_tree(files)
    url = server._url(f"git/trees/{sha}")
    body = {"sha": sha, "url": url, "truncated": False, "tree": server._top_level(files)}
    return server._json(201, server.contract.instance("git-tree", body), {"Location": url})


@_operation("git/create-commit")
def _create_commit(server: GitHubServer, call: _Call) -> _Reply:
    tree, parents = call.body["tree"], call.body.get("parents", [])
    if tree not in server.trees:
        raise _HTTPError(422, "Tree SHA does not exist")
    if any(p not in server.commits for p in parents):
        raise _HTTPError(422, "Parent SHA does not exist or is not a commit object")
    sha = server._store_commit(tree, parents, call.body["message"])
    for role in ("author", "committer"):
        if role in call.body:
            server.commits[sha][role] = {"date": NOW, **call.body[role]}
    body = server._git_commit(sha)
    return server._json(201, body, {"Location": body["url"]})


@_operation("git/get-commit")
def _get_commit(server: GitHubServer, call: _Call) -> _Reply:
    if call.params["commit_sha"] not in server.commits:
        raise _HTTPError(404, "Not Found")
    return server._json(200, server._git_commit(call.params["commit_sha"]))


@_operation("git/get-ref")
def _get_ref(server: GitHubServer, call: _Call) -> _Reply:
    ref = f"refs/{call.params['ref']}"
    if ref not in server.refs:
        raise _HTTPError(404, "Not Found")
    return server._json(200, server._git_ref(ref))


@_operation("git/create-ref")
def _create_ref(server: GitHubServer, call: _Call) -> _Reply:
    ref, sha = call.body["ref"], call.body["sha"]
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise _HTTPError(422, f"{ref} is not a valid ref name.")
    if ref in server.refs:
        raise _HTTPError(422, "Reference already exists")
    if sha not in server.commits:
        raise _HTTPError(422, "Object does not exist")
    server.refs[ref] = sha
    body = server._git_ref(ref)
    return server._json(201, body, {"Location": body["url"]})


@_operation("git/update-ref")
def _update_ref(server: GitHubServer, call: _Call) -> _Reply:
    ref, sha = f"refs/{call.params['ref']}", call.body["sha"]
    if ref not in server.refs:
        raise _HTTPError(422, "Reference does not exist")
    if sha not in server.commits:
        raise _HTTPError(422, "Object does not exist")
    if not call.body.get("force") and not server._is_ancestor(server.refs[ref], sha):
        raise _HTTPError(422, "Update is not a fast forward")
    server.refs[ref] = sha
    return server._json(200, server._git_ref(ref))


def _workflow_run_for(server: GitHubServer, run_id: str) -> WorkflowRun:
    run = server.workflow_runs.get(int(run_id))
    if run is None:
        raise _HTTPError(404, "Not Found")
    return run


@_operation("actions/get-workflow-run")
def _get_workflow_run(server: GitHubServer, call: _Call) -> _Reply:
    run = _workflow_run_for(server, call.params["run_id"])
    url = server._url(f"actions/runs/{run.id}")
    return server._json(
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
                "pull_requests": [server._minimal_pull(server.pulls[n]) for n in run.pull_numbers],
                "actor": server._user("octocat"),
                "triggering_actor": server._user("octocat"),
                "repository": server._repo(server.repository, "minimal-repository"),
                "head_repository": server._repo(server.repository, "minimal-repository"),
            },
        ),
    )


@_operation("actions/list-workflow-run-artifacts")
def _list_artifacts(server: GitHubServer, call: _Call) -> _Reply:
    run = _workflow_run_for(server, call.params["run_id"])
    found = [a for a in server.artifacts.values() if a.run_id == run.id]
    found = [a for a in found if call.query.get("name") in (None, a.name)]
    found.sort(key=lambda a: a.id, reverse=call.query.get("direction", "desc") == "desc")
    page, links = server._paginate(call, found)
    return server._json(
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
                        "url": server._url(f"actions/artifacts/{a.id}"),
                        "expired": a.expired,
                        "archive_download_url": server._url(f"actions/artifacts/{a.id}/zip"),
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


@_operation("actions/download-artifact")
def _download_artifact(server: GitHubServer, call: _Call) -> _Reply:
    artifact = server.artifacts.get(int(call.params["artifact_id"]))
    if artifact is None or call.params["archive_format"] != "zip":
        raise _HTTPError(404, "Not Found")
    if artifact.expired:
        raise _HTTPError(410, "Artifact has expired")
    location = f"{server.blob_url}/artifacts/{artifact.id}.zip?sig=loopback&se=2100-01-01"
    return _Reply(302, b"", {"Location": location, "Content-Type": "text/html;charset=utf-8"})


@_operation("actions/list-self-hosted-runners-for-repo")
def _list_runners(server: GitHubServer, call: _Call) -> _Reply:
    runners = [r for r in server.runners.values() if call.query.get("name") in (None, r["name"])]
    page, links = server._paginate(call, runners)
    body = {
        "total_count": len(runners),
        "runners": [server.contract.instance("runner", r) for r in page],
    }
    return server._json(200, body, links)


@_operation("actions/generate-runner-jitconfig-for-repo")
def _generate_jitconfig(server: GitHubServer, call: _Call) -> _Reply:
    name = call.body["name"]
    if any(r["name"] == name for r in server.runners.values()):
        raise _HTTPError(409, f"Already exists - A runner with the name {name} already exists.")
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
    return server._json(201, body)


@_operation("actions/create-registration-token-for-repo")
def _create_registration_token(server: GitHubServer, call: _Call) -> _Reply:
    token = {"token": "LLBF3JGZDX3P5PMEXLND6TS6FCWO6", "expires_at": "2100-01-01T00:00:00Z"}
    return server._json(201, server.contract.instance("authentication-token", token))


@_operation("actions/delete-self-hosted-runner-from-repo")
def _delete_runner(server: GitHubServer, call: _Call) -> _Reply:
    if server.runners.pop(int(call.params["runner_id"]), None) is None:
        raise _HTTPError(404, "Not Found")
    return _Reply(204)


# ---------------------------------------------------------------------------------------------
# Plumbing and the fixture.


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: GitHubServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as PyGithub's session expects
    timeout = 10  # an idle keep-alive connection does not hold its thread forever
    disable_nagle_algorithm = True  # headers and body go out apart: no 40 ms delayed-ACK stall
    server: _HTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        app = self.server.app
        try:
            reply = app.handle(self.command, self.path, headers, body)
        except Exception as e:  # noqa: BLE001 - a bug here must fail the test, not hang a client
            app.contract_errors.append(f"{self.command} {self.path}: server bug: {e!r}")
            reply = _Reply(500, f"contract server bug: {e!r}".encode())
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are in GitHubServer.requests


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    """A fresh server per test; teardown fails the test if any request broke the contract."""
    with GitHubServer() as server:
        yield server
    if server.contract_errors:
        pytest.fail("GitHub's contract was broken:\n" + "\n".join(server.contract_errors))
