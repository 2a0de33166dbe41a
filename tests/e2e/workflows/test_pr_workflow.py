"""The pull-request workflow `ci-ml init` writes, run as written under act: plan, the matrix of
run jobs and the report, each job in its own workspace, against the moto S3 bucket and the
GitHub contract server. One test covers several scenarios, since each workflow run costs a
minute: a PR that changes a late stage's param, a second push to it, and a PR that changes
no stage."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

from tests.e2e.workflows.test_main_workflow import fake_gpu, fill_cache, make_origin, manifests
from tests.helpers.act import ActResult, ActRunner, aws_env, runner_path
from tests.helpers.github_server import GitHubServer
from tests.helpers.github_server.access import READ_ONLY
from tests.helpers.gitrepo import GitRepo
from tests.helpers.moto_server import S3Bucket

GATES = "metrics-config:\n  accuracy: {better: higher, max-regression: 0.5}\n"


def log_stages(origin: GitRepo, executed: Path) -> None:
    """Each stage appends its name to `executed` first: what really ran, whichever job ran it."""
    dvc_yaml = origin.path / "dvc.yaml"
    text = re.sub(
        r"cmd: python src/(\w+)\.py",
        lambda m: f"cmd: echo {m.group(1)} >> {executed} && python src/{m.group(1)}.py",
        dvc_yaml.read_text(encoding="utf-8"),
    )
    settings = (origin.path / "ci-ml.yaml").read_text(encoding="utf-8") + GATES
    origin.write({"dvc.yaml": text, "ci-ml.yaml": settings}, commit="Log stages; gate accuracy")


def pr_event(origin: GitRepo, number: int, base_sha: str, branch: str) -> dict[str, object]:
    repo = {"full_name": "owner/repo"}
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": origin.git("rev-parse", "HEAD"), "ref": branch, "repo": repo},
            "base": {"sha": base_sha, "ref": "main", "repo": repo},
        },
        "repository": {"default_branch": "main", **repo},
    }


def run_pr_workflow(
    act_runner: ActRunner,
    origin: GitRepo,
    bucket: S3Bucket,
    github: GitHubServer,
    *,
    payload: dict[str, object],
    run_id: str,
    gpu_tools: Path,
    token: str | None = None,
) -> ActResult:
    act_runner.add_template_python()
    return act_runner.run(
        origin.path / ".github" / "workflows" / "ci-ml-pr.yml",
        repo=origin.path,
        event="pull_request",
        payload=payload,
        # The API is the contract server's; GITHUB_SERVER_URL stays github.com, or
        # upload-artifact takes the run for GitHub Enterprise Server and refuses.
        env={
            "GITHUB_API_URL": github.api_url,
            "GITHUB_REPOSITORY": github.repository,
            "GITHUB_RUN_ID": run_id,
            "GITHUB_RUN_ATTEMPT": "1",
        },
        variables={"CI_ML_CACHE": f"{bucket.url}/ci-ml"},
        secrets={"GITHUB_TOKEN": token or github.token},
        runner_env={"PATH": runner_path(gpu_tools), **aws_env()},
        timeout_s=400,
    )


def artifact_files(result: ActResult, name: str) -> dict[str, bytes]:
    """The files of artifact `name` as act's artifact server stored them (a zip per upload)."""
    found: dict[str, bytes] = {}
    for archive in sorted(result.artifacts.rglob("*.zip")):
        if name in archive.parts or archive.stem == name:
            with zipfile.ZipFile(archive) as zipped:
                found.update({n: zipped.read(n) for n in zipped.namelist() if not n.endswith("/")})
    if not found:
        listing = sorted(str(p.relative_to(result.artifacts)) for p in result.artifacts.rglob("*"))
        raise AssertionError(f"no artifact {name!r} among {listing}")
    return found


def stage_cells(body: str) -> dict[str, str]:
    found = {}
    for line in body.splitlines():
        if match := re.match(r"\| `(\w+)`\s*\| ([^|]+?)\s*\|", line):
            found[match.group(1)] = match.group(2)
    return found


