from __future__ import annotations

from pathlib import Path

import pytest

from ci_ml.config import apply_settings, options_table, resolve
from ci_ml.errors import ConfigError
from ci_ml.pipeline.model import Pipeline, Stage, StageSettings


def test_precedence_is_defaults_file_env_flags() -> None:
    doc = {"cache": "from-file", "base-branch": "develop", "runner": ["a", "b"]}
    env = {"CI_ML_CACHE": "from-env", "CI_ML_RUNNER": "x, y"}
    settings = resolve(doc, env, {"cache": "from-flag"})
    assert settings.cache == "from-flag"
    assert settings.base_branch == "develop"
    assert settings.runner == ("x", "y")
    assert resolve(None, {}, {}).cache is None


def test_unknown_setting_suggests_the_closest() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown setting 'gpu-runners' \(did you mean 'gpu-runner'\?\)"
    ):
        resolve({"gpu-runners": ["gpu"]}, {}, {})


def test_unknown_stage_setting_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"defaults: unknown key 'gpus' \(did you mean 'gpu'\?\)"):
        resolve({"defaults": {"gpus": True}}, {}, {})


def _pipeline() -> Pipeline:
    stages = [
        Stage(name="train@0", group="train", source="dvc.yaml"),
        Stage(name="train@1", group="train", source="dvc.yaml"),
        Stage(name="eval", group="eval", source="dvc.yaml"),
    ]
    return Pipeline(stages=tuple(stages))


def test_settings_merge_defaults_group_and_stage() -> None:
    settings = resolve(
        {
            "defaults": {"timeout": 60, "env": {"A": "1"}},
            "stages": {
                "train": {"gpu": True, "env": {"B": "2"}},
                "train@1": {"gpu": False, "timeout": 5},
            },
        },
        {},
        {},
    )
    stages = {s.name: s.settings for s in apply_settings(_pipeline(), settings).stages}
    assert stages["train@0"] == StageSettings(gpu=True, timeout=60, env=(("A", "1"), ("B", "2")))
    assert stages["train@1"] == StageSettings(gpu=False, timeout=5, env=(("A", "1"), ("B", "2")))
    assert stages["eval"] == StageSettings(timeout=60, env=(("A", "1"),))


def test_settings_for_an_unknown_stage_name_it() -> None:
    settings = resolve({"stages": {"trian": {"gpu": True}}}, {}, {})
    with pytest.raises(ConfigError, match=r"stage 'trian'.*did you mean 'train'"):
        apply_settings(_pipeline(), settings)


def test_configuration_doc_embeds_the_options_table() -> None:
    doc = Path(__file__).parents[1] / "docs" / "configuration.md"
    assert options_table() in doc.read_text(encoding="utf-8")


def test_on_missing_is_fail_or_warn() -> None:
    rules = resolve({"metrics-config": {"acc": {"on-missing": "warn"}}}, {}, {}).metric_rules
    assert rules["acc"].on_missing == "warn"
    with pytest.raises(ConfigError, match="metrics-config 'acc': on-missing must be `fail` or"):
        resolve({"metrics-config": {"acc": {"on-missing": "ignore"}}}, {}, {})
