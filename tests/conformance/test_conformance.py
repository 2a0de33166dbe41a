"""ci-ml's parse and plan of small public-pipeline-shaped projects, against DVC's answers.

Each fixture under tests/fixtures/conformance/<name>/ holds `base/` (the files of the base
commit), `head/` (files the head commit writes over them), a LICENSE.md, and expected.json:
the stages of `base/` as DVC resolves them (cmd, deps, outs, params) and the stages DVC says
changed from base to head (`dvc status`). tests/conformance/regenerate.py rewrites
expected.json with DVC installed; these tests need only the committed answers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ci_ml.pipeline import Stage, parse_pipeline
from tests.helpers.gitrepo import GitRepo, plan_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())


def expected(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((FIXTURES / name / "expected.json").read_text("utf-8"))
    return result


def parse_base(name: str) -> dict[str, Stage]:
    base = FIXTURES / name / "base"
    files = {p.relative_to(base).as_posix(): p for p in base.rglob("*") if p.is_file()}

    def read(path: str) -> str | None:
        found = files.get(path)
        return found.read_text("utf-8") if found else None

    pipeline = parse_pipeline(read, sorted(p for p in files if p.endswith("dvc.yaml")))
    return {stage.name: stage for stage in pipeline.stages}


def test_every_fixture_has_a_license_note_and_an_answer() -> None:
    fixtures = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    assert fixtures == NAMES
    assert all((FIXTURES / name / "LICENSE.md").is_file() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stages_resolve_as_in_dvc(name: str) -> None:
    stages = parse_base(name)
    want = expected(name)["stages"]
    assert sorted(stages) == sorted(want)
    for stage_name, dvc in want.items():
        stage = stages[stage_name]
        assert list(stage.cmd) == dvc["cmd"], stage_name
        assert sorted(stage.deps) == dvc["deps"], stage_name
        assert sorted(out.path for out in stage.outs) == dvc["outs"], stage_name
        assert stage.frozen == dvc["frozen"], stage_name
        # ci-ml's params are DVC's `params:` plus the values the stage interpolates from
        # params files (DVC keeps those apart, as tracked vars): a superset.
        params = {(p.file, p.key) for p in stage.params}
        for file, keys in dvc["params"].items():
            wanted = [(file, key) for key in keys] or [(file, None)]
            assert set(wanted) <= params, (stage_name, file)


@pytest.mark.parametrize("name", NAMES)
def test_changed_stages_are_those_dvc_reports(name: str, git_repo: GitRepo) -> None:
    shutil.copytree(FIXTURES / name / "base", git_repo.path, dirs_exist_ok=True)
    git_repo.commit("base")
    shutil.copytree(FIXTURES / name / "head", git_repo.path, dirs_exist_ok=True)
    git_repo.commit("head")
    doc = plan_json(git_repo, "--base", "HEAD~1")
    # `dvc status` lists a stage whose own inputs changed, never a frozen one; stages that
    # only follow an upstream change are ci-ml's `affected`, which DVC finds out by running.
    changed = sorted(s["name"] for s in doc["stages"] if s["changed"] and not s["frozen"])
    assert changed == expected(name)["changed"]
