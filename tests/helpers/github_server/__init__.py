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

The package's modules: `contract` (GitHub's OpenAPI description and validation), `state`
(what tests arrange and inspect, and the git objects), `access` (token permissions),
`operations` (what a route gets and gives), `bodies` (GitHub's JSON for the state),
`routes/` (one handler per operationId, grouped by resource) and `server` (HTTP, the request
pipeline, the fixture API and the fixture).
"""

from __future__ import annotations

from tests.helpers.github_server.access import ALL_WRITE, BOT_ID, BOT_LOGIN, READ_ONLY, SCOPES
from tests.helpers.github_server.contract import (
    SPEC_FILE,
    SPEC_PATH,
    Contract,
    contract_path,
    load_contract,
)
from tests.helpers.github_server.operations import DOCS_URL, RATE_RESET
from tests.helpers.github_server.routes.issues import MAX_COMMENT_LENGTH
from tests.helpers.github_server.server import (
    API_PREFIX,
    DEFAULT_TOKEN,
    SECONDARY_RATE_LIMIT,
    GitHubServer,
    github_server,
)
from tests.helpers.github_server.state import (
    NOW,
    Artifact,
    Comment,
    PullRequest,
    RecordedRequest,
    WorkflowRun,
    fake_sha,
)

__all__ = [
    "ALL_WRITE",
    "API_PREFIX",
    "BOT_ID",
    "BOT_LOGIN",
    "DEFAULT_TOKEN",
    "DOCS_URL",
    "MAX_COMMENT_LENGTH",
    "NOW",
    "RATE_RESET",
    "READ_ONLY",
    "SCOPES",
    "SECONDARY_RATE_LIMIT",
    "SPEC_FILE",
    "SPEC_PATH",
    "Artifact",
    "Comment",
    "Contract",
    "GitHubServer",
    "PullRequest",
    "RecordedRequest",
    "WorkflowRun",
    "contract_path",
    "fake_sha",
    "github_server",
    "load_contract",
]
