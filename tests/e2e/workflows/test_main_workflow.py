"""The workflow `ci-ml init` writes for pushes to main, run as written under act: a plan job
and a run job, each in its own workspace, the ci-ml action mapped to this checkout and the
trusted cache area in a moto S3 bucket."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers.act import CI_ML_ACTION, ActResult, ActRunner, aws_env, runner_path
from tests.helpers.gitrepo import GitRepo, run_cli
from tests.helpers.moto_server import S3Bucket

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "get-started"
STAGES = ("prepare", "featurize", "train", "evaluate")


def make_origin(path: Path) -> tuple[GitRepo, str]:
    """The get-started pipeline, then `ci-ml init` in a second commit, as a user would add
    ci-ml to a DVC project. init keeps the example's own ci-ml.yaml (train has `gpu: true`)
    and finds its requirements.txt."""
    origin = GitRepo.init(path)
    shutil.copytree(
        EXAMPLE,
        origin.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".ci-ml", "data", "models", "reports", "__pycache__"),
    )
    base = origin.commit("get-started pipeline")
    code, _, err = run_cli("init", "--action-ref", CI_ML_ACTION, cwd=origin.path)
    assert code == 0, err
    assert (origin.path / "ci-ml.yaml").read_bytes() == (EXAMPLE / "ci-ml.yaml").read_bytes()
    main = (origin.path / ".github/workflows/ci-ml-main.yml").read_text(encoding="utf-8")
    assert "          requirements: requirements.txt\n" in main
    origin.commit("ci-ml init")
    return origin, base


def fake_gpu(directory: Path) -> Path:
    """An `nvidia-smi` that names a GPU: act maps the GPU labels to this host, which has none."""
    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho 'NVIDIA Test GPU'\n", encoding="utf-8")
    tool.chmod(0o755)
    return directory


def run_main_workflow(
    act_runner: ActRunner,
    origin: GitRepo,
    bucket: S3Bucket,
    *,
    before: str,
    gpu_tools: Path | None = None,
) -> ActResult:
    act_runner.add_template_python()
    path = runner_path(*([gpu_tools] if gpu_tools is not None else []))
    return act_runner.run(
        origin.path / ".github" / "workflows" / "ci-ml-main.yml",
        repo=origin.path,
        event="push",
        payload={
            "ref": "refs/heads/main",
            "before": before,
            "after": origin.git("rev-parse", "HEAD"),
            "repository": {"default_branch": "main", "full_name": "owner/repo"},
        },
        variables={"CI_ML_CACHE": f"{bucket.url}/ci-ml"},
        runner_env={"PATH": path, **aws_env()},
        timeout_s=300,
    )


def manifests(bucket: S3Bucket, area: str) -> list[str]:
    listed = bucket.client().list_objects_v2(Bucket=bucket.name, Prefix=f"ci-ml/{area}/manifests/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def fill_cache(origin: GitRepo, clone: Path, bucket: S3Bucket) -> None:
    """What earlier pushes to main left in the trusted area: every stage of HEAD."""
    subprocess.run(["git", "clone", "-q", str(origin.path), str(clone)], check=True)
    path = runner_path()
    code, _, err = run_cli(
        "run", "--all", "--trust", "trusted", "--cache", f"{bucket.url}/ci-ml", "--allow-no-gpu",
        cwd=clone,
        env={"PATH": path},
    )  # fmt: skip
    assert code == 0, err


def test_push_to_main_restores_cached_stages_and_runs_the_changed_one(
    tmp_path: Path, act_runner: ActRunner, s3_bucket: S3Bucket
) -> None:
    origin, _ = make_origin(tmp_path / "origin")
    fill_cache(origin, tmp_path / "earlier-run", s3_bucket)
    before = origin.git("rev-parse", "HEAD")
    evaluate = (origin.path / "src" / "evaluate.py").read_text(encoding="utf-8")
    origin.write({"src/evaluate.py": evaluate + "# reworded\n"}, commit="Touch evaluate")
    filled = manifests(s3_bucket, "trusted")

    result = run_main_workflow(act_runner, origin, s3_bucket, before=before)

    plan = result.job_lines("plan")
    assert '  ⚙  ::set-output:: stages=["evaluate"]' in plan
    assert '  ⚙  ::set-output:: runs-on=["ubuntu-latest"]' in plan
    assert len(filled) == 4
    statuses = {
        parts[1]: parts[2]
        for line in result.job_lines("run")
        if len(parts := line.split()) >= 3 and parts[0] == "|" and parts[1] in STAGES
    }
    assert statuses == {
        "prepare": "unchanged",
        "featurize": "restored",
        "train": "restored",
        "evaluate": "ran",
    }
    after = manifests(s3_bucket, "trusted")
    assert set(filled) < set(after)
    assert len(after) == 5  # evaluate's new key; the other three restored, not rewritten
    assert not manifests(s3_bucket, "untrusted")


def test_first_push_after_init_fills_the_trusted_cache(
    tmp_path: Path, act_runner: ActRunner, s3_bucket: S3Bucket
) -> None:
    origin, base = make_origin(tmp_path / "origin")

    result = run_main_workflow(
        act_runner, origin, s3_bucket, before=base, gpu_tools=fake_gpu(tmp_path / "gpu")
    )

    # Nothing changed since `base` but the cache is empty: every stage runs, train on the GPU.
    plan = result.job_lines("plan")
    assert '  ⚙  ::set-output:: runs-on=["self-hosted", "linux", "gpu"]' in plan
    assert '  ⚙  ::set-output:: stages=["prepare", "featurize", "train", "evaluate"]' in plan
    assert "NVIDIA Test GPU" in "\n".join(result.job_lines("run"))
    assert len(manifests(s3_bucket, "trusted")) == 4
    assert not manifests(s3_bucket, "untrusted")
