"""The action installs its dependencies from a hash-pinned lock: it must pin exactly what
pyproject.toml asks for (plus the build backend), each with hashes."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "ci_ml" / "action-requirements.txt"


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower())


def _pins() -> dict[str, str]:
    return {
        m["name"].lower(): m["version"]
        for m in re.finditer(
            r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)", LOCK.read_text(), re.M
        )
    }


def test_the_lock_pins_every_runtime_dependency_and_the_build_backend() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {_name(r) for r in project["project"]["dependencies"]}
    wanted |= {_name(r) for r in project["build-system"]["requires"]}
    assert wanted - set(_pins()) == set()


def test_every_pin_carries_a_hash() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 3)[3])
    unhashed = [b.split()[0] for b in blocks if b.strip() and "--hash=sha256:" not in b]
    assert unhashed == []


def test_action_yml_installs_from_the_lock_with_hashes() -> None:
    text = (ROOT / "action.yml").read_text()
    assert 'lock="$GITHUB_ACTION_PATH/ci_ml/action-requirements.txt"' in text
    # uv's path and pip's path both: every install names the lock with hashes required, and
    # ci-ml itself comes without dependencies.
    assert text.count('--require-hashes -r "$lock"') == 2
    assert text.count('--no-deps --no-build-isolation "$GITHUB_ACTION_PATH"') == 2


def test_uv_is_pinned_by_hash_too() -> None:
    text = (ROOT / "ci_ml" / "action-uv.txt").read_text()
    assert "uv==" in text
    assert text.count("--hash=sha256:") >= 5
