"""The act harness itself, on a tiny workflow: jobs in order, outputs between them, an
artifact through the vendored upload-artifact, one workspace per job; and the vendored
actions are exactly the ones the templates pin."""

from __future__ import annotations

import hashlib
import re
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.helpers.act import (
    CI_ML_ACTION,
    ROOT,
    VENDORED,
    VENDORED_ACTIONS,
    ActFailed,
    ActRunner,
)
from tests.helpers.gitrepo import GitRepo

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
UPLOAD = "actions/upload-artifact@b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882"

# `first` leaves a file in its workspace and passes its workspace path on; `second` must
# see the value, a workspace of its own, and no trace of `first`'s file.
TWO_JOBS = f"""\
name: smoke
on: push
permissions: {{}}
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      workspace: ${{{{ steps.mark.outputs.workspace }}}}
      greeting: ${{{{ steps.mark.outputs.greeting }}}}
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - id: mark
        env:
          GREETING: ${{{{ vars.GREETING }}}}
        run: |
          test -f tracked.txt
          echo "from first" > left-behind.txt
          echo "workspace=$GITHUB_WORKSPACE" >> "$GITHUB_OUTPUT"
          echo "greeting=$GREETING" >> "$GITHUB_OUTPUT"
      - uses: {UPLOAD}
        with:
          name: marker
          path: left-behind.txt
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - env:
          FIRST_WORKSPACE: ${{{{ needs.first.outputs.workspace }}}}
          GREETING: ${{{{ needs.first.outputs.greeting }}}}
        run: |
          test -f tracked.txt
          test ! -e left-behind.txt
          test "$FIRST_WORKSPACE" != "$GITHUB_WORKSPACE"
          echo "second saw: $GREETING"
"""


def make_repo(tmp_path: Path, workflow: str) -> tuple[GitRepo, Path]:
    repo = GitRepo.init(tmp_path / "repo")
    repo.write({"tracked.txt": "tracked\n", ".github/workflows/smoke.yml": workflow}, commit="init")
    return repo, repo.path / ".github" / "workflows" / "smoke.yml"


def test_jobs_pass_outputs_and_artifacts_in_separate_workspaces(
    tmp_path: Path, act_runner: ActRunner
) -> None:
    repo, workflow = make_repo(tmp_path, TWO_JOBS)

    result = act_runner.run(
        workflow,
        repo=repo.path,
        event="push",
        payload={"ref": "refs/heads/main"},
        variables={"GREETING": "hello"},
        timeout_s=60,
    )

    assert "  | second saw: hello" in result.job_lines("second")
    [zipped] = result.artifacts.glob("*/marker/*")
    assert zipped.stat().st_size > 0


def test_failing_step_raises_with_the_log_tail(tmp_path: Path, act_runner: ActRunner) -> None:
    failing = TWO_JOBS.replace("test ! -e left-behind.txt", "echo doomed; exit 3")
    repo, workflow = make_repo(tmp_path, failing)

    with pytest.raises(ActFailed, match=r"(?s)exited with 1, expected 0.*doomed"):
        act_runner.run(workflow, repo=repo.path, event="push", payload={}, timeout_s=60)


def _uses(document: object) -> list[str]:
    if isinstance(document, dict):
        found = [document["uses"]] if isinstance(document.get("uses"), str) else []
        return found + [u for value in document.values() for u in _uses(value)]
    if isinstance(document, list):
        return [u for value in document for u in _uses(value)]
    return []


def test_vendored_actions_are_the_ones_the_templates_pin() -> None:
    files = [ROOT / "action.yml", *sorted((ROOT / "templates").glob("*.yml"))]
    pinned = {u for f in files for u in _uses(yaml.safe_load(f.read_text(encoding="utf-8")))}
    # act copies the repository in place of actions/checkout; ci-ml maps to this checkout.
    others = {u for u in pinned if not u.startswith(("actions/checkout@", "ci-ml/ci-ml@"))}
    assert others == set(VENDORED_ACTIONS)
    assert {u for u in pinned if u.startswith("ci-ml/")} == {CI_ML_ACTION}


def test_vendored_archive_matches_its_provenance_note(tmp_path: Path) -> None:
    note = (VENDORED / "README.md").read_text(encoding="utf-8")
    expected = {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", note, re.M)}
    with tarfile.open(VENDORED / "actions.tar.xz") as archive:
        archive.extractall(tmp_path, filter="data")
    actual = {
        str(p.relative_to(tmp_path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in tmp_path.rglob("*")
        if p.is_file()
    }
    assert actual == expected
