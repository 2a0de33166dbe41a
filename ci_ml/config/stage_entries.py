"""Per-stage settings as ci-ml.yaml writes them (`defaults:` and `stages: {name: ...}`),
checked and decoded. [pure]"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_ml.config.options import _labels
from ci_ml.errors import ConfigError, did_you_mean

STAGE_SETTING_KEYS = ("gpu", "runner", "timeout", "env", "pass-env")


def _stage_settings(entry: Any, where: str, *, strict: bool = True) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(STAGE_SETTING_KEYS)}.")
    if strict:
        for key in entry:
            if key not in STAGE_SETTING_KEYS:
                raise ConfigError(
                    f"{where}: unknown key {key!r}{did_you_mean(key, STAGE_SETTING_KEYS)}. "
                    f"Per-stage settings are {', '.join(STAGE_SETTING_KEYS)}."
                )
    found: dict[str, Any] = {}
    if "gpu" in entry:
        if not isinstance(entry["gpu"], bool):
            raise ConfigError(f"{where}: gpu must be true or false.")
        found["gpu"] = entry["gpu"]
    if "runner" in entry:
        runner = entry["runner"]
        found["runner"] = _labels(runner) if isinstance(runner, str) else tuple(map(str, runner))
    if "timeout" in entry:
        timeout = entry["timeout"]
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"{where}: timeout must be a positive number of seconds.")
        found["timeout"] = timeout
    if "pass-env" in entry:
        found["pass-env"] = _pass_env(entry["pass-env"], where)
    if "env" in entry:
        env = entry["env"] or {}
        if not isinstance(env, Mapping):
            raise ConfigError(f"{where}: env must be a mapping of variable to value.")
        found["env"] = {str(k): str(v) for k, v in env.items()}
    return found


def _pass_env(value: Any, where: str) -> tuple[str, ...]:
    """Variable names or globs (`MY_DATA_*`) a stage may see although ci-ml scrubs them."""
    if isinstance(value, str):
        return _labels(value)
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: pass-env must be a list of variable names or globs.")