def test_pull_requests_run_only_what_changed_and_keep_one_comment(
    tmp_path: Path, act_runner: ActRunner, s3_bucket: S3Bucket, github_server: GitHubServer
) -> None:
    executed = tmp_path / "executed.log"
    origin, _ = make_origin(tmp_path / "origin")
    log_stages(origin, executed)
    base_sha = origin.git("rev-parse", "HEAD")
    fill_cache(origin, tmp_path / "main-runner", s3_bucket)  # what pushes to main left
    executed.unlink()
    gpu = fake_gpu(tmp_path / "gpu")

    # -- (2) a PR that changes one param of a late stage -------------------------------------
    origin.git("checkout", "-q", "-b", "longer")
    params = (origin.path / "params.yaml").read_text().replace("epochs: 20 ", "epochs: 21 ")
    origin.write({"params.yaml": params}, commit="Train one more epoch")
    payload = pr_event(origin, 7, base_sha, "longer")
    github_server.add_pull(7, head_sha=origin.git("rev-parse", "HEAD"), base_sha=base_sha)

    # pip's cache on the runner before the first run; the run jobs' setup-python saves it.
    pip_cache = act_runner.home / "home" / ".cache" / "pip"
    (pip_cache / "http-v2").mkdir(parents=True)
    (pip_cache / "http-v2" / "downloaded-wheel").write_bytes(b"wheel bytes")
    result = run_pr_workflow(
        act_runner, origin, s3_bucket, github_server, payload=payload, run_id="11", gpu_tools=gpu
    )
    run_log = result.job_lines("run")
    assert any("Cache saved with the key: setup-python-" in x for x in run_log), run_log

    assert executed.read_text().split() == ["train", "evaluate"]
    assert len(manifests(s3_bucket, "untrusted")) == 2
    [comment] = github_server.comments_on(7)
    cells = stage_cells(comment.body)
    assert (cells["train"], cells["evaluate"]) == ("▶️ ran", "▶️ ran")
    assert "2 stages ran" in comment.body
    assert "`train.epochs` | `20`   | `21`" in comment.body
    assert "### Metrics" in comment.body
    assert "✅ **All metric gates passed**" in comment.body
    [check] = github_server.check_runs.values()
    assert (check["name"], check["conclusion"]) == ("ci-ml", "success")

    # -- (3) a second push to the same PR: the comment is updated in place ---------------------
    executed.unlink()
    params = params.replace("epochs: 21 ", "epochs: 22 ")
    origin.write({"params.yaml": params}, commit="Train two more epochs")
    head = origin.git("rev-parse", "HEAD")
    github_server.add_pull(7, head_sha=head, base_sha=base_sha)
    shutil.rmtree(pip_cache)  # a fresh runner: pip's cache comes back from the Actions cache
    result = run_pr_workflow(
        act_runner, origin, s3_bucket, github_server,
        payload=pr_event(origin, 7, base_sha, "longer"), run_id="12", gpu_tools=gpu,
    )  # fmt: skip
    assert any("Cache restored from key: setup-python-" in x for x in result.job_lines("run"))
    assert (pip_cache / "http-v2" / "downloaded-wheel").read_bytes() == b"wheel bytes"
    assert executed.read_text().split() == ["train", "evaluate"]
    [updated] = github_server.comments_on(7)
    assert updated.id == comment.id
    assert "`train.epochs` | `20`   | `22`" in updated.body
    assert head[:7] in updated.body

    # -- (4) + (6) a fork PR that changes no stage: no secrets, a read-only token, no run job;
    # comment.yml then posts the report from the artifact --------------------------------------
    executed.unlink()
    origin.git("checkout", "-q", "-b", "docs", base_sha)
    origin.write({"README.md": "Reworded.\n"}, commit="Reword the README")
    fork_head = origin.git("rev-parse", "HEAD")
    github_server.add_pull(8, head_sha=fork_head, base_sha=base_sha, head_repo="someone/repo")
    github_server.token_permissions["fork-token"] = READ_ONLY
    payload = pr_event(origin, 8, base_sha, "docs")
    payload["pull_request"]["head"]["repo"] = {"full_name": "someone/repo"}  # type: ignore[index]
    result = run_pr_workflow(
        act_runner, origin, s3_bucket, github_server,
        payload=payload, run_id="13", gpu_tools=gpu, token="fork-token",
    )  # fmt: skip
    assert not executed.exists()
    assert "::set-output:: any-will-run=false" in "\n".join(result.job_lines("plan"))
    assert not result.job_lines("run")
    assert github_server.comments_on(8) == []
    # What GitHub would serve comment.yml: the report job's artifact, under the PR's run.
    run = github_server.add_workflow_run(13, head_sha=fork_head, event="pull_request")
    github_server.add_artifact(run.id, "ci-ml-report", artifact_files(result, "ci-ml-report"))
    act_runner.run(
        origin.path / ".github" / "workflows" / "ci-ml-comment.yml",
        repo=origin.path,
        event="workflow_run",
        payload={
            "action": "completed",
            "workflow_run": {
                "id": 13,
                "event": "pull_request",
                "head_sha": fork_head,
                "head_repository": {"full_name": "someone/repo"},
            },
            "repository": {"default_branch": "main", "full_name": "owner/repo"},
        },
        env={"GITHUB_API_URL": github_server.api_url, "GITHUB_REPOSITORY": "owner/repo"},
        secrets={"GITHUB_TOKEN": github_server.token},
        runner_env={"PATH": os.environ["PATH"]},
        timeout_s=300,
    )
    [posted] = github_server.comments_on(8)
    assert "Nothing to run: this change affects no stage of the pipeline." in posted.body
