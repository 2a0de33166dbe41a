"""ci-ml's settings: one OPTIONS table, one precedence. [pure]

Precedence, lowest to highest: built-in defaults < ci-ml.yaml < CI_ML_* env < flags.
Per-stage settings (`gpu`, `runner`, `timeout`, `env`) live in ci-ml.yaml only: under
`defaults:` for every stage and `stages: {name: {...}}` per stage, where `name` is a stage
address (`train@lr-0.1`) or a foreach/matrix group (`train`) to set all of its stages at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ci_ml.config.options import (
    OPTION_BY_NAME,
    OPTIONS,
    PIPELINE_KEYS,
    Option,
    _labels,
)
from ci_ml.config.stage_entries import _pass_env, _stage_settings
from ci_ml.errors import ConfigError, did_you_mean
from ci_ml.pipeline import Pipeline, Stage, StageSettings
from ci_ml.project_root import CONFIG_FILE
from ci_ml.runner_cost import default_costs, parse_runner_cost

FILE_KEYS = (
    *(o.name for o in OPTIONS if o.in_file),
    *("pass-env", "defaults", "stages", "metrics-config", "mlflow", "runner-cost"),
    *PIPELINE_KEYS,
)
METRIC_RULE_KEYS = ("better", "precision", "max-regression", "on-missing")
MLFLOW_KEYS = ("tracking-uri", "experiment", "stage-credentials")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricRule:
    """Per-metric settings from ci-ml.yaml's `metrics-config`."""

    better: str | None = None  # "higher" or "lower"; None: guessed from the name
    precision: int | None = None  # digits after the point when shown
    max_regression: float | None = None  # a regression past this fails the gate
    relative: bool = False  # max_regression is a fraction of the base value (`5%`)
    on_missing: str = "fail"  # a gated metric missing on head: "fail" its gate or "warn"


@dataclass(frozen=True, slots=True, kw_only=True)
class MlflowSettings:
    """ci-ml.yaml's `mlflow:` section; MLFLOW_* variables override it (see docs/mlflow.md)."""

    tracking_uri: str | None = None
    experiment: str | None = None
    stage_credentials: bool = False  # stage commands see MLFLOW_TRACKING_TOKEN & co.


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    base_branch: str | None = None
    cache: str | None = None
    trust: str | None = None
    trusted_refs: tuple[str, ...] = ("default", "refs/tags/*")
    allow_local_cache: bool = False
    signing_key: str | None = None
    trusted_public_keys: tuple[str, ...] = ()
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_addressing_style: str | None = None
    runner: tuple[str, ...] = ("ubuntu-latest",)
    gpu_runner: tuple[str, ...] = ("self-hosted", "gpu")
    gpu_budget_minutes: float | None = None
    gpu_approval: str = "label"
    # USD per minute by runner label: DEFAULT_RUNNER_COST, then ci-ml.yaml's `runner-cost`.
    runner_cost: Mapping[str, float] = dataclasses.field(default_factory=default_costs)
    # Only the keys a file sets, so `gpu: false` on a stage can override `defaults: {gpu: true}`.
    stage_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    stage_settings: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    metric_rules: Mapping[str, MetricRule] = dataclasses.field(default_factory=dict)
    mlflow: MlflowSettings = MlflowSettings()


def resolve(
    file_doc: Mapping[str, Any] | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    *,
    source: str = CONFIG_FILE,
) -> Settings:
    """Build Settings from ci-ml.yaml's mapping, the environment and parsed flags."""
    doc = dict(file_doc or {})
    for key in doc:
        option = OPTION_BY_NAME.get(key)
        if option is not None and not option.in_file:
            raise ConfigError(
                f"{source}: {key!r} cannot be set in {CONFIG_FILE}: a pull request could edit it "
                f"to choose its own trust. Set {option.env_var} in the workflow's env instead "
                "(the action's `trust` input for `trust`)."
            )
        if key not in FILE_KEYS:
            raise ConfigError(
                f"{source}: unknown setting {key!r}{did_you_mean(key, FILE_KEYS)}. "
                "See docs/configuration.md for the settings ci-ml.yaml accepts."
            )
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = option.default
        if option.in_file and doc.get(option.name) is not None:
            value = _from_file(option, doc[option.name], source)
        if env.get(option.env_var):
            value = option.parse(env[option.env_var])
        if flags.get(option.attr) is not None:
            value = flags[option.attr]
        values[option.attr] = value
    stages_doc = doc.get("stages") or {}
    if not isinstance(stages_doc, Mapping):
        raise ConfigError(f"{source}: `stages` must be a mapping of stage name to settings.")
    defaults = _stage_settings(doc.get("defaults") or {}, f"{source}: defaults")
    if doc.get("pass-env") is not None:
        # A top-level `pass-env` is every stage's: the same as `defaults: {pass-env: ...}`.
        top = _pass_env(doc["pass-env"], source)
        defaults["pass-env"] = (*top, *defaults.get("pass-env", ()))
    return Settings(
        **values,
        stage_defaults=defaults,
        stage_settings={
            str(name): _stage_settings(entry or {}, f"{source}: stage {name!r}", strict=False)
            for name, entry in stages_doc.items()
        },
        metric_rules=_metric_rules(doc.get("metrics-config") or {}, source),
        mlflow=_mlflow_settings(doc.get("mlflow") or {}, source),
        runner_cost=parse_runner_cost(doc.get("runner-cost") or {}, source),
    )


