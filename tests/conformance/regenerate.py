"""Regenerate tests/fixtures/conformance/*/expected.json from DVC itself.

Run with a Python that has DVC installed (CI does not need it: the answers are committed):

    python -m venv /tmp/dvcvenv && /tmp/dvcvenv/bin/pip install 'dvc==3.67.1'
    /tmp/dvcvenv/bin/python tests/conformance/regenerate.py [NAME ...]

For each fixture, in a temporary git + `dvc init` repository: write `base/`, create an empty
placeholder for every output and missing dependency (nothing is run), record the lock with
`dvc commit --force`, commit, write `head/` over it, and ask DVC which stages changed
(`dvc status --json`). The stages, as DVC resolves them, come from `Repo.index.stages`.
This script imports nothing from ci_ml, so it runs in DVC's own environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in FIXTURES.iterdir() if (p / "base").is_dir())
    for name in names:
        expected = regenerate(FIXTURES / name)
        target = FIXTURES / name / "expected.json"
        target.write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{target}: {len(expected['stages'])} stages, changed {expected['changed']}")
    return 0


def regenerate(fixture: Path) -> dict[str, Any]:
    import dvc  # imported here: the module's docstring and --help work without DVC

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _run(root, "git", "init", "-q")
        shutil.copytree(fixture / "base", root, dirs_exist_ok=True)
        _run(root, sys.executable, "-m", "dvc", "init", "-q")
        _run(root, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
        stages = _stages(root)
        _placeholders(root, stages)
        _run(root, sys.executable, "-m", "dvc", "commit", "--force", "-q")
        _run(root, "git", "add", "-A")
        _run(root, "git", "commit", "-q", "-m", "base")
        shutil.copytree(fixture / "head", root, dirs_exist_ok=True)
        status = json.loads(_run(root, sys.executable, "-m", "dvc", "status", "--json"))
    return {
        "dvc_version": dvc.__version__,
        "obtained_with": "tests/conformance/regenerate.py (dvc commit --force; dvc status --json)",
        "stages": stages,
        "changed": sorted(status),
    }


def _stages(root: Path) -> dict[str, dict[str, Any]]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    found: dict[str, dict[str, Any]] = {}
    old = Path.cwd()
    os.chdir(root)  # DVC addresses a stage relative to the working directory
    try:
        with Repo(str(root)) as repo:
            _collect(repo, root, found, ParamsDependency)
    finally:
        os.chdir(old)
    return found


def _collect(repo: Any, root: Path, found: dict[str, dict[str, Any]], params_dep: type) -> None:
    for stage in repo.index.stages:
        if not stage.cmd:
            continue  # a .dvc file, not a pipeline stage
        params: dict[str, list[str]] = {}
        deps: list[str] = []
        for dep in stage.deps:
            path = os.path.relpath(dep.fs_path, root)
            if isinstance(dep, params_dep):
                params[path] = sorted(dep.params or [])
            else:
                deps.append(path)
        found[stage.addressing] = {
            "cmd": stage.cmd if isinstance(stage.cmd, list) else [stage.cmd],
            "deps": sorted(deps),
            "params": params,
            "outs": sorted(os.path.relpath(out.fs_path, root) for out in stage.outs),
            "frozen": bool(stage.frozen),
        }


def _placeholders(root: Path, stages: dict[str, dict[str, Any]]) -> None:
    """An empty file for every output and every dependency that nothing provides: DVC records
    hashes without running a command."""
    for stage in stages.values():
        for path in [*stage["outs"], *stage["deps"]]:
            target = root / path
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if "." in target.name:
                target.write_text("", encoding="utf-8")
            else:  # an output directory, by DVC convention named without an extension
                target.mkdir()
                (target / "placeholder").write_text("", encoding="utf-8")


def _run(cwd: Path, *argv: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "c", "GIT_AUTHOR_EMAIL": "c@example.com"}
    env |= {"GIT_COMMITTER_NAME": "c", "GIT_COMMITTER_EMAIL": "c@example.com"}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
