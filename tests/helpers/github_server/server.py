"""The loopback server: HTTP on 127.0.0.1, the request pipeline, and the fixture API.

Owns `GitHubServer` (start and stop, `env()`, `client()`, `fail_next`, and the state's
arranging methods it inherits), answering API requests in order: find the operation in the
contract, validate the request, apply an injected fault, authorize the token, run the route,
validate the response. Also serves raw files and artifact archives, and the `github_server`
fixture.
"""

from __future__ import annotations

import functools
import http
import json
import mimetypes
import re
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.helpers.github_server import routes  # noqa: F401 - importing it registers the routes
from tests.helpers.github_server.access import ALL_WRITE, authorize
from tests.helpers.github_server.contract import contract_path, describe_error, load_contract
from tests.helpers.github_server.operations import (
    OPERATIONS,
    ApiError,
    Call,
    Reply,
    error_reply,
    json_reply,
)
from tests.helpers.github_server.state import RecordedRequest, RepositoryState

API_PREFIX = "/api/v3"  # GitHub Enterprise's layout: the API and the web share one host
DEFAULT_TOKEN = "ghs_loopback_test_token"

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


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any


class GitHubServer(RepositoryState):
    """One repository's worth of GitHub on a free loopback port. Use as a context manager."""

    def __init__(self, *, repository: str = "owner/repo", default_branch: str = "main") -> None:
        super().__init__(repository=repository, default_branch=default_branch)
        self.contract = load_contract()
        self.token = DEFAULT_TOKEN
        self.token_permissions: dict[str, dict[str, str]] = {DEFAULT_TOKEN: dict(ALL_WRITE)}
        self.token_logins: dict[str, str] = {}  # token -> login; default BOT_LOGIN
        self.requests: list[RecordedRequest] = []
        self.contract_errors: list[str] = []
        self._faults: list[_Fault] = []
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

    # -- HTTP ----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
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
    ) -> tuple[Reply, str | None]:
        from openapi_core.exceptions import OpenAPIError
        from openapi_core.testing import MockRequest

        where = f"{method} {path}"
        target = contract_path(path)
        host = f"http://127.0.0.1:{self.port}"
        try:
            found = self.contract.finder.find(method.lower(), f"{host}{API_PREFIX}{target}")
        except OpenAPIError as e:
            self._violation(f"{where}: {describe_error(e)} (not in the description's subset)")
            return error_reply(self, 404, "Not Found", None), None
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
            self._violation(f"{where} ({operation}): {describe_error(e)}")
            return error_reply(
                self, 422, f"Invalid request.\n\n{describe_error(e)}", operation
            ), operation
        fault = self._fault(method, path)
        if fault:
            return fault, operation
        try:
            login = authorize(
                operation,
                headers,
                token_permissions=self.token_permissions,
                token_logins=self.token_logins,
            )
            params = {k: urllib.parse.unquote(v) for k, v in found.path_result.variables.items()}
            repo = f"{params.get('owner')}/{params.get('repo')}"
            if "owner" in params and repo.lower() != self.repository.lower():
                raise ApiError(404, "Not Found")
            call = Call(params, dict(query), _json_or_none(body), path, login)
            reply = OPERATIONS[operation](self, call)
        except ApiError as e:
            reply = error_reply(self, e.status, e.message, operation, e.errors)
        return self._checked(request, reply, f"{where} ({operation})", operation), operation

    def _checked(self, request: Any, reply: Reply, where: str, operation: str) -> Reply:
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
            self._violation(f"{where} response {reply.status}: {describe_error(e)}")
            return error_reply(
                self, 500, f"the contract server broke the contract: {describe_error(e)}", None
            )
        return reply

    def _violation(self, message: str) -> None:
        self.contract_errors.append(message)

    def _fault(self, method: str, path: str) -> Reply | None:
        for fault in self._faults:
            if fault.method == method and fault.pattern.search(path):
                self._faults.remove(fault)
                reply = json_reply(self, fault.status, fault.body)
                reply.headers.update(fault.headers)
                return reply
        return None

    def _web(self, method: str, path: str, headers: Mapping[str, str]) -> Reply:
        raw = re.fullmatch(rf"/{re.escape(self.repository)}/raw/(.+)", path, re.IGNORECASE)
        blob = re.fullmatch(r"/_blobs/artifacts/(\d+)\.zip", path)
        if method == "GET" and raw:
            return self._raw_file(urllib.parse.unquote(raw[1]))
        if method == "GET" and blob:
            if "authorization" in headers:
                # Blob storage rejects a request that carries GitHub's token; it must not leak.
                return Reply(400, b"Authorization header sent to the artifact storage host")
            artifact = self.artifacts.get(int(blob[1]))
            if artifact:
                return Reply(200, artifact.zip_bytes(), {"Content-Type": "application/zip"})
            return Reply(404, b"BlobNotFound")
        self._violation(f"{method} {path}: not under {API_PREFIX}, not a raw file, not a blob")
        return Reply(404, b"Not Found")

    def _raw_file(self, ref_and_path: str) -> Reply:
        parts = ref_and_path.split("/")
        for cut in range(1, len(parts)):  # branch names may hold slashes: try each split
            sha = self._resolve_commit("/".join(parts[:cut]))
            blob = self.trees[self.commits[sha]["tree"]].get("/".join(parts[cut:])) if sha else None
            if blob:
                kind = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
                return Reply(200, self.blobs[blob], {"Content-Type": kind})
        return Reply(404, b"404: Not Found")


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
            reply = Reply(500, f"contract server bug: {e!r}".encode())
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
