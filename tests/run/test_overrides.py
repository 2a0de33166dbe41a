"""`--set` edits a params file in place: only the changed value's line differs."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from ci_ml.errors import UserError
from ci_ml.run.overrides import apply_overrides, parse_override

YAML_PARAMS = """\
# Training parameters: keep in sync with docs/model.md
prepare:
  split: 0.2   # held-out share
  seed: 42
train:
  lr: 0.1      # tuned in #123
  layers: [64, 32]
  name: 'baseline'
"""
TOML_PARAMS = """\
# Training parameters
[prepare]
split = 0.2  # held-out share

[train]
lr    = 0.1  # tuned in #123
layers = [64, 32]
"""
JSON_PARAMS = """\
{
    "prepare": {"split": 0.2, "seed": 42},
    "train": {
        "lr":   0.1,
        "layers": [64, 32]
    }
}
"""
PY_PARAMS = """\
# Training parameters
SEED = 42


class Train:
    lr: float = 0.1  # tuned in #123
    layers = [64, 32]
"""


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.mark.parametrize(
    ("name", "text", "override", "expected"),
    [
        ("params.yaml", YAML_PARAMS, "train.lr=0.2",
         ["-  lr: 0.1      # tuned in #123", "+  lr: 0.2      # tuned in #123"]),
        ("params.yaml", YAML_PARAMS, "train.name=tuned",
         ["-  name: 'baseline'", "+  name: 'tuned'"]),
        ("params.toml", TOML_PARAMS, "params.toml:train.lr=0.2",
         ["-lr    = 0.1  # tuned in #123", "+lr    = 0.2  # tuned in #123"]),
        ("params.json", JSON_PARAMS, "params.json:prepare.seed=7",
         ['-    "prepare": {"split": 0.2, "seed": 42},', '+    "prepare": {"split": 0.2, "seed": 7},']),
        ("params.json", JSON_PARAMS, "params.json:train.lr=0.2",
         ['-        "lr":   0.1,', '+        "lr":   0.2,']),
        ("params.py", PY_PARAMS, "params.py:Train.lr=0.2",
         ["-    lr: float = 0.1  # tuned in #123", "+    lr: float = 0.2  # tuned in #123"]),
        ("params.py", PY_PARAMS, "params.py:SEED=7", ["-SEED = 42", "+SEED = 7"]),
    ],
)  # fmt: skip
def test_set_changes_only_the_value_line(
    tmp_path: Path, name: str, text: str, override: str, expected: list[str]
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    apply_overrides(tmp_path, [parse_override(override)])
    assert changed_lines(text, (tmp_path / name).read_text(encoding="utf-8")) == expected


def test_set_an_unknown_key_names_it_and_leaves_the_file(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(YAML_PARAMS, encoding="utf-8")
    with pytest.raises(UserError, match=r"params\.yaml has no param 'train\.rl'.*did you mean"):
        apply_overrides(tmp_path, [parse_override("train.rl=0.2")])
    assert (tmp_path / "params.yaml").read_text(encoding="utf-8") == YAML_PARAMS
