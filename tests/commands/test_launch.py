"""The `ci-ml` command as installed: a plan of the working tree reads the index and runs
`git status` once, started before the CLI's imports, and for the right project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.gitrepo import GitRepo

STAGE = "stages:\n  a:\n    cmd: echo\n    deps: [data]\n"


def _ci_ml(repo: Path, *args: str, cwd: Path | None = None) -> tuple[int, str, list[list[str]]]:
    """Run `python -m ci_ml ARGS` (the console entry's code) and return its exit code, its
    stderr and the argv of every git command it ran (from git's own trace)."""
    trace = repo.parent / "trace.json"
    trace.unlink(missing_ok=True)
    env = {**os.environ, "GIT_TRACE2_EVENT": str(trace)}
    proc = subprocess.run(
        [sys.executable, "-m", "ci_ml", *args], cwd=cwd or repo, env=env, capture_output=True
    )
    events = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    argvs = [event["argv"][1:] for event in events if event["event"] == "start"]
    return proc.returncode, proc.stderr.decode(), argvs


def _prestarted(argvs: list[list[str]]) -> bool:
    """Whether status started before the CLI looked for the project (its own rev-parse)."""
    tops = [i for i, argv in enumerate(argvs) if "--show-toplevel" in argv]
    status = next(i for i, argv in enumerate(argvs) if "status" in argv)
    return len(tops) == 2 and tops[0] < status < tops[1]


def _count(argvs: list[list[str]], command: str) -> int:
    return sum(1 for argv in argvs if command in argv[:6])


def _repo(git_repo: GitRepo, prefix: str = "") -> GitRepo:
    git_repo.write({f"{prefix}dvc.yaml": STAGE, f"{prefix}data/a.csv": "1\n"}, commit="base")
    git_repo.write({f"{prefix}data/a.csv": "2\n"})
    return git_repo


def test_a_plan_reads_the_working_tree_once(git_repo: GitRepo) -> None:
    repo = _repo(git_repo)
    code, err, argvs = _ci_ml(repo.path, "plan", "--base", "HEAD", "--json")
    assert code == 0, err
    assert _count(argvs, "status") == 1
    assert _prestarted(argvs)
    assert _count(argvs, "ls-files") == 1 + 1  # the index listing, the untracked files in data


def test_a_plan_of_a_project_below_the_top_reads_it_once(git_repo: GitRepo) -> None:
    repo = _repo(git_repo, prefix="ml/")
    (repo.path / "ml/ci-ml.yaml").write_text("")
    code, err, argvs = _ci_ml(repo.path, "-C", "ml", "plan", "--base", "HEAD", "--json")
    assert code == 0, err
    statuses = [argv for argv in argvs if "status" in argv]
    assert len(statuses) == 1
    assert _prestarted(argvs)
    assert statuses[0][-1] == "ml"


def test_a_plan_of_another_head_reads_no_working_tree(git_repo: GitRepo) -> None:
    repo = _repo(git_repo)
    repo.commit("head")
    code, err, argvs = _ci_ml(repo.path, "plan", "--base", "HEAD~1", "--head", "HEAD")
    assert code == 0, err
    assert _count(argvs, "status") == 0


def test_a_plan_that_fails_early_still_reports_its_error(git_repo: GitRepo) -> None:
    git_repo.write({"dvc.yaml": "stages: [\n"}, commit="broken")
    code, err, _ = _ci_ml(git_repo.path, "plan", "--base", "HEAD")
    assert code == 2
    assert "dvc.yaml" in err
    assert "Traceback" not in err
