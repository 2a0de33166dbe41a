"""`ci-ml comment`: post the report to GitHub: one PR comment updated in place, plot images,
a check run that can gate merges; fork PRs through an artifact and a `workflow_run` workflow."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ci_ml.errors import UserError
from ci_ml.github import (
    GitHub,
    GitHubError,
    GitHubPermissionError,
    conclusion_of,
    gha,
    repo_context,
)
from ci_ml.report import (
    Report,
    ReportFormatError,
    check_name,
    png_problem,
    render_report,
    report_from_dict,
    verdict,
)
from ci_ml.state import STATE_DIR

log = logging.getLogger("ci_ml")
MAX_IMAGE_BYTES = 2 << 20
MAX_IMAGES = 40


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "comment",
        parents=[common],
        help="post the report: PR comment (updated in place), images, check run",
        description="Post the report that `ci-ml report` wrote. On a pull request: one comment "
        "updated in place, plot images on an orphan branch, and a check run. With a read-only "
        "token (a fork's PR) nothing fails: upload the report directory as an artifact and let "
        "a `workflow_run` workflow post it with --from-artifact.",
    )
    parser.add_argument(
        "--report",
        metavar="DIR",
        default=None,
        help=f"report directory (default: {STATE_DIR}/report)",
    )
    parser.add_argument("--token", default=None, help="GitHub token (default: env GITHUB_TOKEN)")
    parser.add_argument(
        "--from-artifact",
        action="store_true",
        help="in a workflow_run workflow: fetch the report from the triggering run's artifact",
    )
    parser.add_argument(
        "--artifact", default="ci-ml-report", help="artifact name (default: ci-ml-report)"
    )
    parser.add_argument(
        "--image-branch",
        default="ci-ml-assets",
        help="orphan branch for plot images (default: ci-ml-assets); empty: no images",
    )
    parser.add_argument(
        "--image-store",
        default="branch",
        metavar="STORE",
        help="where plot images go: `branch` (default: the --image-branch orphan branch; links "
        "never expire and private repos stay private), `s3://BUCKET/PREFIX` (presigned links, "
        "at most 7 days) or `none`",
    )
    parser.add_argument(
        "--image-base-url",
        default=None,
        metavar="URL",
        help="with an S3 image store: link images as URL/KEY (a CDN or public bucket) "
        "instead of presigned URLs",
    )
    parser.add_argument(
        "--check-name",
        default=None,
        help="check run name (default: 'ci-ml'; 'ci-ml: DIR' for a pipeline in DIR)",
    )
    parser.add_argument("--no-check", action="store_true", help="do not create a check run")
    parser.add_argument(
        "--on-push",
        choices=("commit-comment", "summary"),
        default="summary",
        help="without a PR: comment on the commit, or only the job summary (default)",
    )
    parser.set_defaults(run=run)


def post_directory(directory: Path, env: Mapping[str, str]) -> int:
    """`ci-ml report --comment`: post a report directory with the comment defaults."""
    parser = argparse.ArgumentParser(add_help=False)
    add_parser(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(["comment", "--report", str(directory)])
    args.pipeline = None
    return run(args, env)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    event = gha.load_event(env)
    ctx = repo_context(env, token=args.token)
    gh = GitHub(ctx)
    if args.from_artifact:
        report, images, number, sha = _from_artifact(gh, event, args.artifact)
    else:
        report, images = _from_dir(Path(args.report) if args.report else _default_dir(args, env))
        number = _pr_number(event)
        sha = _head_sha(event, env)
    report = _with_run_url(report, ctx.run_url)
    try:
        return _post(gh, args, report, images, number=number, sha=sha)
    except GitHubPermissionError as e:
        log.warning(
            "%s. This token cannot write (a pull request from a fork gets a read-only token): "
            "the report stays in the report directory; upload it as the `%s` artifact and let "
            "the comment workflow (templates/comment.yml) post it.",
            e,
            args.artifact,
        )
        if env.get("GITHUB_OUTPUT"):
            gha.set_outputs({"needs-artifact": "true"}, env)
        return 0


def _post(
    gh: GitHub,
    args: argparse.Namespace,
    report: Report,
    images: dict[str, bytes],
    *,
    number: int | None,
    sha: str,
) -> int:
    report_id = f"{report.pipeline}-{gh.ctx.workflow}" if gh.ctx.workflow else report.pipeline
    urls: dict[str, str] = {}
    if images and args.image_store != "none" and args.image_branch:
        folder = (
            f"{'pr-' + str(number) if number else 'commit'}/{sha[:12]}/{gh.ctx.run_id or 'local'}"
        )
        named = {f"{folder}/{name}": data for name, data in images.items()}
        published = _publish(gh, args, named, sha)
        urls = {name: published[f"{folder}/{name}"] for name in images}
    # A plot that was not published would be a broken link in the comment: leave it out.
    report = _link_images(report, urls)
    body = render_report(report)
    if number is not None:
        outcome = gh.upsert_comment(
            number, body, report_id=report_id, sha=sha, run_id=gh.ctx.run_id
        )
        log.info(
            "comment %s%s",
            outcome.action,
            f" ({outcome.why})" if outcome.why else f": {outcome.url}",
        )
    elif args.on_push == "commit-comment":
        log.info("commit comment: %s", gh.commit_comment(sha, body))
    if not args.no_check and sha:
        result = verdict(report)
        kind = gh.set_check(
            name=args.check_name or check_name(report),
            sha=sha,
            conclusion=conclusion_of(result.state),
            title=result.text,
            summary=body,
        )
        log.info("%s set: %s", kind, conclusion_of(result.state))
    return 0


def _publish(
    gh: GitHub, args: argparse.Namespace, files: dict[str, bytes], sha: str
) -> dict[str, str]:
    if args.image_store.startswith("s3://"):
        from ci_ml.cache import ClientOptions
        from ci_ml.report import publish_to_s3

        return publish_to_s3(
            files,
            url=args.image_store,
            options=ClientOptions(),
            public_base_url=args.image_base_url,
        )
    if args.image_store != "branch":
        raise UserError(
            f"--image-store {args.image_store!r}: use branch, s3://BUCKET/PREFIX or none."
        )
    return gh.publish_files(files, branch=args.image_branch, message=f"ci-ml plots for {sha[:12]}")


def _default_dir(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    from ci_ml.plan import open_project

    return open_project(args, env).root / STATE_DIR / "report"


def _from_dir(directory: Path) -> tuple[Report, dict[str, bytes]]:
    path = directory / "report.json"
    if not path.is_file():
        raise UserError(f"{path} does not exist: run `ci-ml report` first (or pass --report DIR).")
    report = _decode(path.read_bytes(), str(path))
    return report, _images(
        report,
        lambda name: (directory / name).read_bytes() if (directory / name).is_file() else None,
    )


def _from_artifact(
    gh: GitHub, event: Mapping[str, Any], artifact: str
) -> tuple[Report, dict[str, bytes], int | None, str]:
    run = event.get("workflow_run")
    if not isinstance(run, Mapping):
        raise UserError("--from-artifact needs a workflow_run event (templates/comment.yml).")
    sha = str(run.get("head_sha", ""))
    head_repo = str((run.get("head_repository") or {}).get("full_name", ""))
    # The PR number comes from GitHub's own record of the run, never from the artifact.
    number = gh.pull_for_head(sha, head_repo)
    files = gh.download_artifact(int(run["id"]), artifact)
    if "report.json" not in files:
        raise GitHubError(f"artifact {artifact!r} has no report.json")
    report = _decode(files["report.json"], f"artifact {artifact}")
    # The head commit is the one GitHub ran, not the one the artifact names.
    report = dataclasses.replace(report, head_sha=sha or None)
    return report, _images(report, files.get), number, sha


def _decode(data: bytes, where: str) -> Report:
    try:
        return report_from_dict(json.loads(data))
    except (ValueError, ReportFormatError) as e:
        raise GitHubError(f"{where}: not a ci-ml report ({e})") from e


def _images(report: Report, read: Any) -> dict[str, bytes]:
    """The report's PNGs, checked: a relative `plots/*.png` name, a well-formed PNG of bounded
    size and dimensions (see `report.png_problem`)."""
    images: dict[str, bytes] = {}
    for plot in report.plots[:MAX_IMAGES]:
        if not re.fullmatch(r"plots/[a-z0-9][a-z0-9._-]{0,100}\.png", plot.url):
            continue
        data = read(plot.url)
        problem = "missing" if data is None else png_problem(data, max_bytes=MAX_IMAGE_BYTES)
        if problem is not None:
            log.warning("skipping image %s: %s", plot.url, problem)
            continue
        images[plot.url] = data
    return images


def _link_images(report: Report, urls: Mapping[str, str]) -> Report:
    plots = tuple(dataclasses.replace(p, url=urls[p.url]) for p in report.plots if p.url in urls)
    return dataclasses.replace(report, plots=plots)


def _with_run_url(report: Report, url: str | None) -> Report:
    return dataclasses.replace(report, run_url=url)


def _pr_number(event: Mapping[str, Any]) -> int | None:
    pull = event.get("pull_request")
    if isinstance(pull, Mapping) and isinstance(pull.get("number"), int):
        return int(pull["number"])
    return None


def _head_sha(event: Mapping[str, Any], env: Mapping[str, str]) -> str:
    pull = event.get("pull_request")
    if isinstance(pull, Mapping):
        # On pull_request, GITHUB_SHA is a merge commit; the check belongs on the PR's head.
        return str(pull.get("head", {}).get("sha", ""))
    return env.get("GITHUB_SHA", "")
