from __future__ import annotations

import pytest

from ci_ml.pipeline.dvcignore import IgnoreRules


@pytest.mark.parametrize(
    ("rules", "path", "ignored"),
    [
        ("vendor/\n", "vendor/x/dvc.yaml", True),
        ("vendor/\n", "src/vendor.py", False),
        ("*.tmp\n", "a/b/c.tmp", True),
        ("/build\n", "build/dvc.yaml", True),
        ("/build\n", "src/build/dvc.yaml", False),
        ("**/legacy/**\n", "x/legacy/y/dvc.yaml", True),
        ("exp*/\n!exp-keep/\n", "exp-old/dvc.yaml", True),
        ("exp*/\n!exp-keep/\n", "exp-keep/dvc.yaml", False),
        ("# comment\n\n", "dvc.yaml", False),
        ("data/[ab]/\n", "data/a/dvc.yaml", True),
        ("data/[ab]/\n", "data/c/dvc.yaml", False),
    ],
)
def test_root_rules(rules: str, path: str, ignored: bool) -> None:
    assert IgnoreRules([(".dvcignore", rules)]).is_ignored(path) is ignored


def test_nested_dvcignore_applies_below_its_directory() -> None:
    rules = IgnoreRules([("sub/.dvcignore", "old/\n")])
    assert rules.is_ignored("sub/old/dvc.yaml")
    assert not rules.is_ignored("old/dvc.yaml")