def _mlflow_settings(doc: Any, source: str) -> MlflowSettings:
    """`mlflow: {tracking-uri: ..., experiment: ..., stage-credentials: false}`."""
    where = f"{source}: mlflow"
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where} must be a mapping of {', '.join(MLFLOW_KEYS)}.")
    for key in doc:
        if key not in MLFLOW_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, MLFLOW_KEYS)}.")
    for key in ("tracking-uri", "experiment"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise ConfigError(f"{where}: {key} must be a string, not {doc[key]!r}.")
    credentials = doc.get("stage-credentials", False)
    if not isinstance(credentials, bool):
        raise ConfigError(f"{where}: stage-credentials must be true or false.")
    return MlflowSettings(
        tracking_uri=doc.get("tracking-uri") or None,
        experiment=doc.get("experiment") or None,
        stage_credentials=credentials,
    )


def _metric_rules(doc: Any, source: str) -> dict[str, MetricRule]:
    """`metrics-config: {accuracy: {better: higher, precision: 4, max-regression: 0.01}}`;
    `max-regression: 5%` is relative to the base value."""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{source}: metrics-config must map metric names to settings.")
    rules = {}
    for name, entry in doc.items():
        where = f"{source}: metrics-config {name!r}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping of {', '.join(METRIC_RULE_KEYS)}.")
        for key in entry:
            if key not in METRIC_RULE_KEYS:
                raise ConfigError(
                    f"{where}: unknown key {key!r}{did_you_mean(key, METRIC_RULE_KEYS)}."
                )
        better = entry.get("better")
        if better not in (None, "higher", "lower"):
            raise ConfigError(f"{where}: better must be `higher` or `lower`, not {better!r}.")
        precision = entry.get("precision")
        if precision is not None and (not isinstance(precision, int) or not 0 <= precision <= 12):
            raise ConfigError(f"{where}: precision must be a number of digits from 0 to 12.")
        limit, relative = _threshold(entry.get("max-regression"), where)
        on_missing = entry.get("on-missing", "fail")
        if on_missing not in ("fail", "warn"):
            raise ConfigError(f"{where}: on-missing must be `fail` or `warn`, not {on_missing!r}.")
        rules[str(name)] = MetricRule(
            better=better,
            precision=precision,
            max_regression=limit,
            relative=relative,
            on_missing=on_missing,
        )
    return rules


def _threshold(value: Any, where: str) -> tuple[float | None, bool]:
    if value is None:
        return None, False
    relative = isinstance(value, str) and value.strip().endswith("%")
    text = value.strip().rstrip("%") if isinstance(value, str) else value
    try:
        number = float(text)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or number < 0:
        raise ConfigError(
            f"{where}: max-regression must be a non-negative number (absolute, e.g. 0.01) or "
            f"a percentage (relative to base, e.g. '5%'), not {value!r}."
        )
    return (number / 100 if relative else number), relative


def _from_file(option: Option, value: Any, source: str) -> Any:
    if option.parse is _labels:
        if isinstance(value, str):
            return _labels(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{source}: {option.name} must be a list of strings.")
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {option.name} must be a string, not {value!r}.")
    return value


def apply_settings(
    pipeline: Pipeline, settings: Settings, *, source: str = CONFIG_FILE
) -> Pipeline:
    """Attach each stage's settings: defaults < its group's entry < its own entry."""
    known = {stage.name for stage in pipeline.stages} | {stage.group for stage in pipeline.stages}
    for name in settings.stage_settings:
        if name not in known:
            raise ConfigError(
                f"{source}: settings for stage {name!r}, which no pipeline file defines"
                f"{did_you_mean(name, known)}. Fix the name or remove the entry."
            )
    stages = tuple(
        dataclasses.replace(stage, settings=_merged(stage, settings)) for stage in pipeline.stages
    )
    return dataclasses.replace(pipeline, stages=stages)


def _merged(stage: Stage, settings: Settings) -> StageSettings:
    merged: dict[str, Any] = {"env": {}, "pass-env": ()}
    for entry in (
        settings.stage_defaults,
        settings.stage_settings.get(stage.group, {}),
        settings.stage_settings.get(stage.name, {}) if stage.name != stage.group else {},
    ):
        merged.update({k: v for k, v in entry.items() if k not in ("env", "pass-env")})
        merged["env"] = {**merged["env"], **entry.get("env", {})}
        merged["pass-env"] = (*merged["pass-env"], *entry.get("pass-env", ()))
    return StageSettings(
        gpu=merged.get("gpu", False),
        runner=merged.get("runner", ()),
        timeout=merged.get("timeout"),
        env=tuple(sorted(merged["env"].items())),
        pass_env=tuple(dict.fromkeys(merged["pass-env"])),
    )
