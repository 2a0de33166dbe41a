"""The only module that talks to GitHub's REST API (through PyGithub, imported lazily).

It upserts the one report comment, publishes plot images to an orphan branch, sets the check
run (or a commit status where checks are not permitted), and fetches a workflow run's
artifact. PyGithub and requests exceptions never leave this module: they become GitHubError,
or GitHubPermissionError for a 403 that means the token may not write (a fork's PR token).
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ci_ml.errors import CiMlError, UserError

log = logging.getLogger("ci_ml")

MARKER_RE = re.compile(
    r"<!-- ci-ml:report id=(?P<id>[\w.-]+) sha=(?P<sha>[0-9a-f]*) run=(?P<run>\d*) -->"
)
ARTIFACT_LIMIT = 50 << 20  # an artifact from a fork is untrusted: refuse anything bigger


class GitHubError(CiMlError):
    """A GitHub API call failed."""


class GitHubPermissionError(GitHubError):
    """The token may not do this (a pull request from a fork gets a read-only token)."""


ACTIONS_BOT = "github-actions[bot]"


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoContext:
    """Where and as whom to talk to GitHub, read from the Actions environment."""

    api_url: str
    server_url: str
    repository: str
    token: str
    run_id: str = ""
    workflow: str = ""
    # Whose comments carry our marker: the token's own identity. The workflow's GITHUB_TOKEN
    # writes as github-actions[bot]; a GitHub App's token as `<app-slug>[bot]`.
    author: str = ACTIONS_BOT

    @property
    def run_url(self) -> str | None:
        return (
            f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
            if self.run_id
            else None
        )


def repo_context(env: Mapping[str, str], *, token: str | None = None) -> RepoContext:
    token = token or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    repository = env.get("GITHUB_REPOSITORY")
    if not token or not repository:
        missing = "GITHUB_TOKEN (or --token)" if not token else "GITHUB_REPOSITORY"
        raise UserError(
            f"{missing} is not set: ci-ml posts to GitHub only inside a workflow (pass "
            "`github-token` to the action) or with both variables set."
        )
    return RepoContext(
        api_url=env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        server_url=env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
        repository=repository,
        token=token,
        run_id=env.get("GITHUB_RUN_ID", ""),
        workflow=env.get("GITHUB_WORKFLOW", ""),
        author=env.get("CI_ML_COMMENT_AUTHOR") or ACTIONS_BOT,
    )


def marker(report_id: str, sha: str, run_id: str) -> str:
    safe_id = re.sub(r"[^\w.-]", "-", report_id)[:80] or "default"
    return f"<!-- ci-ml:report id={safe_id} sha={sha} run={run_id} -->"


@dataclass(frozen=True, slots=True)
class CommentOutcome:
    action: str  # created, updated, skipped
    url: str | None
    why: str = ""


@contextmanager
def _wrapped(what: str) -> Iterator[None]:
    from github import GithubException

    try:
        yield
    except GithubException as e:
        message = e.data.get("message") if isinstance(e.data, dict) else str(e.data)
        if e.status == 403 and "rate limit" not in str(message).lower():
            raise GitHubPermissionError(f"{what}: GitHub answered 403 ({message})") from e
        raise GitHubError(f"{what}: GitHub answered {e.status} ({message})") from e
    except OSError as e:  # requests' ConnectionError and timeouts are OSErrors
        raise GitHubError(f"{what}: cannot reach GitHub ({e})") from e


class GitHub:
    """A repository on GitHub (or GitHub Enterprise Server: GITHUB_API_URL)."""

    def __init__(self, ctx: RepoContext, *, retries: int = 6, secondary_wait: float = 60.0) -> None:
        from github import Auth, Github, GithubRetry

        self.ctx = ctx
        retry = GithubRetry(total=retries, backoff_factor=1, secondary_rate_wait=secondary_wait)
        self._retry = retry
        # lazy: objects are built from what we know, so no call is spent fetching the repo.
        self._gh = Github(
            auth=Auth.Token(ctx.token),
            base_url=ctx.api_url,
            retry=retry,
            lazy=True,
            seconds_between_requests=None,
            seconds_between_writes=0.2,
            user_agent="ci-ml",
        )
        self._repo = self._gh.get_repo(ctx.repository)

    @functools.cached_property
    def _eager_repo(self) -> Any:
        """A repository object fetched for real (once). A lazily built GitRef PATCHes
        `/git/ref/...`, which GitHub does not serve (PyGithub#1647); a fetched one has
        `/git/refs/...`."""
        from github import Auth, Github

        eager = Github(
            auth=Auth.Token(self.ctx.token),
            base_url=self.ctx.api_url,
            retry=self._retry,
            seconds_between_requests=None,
            seconds_between_writes=0.2,
            user_agent="ci-ml",
        )
        return eager.get_repo(self.ctx.repository)

    # -- comments -----------------------------------------------------------------------

    def pull_head_sha(self, number: int) -> str:
        with _wrapped(f"reading pull request #{number}"):
            return str(self._repo.get_pull(number).head.sha)

    def upsert_comment(
        self, number: int, body: str, *, report_id: str, sha: str, run_id: str
    ) -> CommentOutcome:
        """Edit our comment on PR `number` in place, or create it; never touch anyone else's,
        and never let a run for an older commit overwrite the comment of a newer one."""
        head = self.pull_head_sha(number)
        if sha and head != sha:
            return CommentOutcome("skipped", None, f"the pull request has moved on to {head[:7]}")
        text = f"{marker(report_id, sha, run_id)}\n{body}"
        with _wrapped(f"listing comments of #{number}"):
            pull = self._repo.get_pull(number)
            ours = [
                c
                for c in pull.get_issue_comments()
                if _is_ours(c.body or "", c.user, report_id, self.ctx.author)
            ]
        if ours:
            comment = ours[-1]
            found = MARKER_RE.search(comment.body or "")
            if (
                found
                and found["sha"] == sha
                and found["run"]
                and run_id
                and int(found["run"]) > int(run_id)
            ):
                return CommentOutcome("skipped", comment.html_url, "a later run already reported")
            with _wrapped(f"updating comment {comment.id}"):
                comment.edit(text)
            return CommentOutcome("updated", comment.html_url)
        with _wrapped(f"commenting on #{number}"):
            created = pull.create_issue_comment(text)
        return CommentOutcome("created", created.html_url)

    def commit_comment(self, sha: str, body: str) -> str:
        with _wrapped(f"commenting on commit {sha[:7]}"):
            return str(self._repo.get_commit(sha).create_comment(body).html_url)

    # -- images -------------------------------------------------------------------------

    def publish_files(
        self, files: Mapping[str, bytes], *, branch: str, message: str
    ) -> dict[str, str]:
        """Commit files to an orphan branch through the git data API (no checkout) and return
        a link per path, pinned to the commit so it never rots and private repos stay private."""
        from github import GithubException, InputGitTreeElement

        for attempt in range(3):  # another run may move the branch between our read and write
            with _wrapped(f"publishing images to branch {branch}"):
                parent = self._branch_tip(branch)
                elements = [
                    InputGitTreeElement(
                        path,
                        "100644",
                        "blob",
                        sha=self._repo.create_git_blob(
                            base64.b64encode(data).decode(), "base64"
                        ).sha,
                    )
                    for path, data in sorted(files.items())
                ]
                if parent is None:
                    tree = self._repo.create_git_tree(elements)
                    commit = self._repo.create_git_commit(message, tree, [])
                else:
                    parent_commit = self._repo.get_git_commit(parent)
                    tree = self._repo.create_git_tree(elements, parent_commit.tree)
                    commit = self._repo.create_git_commit(message, tree, [parent_commit])
                try:
                    if parent is None:
                        self._repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
                    else:
                        self._eager_repo.get_git_ref(f"heads/{branch}").edit(commit.sha)
                except GithubException as e:
                    if e.status != 422 or attempt == 2:
                        raise
                    log.info("branch %s moved while publishing; retrying", branch)
                    continue
            base = f"{self.ctx.server_url}/{self.ctx.repository}/raw/{commit.sha}"
            return {path: f"{base}/{path}" for path in files}
        raise GitHubError(f"publishing images to branch {branch}: the branch kept moving")

    def _branch_tip(self, branch: str) -> str | None:
        from github import GithubException

        try:
            return str(self._repo.get_git_ref(f"heads/{branch}").object.sha)
        except GithubException as e:
            if e.status == 404:
                return None
            raise

    # -- checks -------------------------------------------------------------------------

    def set_check(self, *, name: str, sha: str, conclusion: str, title: str, summary: str) -> str:
        """A completed check run; where checks may not be written, a commit status instead.
        Returns 'check' or 'status'."""
        output: dict[str, str | list[dict[str, str | int]]] = {
            "title": title[:255],
            "summary": summary[:65_000],
        }
        from github.GithubObject import NotSet

        details_url = self.ctx.run_url or NotSet
        try:
            with _wrapped(f"creating check run {name!r}"):
                self._repo.create_check_run(
                    name=name,
                    head_sha=sha,
                    status="completed",
                    conclusion=conclusion,
                    output=output,
                    details_url=details_url,
                )
            return "check"
        except GitHubPermissionError as e:
            log.info("%s; falling back to a commit status", e)
        state = {"success": "success", "failure": "failure"}.get(conclusion, "success")
        with _wrapped(f"creating commit status {name!r}"):
            self._repo.get_commit(sha).create_status(
                state=state,
                target_url=self.ctx.run_url or "",
                description=title[:140],
                context=name,
            )
        return "status"

    # -- workflow_run -------------------------------------------------------------------

    def pull_for_head(self, head_sha: str, head_repo: str) -> int | None:
        """The open PR whose head is this commit of this repository (a fork's PR carries no
        number in its workflow_run event, and nothing in its artifact may be trusted for it)."""
        with _wrapped("listing pull requests"):
            for pull in self._repo.get_pulls(state="open"):
                repo = pull.head.repo
                if pull.head.sha == head_sha and repo is not None and repo.full_name == head_repo:
                    return int(pull.number)
        return None

    def download_artifact(self, run_id: int, name: str) -> dict[str, bytes]:
        """The files of artifact `name` of a workflow run, size-limited (untrusted content)."""
        import requests

        with _wrapped(f"listing artifacts of run {run_id}"):
            artifacts = [
                a for a in self._repo.get_workflow_run(run_id).get_artifacts() if a.name == name
            ]
        if not artifacts:
            raise GitHubError(f"workflow run {run_id} has no artifact named {name!r}")
        artifact = artifacts[0]
        if artifact.size_in_bytes > ARTIFACT_LIMIT:
            size = artifact.size_in_bytes
            raise GitHubError(f"artifact {name!r} is {size} bytes; refusing over {ARTIFACT_LIMIT}")
        try:
            response = requests.get(
                artifact.archive_download_url,
                headers={
                    "Authorization": f"Bearer {self.ctx.token}",
                    "Accept": "application/vnd.github+json",
                },
                timeout=60,
            )
            response.raise_for_status()
        except requests.RequestException as e:
            raise GitHubError(f"downloading artifact {name!r}: {e}") from e
        return _unzip_limited(response.content)


def _is_ours(body: str, user: Any, report_id: str, author: str) -> bool:
    found = MARKER_RE.search(body)
    if not found or found["id"] != re.sub(r"[^\w.-]", "-", report_id)[:80]:
        return False
    # Anyone can paste our marker, another bot included (and claim a newer run, so ours would
    # stop updating): only a comment written by this token's identity counts.
    return getattr(user, "type", None) == "Bot" and getattr(user, "login", None) == author


def _unzip_limited(data: bytes) -> dict[str, bytes]:
    import zipfile  # here: `ci-ml plan` imports this module and never unzips

    files: dict[str, bytes] = {}
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            if name.startswith("/") or ".." in name.split("/") or "\\" in name:
                raise GitHubError(f"artifact holds an unsafe path {name!r}")
            total += info.file_size
            if total > ARTIFACT_LIMIT:
                raise GitHubError(f"artifact unpacks to more than {ARTIFACT_LIMIT} bytes; refusing")
            files[name] = archive.read(info)
    return files


def conclusion_of(verdict_state: str) -> str:
    return {"passed": "success", "failed": "failure"}.get(verdict_state, "neutral")
