"""`ci-ml comment` against the GitHub contract server: every request and response is checked
against GitHub's OpenAPI description (the fixture fails the test on any violation)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from ci_ml.report.json_doc import report_to_dict
from ci_ml.report.metrics import diff_metrics
from ci_ml.report.render import PlotRef, Report, StageRow
from tests.helpers.github_server import (
    READ_ONLY,
    SECONDARY_RATE_LIMIT,
    GitHubServer,
    fake_sha,
)
from tests.helpers.gitrepo import read_github_output, run_cli
from tests.helpers.moto_server import S3Bucket

HEAD = fake_sha("pr-7-head")


def png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1), dpi=50)
    fig.add_subplot().plot([0, 1], [1, 0])
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_report(directory: Path, **changes: object) -> Report:
    fields: dict[str, object] = {
        "pipeline": "demo",
        "base_label": "main",
        "base_sha": fake_sha("base"),
        "head_label": "working tree",
        "head_sha": HEAD,
        "stages": (StageRow(name="train", status="ran", why="param lr changed", duration_s=3.0),),
        "metrics": tuple(diff_metrics({"m.json": {"acc": 0.9}}, {"m.json": {"acc": 0.95}}, {})),
        "plots": (PlotRef(title="Loss", url="plots/loss.png"),),
    }
    fields.update(changes)
    report = Report(**fields)  # type: ignore[arg-type]
    (directory / "plots").mkdir(parents=True, exist_ok=True)
    (directory / "plots/loss.png").write_bytes(png())
    (directory / "report.json").write_text(json.dumps(report_to_dict(report)))
    return report


def event_file(tmp_path: Path, payload: dict[str, object]) -> str:
    path = tmp_path / f"event-{len(list(tmp_path.glob('event-*')))}.json"
    path.write_text(json.dumps(payload))
    return str(path)


def comment(
    server: GitHubServer,
    tmp_path: Path,
    *args: str,
    run_id: str = "100",
    token: str | None = None,
    event: dict[str, object] | None = None,
) -> tuple[int, str]:
    payload = event or {"pull_request": {"number": 7, "head": {"sha": HEAD}}}
    env = {
        **server.env(token),
        "GITHUB_EVENT_PATH": event_file(tmp_path, payload),
        "GITHUB_RUN_ID": run_id,
        "GITHUB_WORKFLOW": "ci-ml",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    code, _out, err = run_cli(
        "comment", "--report", str(tmp_path / "report"), *args, cwd=tmp_path, env=env
    )
    return code, err


@pytest.fixture
def pr(github_server: GitHubServer, tmp_path: Path) -> GitHubServer:
    github_server.add_pull(7, head_sha=HEAD)
    write_report(tmp_path / "report")
    return github_server


def bot_comments(server: GitHubServer, number: int = 7) -> list[str]:
    return [c.body for c in server.comments_on(number) if c.user == "github-actions[bot]"]


def test_creates_then_updates_one_comment_with_working_images(
    pr: GitHubServer, tmp_path: Path
) -> None:
    pr.add_comments(7, 120)  # a busy PR: three pages of other people's comments
    assert comment(pr, tmp_path)[0] == 0
    write_report(
        tmp_path / "report",
        metrics=tuple(diff_metrics({"m.json": {"acc": 0.9}}, {"m.json": {"acc": 0.97}}, {})),
    )
    assert comment(pr, tmp_path, run_id="101")[0] == 0
    [body] = bot_comments(pr)
    assert "run=101" in body
    assert "0.97" in body
    assert [c.body for c in pr.comments_on(7) if c.user == "octocat"] == [
        f"comment {i + 1}" for i in range(120)
    ]
    url = re.search(r"!\[Loss\]\(([^)]+)\)", body).group(1)  # type: ignore[union-attr]
    assert url.startswith(f"{pr.server_url}/owner/repo/raw/")
    image = requests.get(url, timeout=10)
    assert image.status_code == 200
    assert image.content == (tmp_path / "report/plots/loss.png").read_bytes()
    conclusions = [run["conclusion"] for run in pr.check_runs.values()]
    assert conclusions == ["success", "success"]
    assert all(run["name"] == "ci-ml" for run in pr.check_runs.values())


def test_a_run_for_an_older_commit_does_not_overwrite(pr: GitHubServer, tmp_path: Path) -> None:
    assert comment(pr, tmp_path)[0] == 0
    before = bot_comments(pr)
    pr.pulls[7].head_sha = fake_sha("pr-7-newer")  # the author pushed again meanwhile
    write_report(tmp_path / "report", pipeline="stale")
    code, err = comment(pr, tmp_path, run_id="99")
    assert code == 0
    assert "skipped" in err
    assert bot_comments(pr) == before


def test_read_only_token_leaves_the_report_as_an_artifact(pr: GitHubServer, tmp_path: Path) -> None:
    pr.token_permissions["fork-token"] = READ_ONLY
    code, err = comment(pr, tmp_path, token="fork-token")
    assert code == 0
    assert "upload it as the `ci-ml-report` artifact" in err
    assert read_github_output(tmp_path / "output")["needs-artifact"] == "true"
    assert pr.comments_on(7) == []


def test_retries_after_a_502_and_a_secondary_rate_limit(pr: GitHubServer, tmp_path: Path) -> None:
    pr.fail_next("POST", r"/issues/7/comments$", 502)
    pr.fail_next("POST", r"/check-runs$", **SECONDARY_RATE_LIMIT)
    assert comment(pr, tmp_path)[0] == 0
    assert len(bot_comments(pr)) == 1
    assert len(pr.check_runs) == 1
    statuses = [
        (r.method, r.path.split("/")[-1], r.status) for r in pr.requests if r.method == "POST"
    ]
    assert ("POST", "comments", 502) in statuses
    assert ("POST", "check-runs", 403) in statuses


def test_falls_back_to_a_commit_status_without_checks_permission(
    pr: GitHubServer, tmp_path: Path
) -> None:
    pr.token_permissions["no-checks"] = {**pr.token_permissions[pr.token], "checks": "read"}
    assert comment(pr, tmp_path, token="no-checks")[0] == 0
    assert pr.check_runs == {}
    assert [(s["state"], s["context"]) for s in pr.statuses] == [("success", "ci-ml")]


def test_gate_failure_fails_the_check(pr: GitHubServer, tmp_path: Path) -> None:
    from ci_ml.config import MetricRule

    deltas = diff_metrics(
        {"m.json": {"acc": 0.9}}, {"m.json": {"acc": 0.5}}, {"acc": MetricRule(max_regression=0.01)}
    )
    write_report(tmp_path / "report", metrics=tuple(deltas))
    assert comment(pr, tmp_path)[0] == 0
    [run] = pr.check_runs.values()
    assert run["conclusion"] == "failure"


def test_a_huge_report_is_shrunk_below_the_comment_limit(pr: GitHubServer, tmp_path: Path) -> None:
    stages = tuple(
        StageRow(name=f"stage-{i}", status="failed", why="x" * 300, log_tail=("y" * 200,) * 50)
        for i in range(300)
    )
    write_report(tmp_path / "report", stages=stages)
    assert comment(pr, tmp_path)[0] == 0
    [body] = bot_comments(pr)
    assert len(body) <= 65_536
    assert "Shortened to fit a comment" in body


def test_workflow_run_takes_the_pr_from_the_event_and_re_renders_the_artifact(
    github_server: GitHubServer, tmp_path: Path
) -> None:
    head = fake_sha("fork-head")
    github_server.add_pull(9, head_sha=head, head_repo="someone/repo")
    github_server.add_pull(10, head_sha=fake_sha("other"), head_repo="someone/repo")
    hostile = write_report(tmp_path / "artifact", pipeline="<img src=x onerror=alert(1)> @octocat")
    doc = report_to_dict(hostile)
    doc["run_url"] = "https://evil.example/phish"
    run = github_server.add_workflow_run(555, head_sha=head, event="pull_request", pull_numbers=[])
    github_server.add_artifact(
        run.id,
        "ci-ml-report",
        {
            "report.json": json.dumps(doc),
            "report.md": "<script>not posted</script> @everyone",
            "plots/loss.png": (tmp_path / "artifact/plots/loss.png").read_bytes(),
        },
    )
    event = {
        "workflow_run": {
            "id": 555,
            "head_sha": head,
            "head_repository": {"full_name": "someone/repo"},
        }
    }
    code, err = comment(github_server, tmp_path, "--from-artifact", run_id="600", event=event)
    assert code == 0, err
    [body] = bot_comments(github_server, 9)
    assert "<img" not in body.replace("`<img", "")
    assert "@octocat" not in body.replace("`", "")
    assert "not posted" not in body
    assert "evil.example" not in body
    assert "/actions/runs/600" in body
    assert bot_comments(github_server, 10) == []


def test_push_without_a_pr_can_comment_on_the_commit(
    github_server: GitHubServer, tmp_path: Path
) -> None:
    sha = github_server.refs["refs/heads/main"]
    write_report(tmp_path / "report")
    env_event: dict[str, object] = {"ref": "refs/heads/main"}
    github_server_env = {"GITHUB_SHA": sha}
    code, _out, _err = run_cli(
        "comment",
        "--report",
        str(tmp_path / "report"),
        "--on-push",
        "commit-comment",
        "--image-branch",
        "",
        cwd=tmp_path,
        env={
            **github_server.env(),
            **github_server_env,
            "GITHUB_EVENT_PATH": event_file(tmp_path, env_event),
        },
    )
    assert code == 0
    assert len(github_server.commit_comments) == 1


def test_report_comment_posts_what_report_wrote(
    github_server: GitHubServer, tmp_path: Path
) -> None:
    from tests.helpers.gitrepo import GitRepo

    repo = GitRepo.init(tmp_path / "repo")
    repo.write(
        {
            "dvc.yaml": "stages:\n  a:\n    cmd: printf 'acc,1' > m.csv\n    metrics: [m.csv]\n",
            ".gitignore": "m.csv\n",
        },
        commit="base",
    )
    head = repo.git("rev-parse", "HEAD")
    github_server.add_pull(3, head_sha=head)
    assert run_cli("run", "--all", cwd=repo.path)[0] == 0
    env = {
        **github_server.env(),
        "GITHUB_EVENT_PATH": event_file(
            tmp_path, {"pull_request": {"number": 3, "head": {"sha": head}}}
        ),
    }
    code, _out, err = run_cli("report", "--base", "HEAD", "--comment", cwd=repo.path, env=env)
    assert code == 0, err
    assert len(bot_comments(github_server, 3)) == 1


def test_images_in_an_s3_bucket_with_presigned_links(
    pr: GitHubServer, tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    code, err = comment(pr, tmp_path, "--image-store", f"{s3_bucket.url}/plots")
    assert code == 0, err
    [body] = bot_comments(pr)
    url = re.search(r"!\[Loss\]\(([^)]+)\)", body).group(1)  # type: ignore[union-attr]
    assert "Signature=" in url
    assert "expire" in err
    image = requests.get(url, timeout=10)
    assert image.status_code == 200
    assert image.content == (tmp_path / "report/plots/loss.png").read_bytes()
    assert "ci-ml-assets" not in [r.split("/")[-1] for r in pr.refs]


def test_images_can_be_left_out(pr: GitHubServer, tmp_path: Path) -> None:
    assert comment(pr, tmp_path, "--image-store", "none")[0] == 0
    [body] = bot_comments(pr)
    assert "### Plots" not in body


def _fork_artifact(
    github_server: GitHubServer, tmp_path: Path, files: dict[str, object], head: str
) -> dict[str, object]:
    github_server.add_pull(9, head_sha=head, head_repo="someone/repo")
    run = github_server.add_workflow_run(556, head_sha=head, event="pull_request", pull_numbers=[])
    github_server.add_artifact(run.id, "ci-ml-report", files)
    return {
        "workflow_run": {
            "id": 556,
            "head_sha": head,
            "head_repository": {"full_name": "someone/repo"},
        }
    }


def test_a_fake_png_from_a_fork_is_not_published(
    github_server: GitHubServer, tmp_path: Path
) -> None:
    head = fake_sha("fork-png")
    report = write_report(tmp_path / "artifact")
    # PNG's signature, then HTML: the old check looked at the first eight bytes only.
    fake = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"
    event = _fork_artifact(
        github_server,
        tmp_path,
        {"report.json": json.dumps(report_to_dict(report)), "plots/loss.png": fake},
        head,
    )
    code, err = comment(github_server, tmp_path, "--from-artifact", run_id="601", event=event)
    assert code == 0, err
    assert "skipping image plots/loss.png: truncated chunk" in err or "bad CRC" in err
    assert all(fake not in blob for blob in github_server.blobs.values())


def test_the_artifact_cannot_name_the_head_commit(
    github_server: GitHubServer, tmp_path: Path
) -> None:
    head = fake_sha("fork-head-2")
    doc = report_to_dict(write_report(tmp_path / "artifact"))
    doc["head_sha"] = fake_sha("what-the-fork-claims")
    event = _fork_artifact(github_server, tmp_path, {"report.json": json.dumps(doc)}, head)
    code, err = comment(github_server, tmp_path, "--from-artifact", run_id="602", event=event)
    assert code == 0, err
    [body] = bot_comments(github_server, 9)
    assert fake_sha("what-the-fork-claims")[:7] not in body
    assert head[:7] in body


def test_another_bots_marker_is_not_ours(pr: GitHubServer, tmp_path: Path) -> None:
    assert comment(pr, tmp_path)[0] == 0
    [ours] = [c for c in pr.comments_on(7) if c.user == "github-actions[bot]"]
    # Another app copies our marker and claims a later run, hoping we stop updating.
    fake_marker = re.sub(r"run=\d+", "run=999999", ours.body.split("\n", 1)[0])
    pr.add_comment(7, fake_marker + "\nnothing to see", user="evil-app[bot]")
    write_report(tmp_path / "report", pipeline="demo")
    code, err = comment(pr, tmp_path, run_id="101")
    assert code == 0, err
    assert "comment updated" in err
    assert next(c.body for c in pr.comments_on(7) if c.user == "evil-app[bot]").endswith(
        "nothing to see"
    )


def test_the_check_of_a_pipeline_in_a_subdirectory_is_named_after_it(
    pr: GitHubServer, tmp_path: Path
) -> None:
    write_report(tmp_path / "report", pipeline="vision", pipeline_dir="models/vision")
    assert comment(pr, tmp_path)[0] == 0
    assert [run["name"] for run in pr.check_runs.values()] == ["ci-ml: models/vision"]
