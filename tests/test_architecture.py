"""Imports point down the layers that docs/architecture.md draws, and other packages go
through a package's face."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ci_ml"

# Lowest first. A module may import its own layer's package and any layer below it.
LAYERS: list[tuple[str, ...]] = [
    (
        "ci_ml",
        "ci_ml.errors",
        "ci_ml.lazy_face",
        "ci_ml.yaml_load",
        "ci_ml.yaml_schema",
        "ci_ml.git",
        "ci_ml.project_root",
        "ci_ml.state",
        "ci_ml.workspace_files",
    ),
    ("ci_ml.pipeline",),
    ("ci_ml.config",),
    ("ci_ml.github",),
    ("ci_ml.plan",),
    ("ci_ml.cache",),
    ("ci_ml.report",),
    ("ci_ml.run",),
    ("ci_ml.mlflow",),
    ("ci_ml.commands",),
    ("ci_ml.cli", "ci_ml.launch", "ci_ml.__main__", "ci_ml.github.action"),
]


def _unit(module: str) -> str:
    """The layer entry a module belongs to: the longest listed prefix."""
    names = [name for layer in LAYERS for name in layer]
    matches = [n for n in names if module == n or module.startswith(n + ".")]
    return max(matches, key=len)


def _rank(module: str) -> int:
    unit = _unit(module)
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def _package(module: str) -> str:
    """The package (face) a module lives in: `ci_ml.plan.keys` -> `ci_ml.plan`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else module


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    targets = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ci_ml"):
            targets.append(node.module)
        elif isinstance(node, ast.Import):
            targets.extend(a.name for a in node.names if a.name.startswith("ci_ml"))
    return targets


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_point_down(module: str, path: Path) -> None:
    upward = [t for t in _imports(path) if _rank(t) > _rank(module)]
    assert upward == [], f"{module} imports from a higher layer: {upward}"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_other_packages_import_through_the_face(module: str, path: Path) -> None:
    faces = {
        "ci_ml.pipeline",
        "ci_ml.plan",
        "ci_ml.cache",
        "ci_ml.run",
        "ci_ml.report",
        "ci_ml.github",
        "ci_ml.mlflow",
    }
    inside = [
        t
        for t in _imports(path)
        if _package(t) in faces and t != _package(t) and _package(t) != _package(module)
    ]
    assert inside == [], f"{module} reaches into another package: {inside}"


def test_no_module_is_over_400_lines() -> None:
    top = PACKAGE.parent
    files = [
        p for d in ("ci_ml", "tests", "benchmarks", "examples") for p in (top / d).rglob("*.py")
    ]
    long = {
        str(path.relative_to(top)): n
        for path in files
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
