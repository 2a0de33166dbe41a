"""Property: formatting and key order of the YAML do not change the pipeline."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ci_ml.pipeline.model import Pipeline
from tests.pipeline.test_parse import parse

# --- property: formatting and key order of the YAML do not change the pipeline ---------------

_names = st.from_regex(r"[a-z]{1,6}", fullmatch=True)
_values = st.one_of(
    st.integers(-100, 100),
    st.floats(-10, 10, allow_nan=False).map(lambda f: round(f, 3)),
    st.booleans(),
    st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True),
)
_params_data = st.dictionaries(
    _names,
    st.one_of(_values, st.dictionaries(_names, _values, min_size=1, max_size=3)),
    min_size=1,
    max_size=5,
)


@st.composite
def _projects(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    params = draw(_params_data)
    keys = [k for k, v in params.items() if not isinstance(v, dict)] + [
        f"{k}.{sub}" for k, v in params.items() if isinstance(v, dict) for sub in v
    ]
    stages: dict[str, Any] = {}
    for index, name in enumerate(draw(st.lists(_names, min_size=1, max_size=4, unique=True))):
        used = draw(st.lists(st.sampled_from(keys), max_size=3))
        stage: dict[str, Any] = {
            "cmd": f"python {name}.py " + " ".join(f"--{k} ${{{k}}}" for k in used),
            "deps": [f"src/{name}.py", *(f"out/{index - 1}" for _ in range(1) if index)],
            "params": [
                *draw(st.lists(st.sampled_from(keys), max_size=2)),
                {"params.yaml": [keys[0]]},
            ],
            "outs": [f"out/{index}", {f"models/{index}": {"persist": True, "cache": False}}],
            "plots": [{f"plots/{index}.csv": {"x": "step", "y": "loss", "cache": False}}],
            "desc": f"stage {name}",
        }
        if draw(st.booleans()):
            stage = {
                "foreach": {"a": {"n": 1}, "b": {"n": 2}},
                "do": {**stage, "cmd": stage["cmd"] + " ${key} ${item.n}"},
            }
        stages[name] = stage
    dvc = {"vars": [{"local": {"x": 1, "y": "z"}}], "stages": stages, "metrics": ["m.json"]}
    return dvc, params


def _shuffled(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


def _dump(value: Any, flow: bool | None, comments: bool) -> str:
    text = yaml.safe_dump(value, default_flow_style=flow, sort_keys=False, width=10_000)
    if comments:
        text = "# a comment\n" + "".join(f"{line}  # note\n\n" for line in text.splitlines())
    return text


def _without_lines(pipeline: Pipeline) -> Pipeline:
    stages = tuple(dataclasses.replace(stage, line=None) for stage in pipeline.stages)
    return dataclasses.replace(pipeline, stages=stages)


@settings(max_examples=60, deadline=None)
@given(
    project=_projects(),
    seed=st.integers(0, 2**32),
    flow=st.sampled_from([False, None, True]),
    comments=st.booleans(),
)
def test_key_order_and_formatting_do_not_change_the_pipeline(
    project: tuple[dict[str, Any], dict[str, Any]], seed: int, flow: bool | None, comments: bool
) -> None:
    dvc, params = project
    rnd = random.Random(seed)
    base = parse({"dvc.yaml": _dump(dvc, False, False), "params.yaml": _dump(params, False, False)})
    other = parse(
        {
            "dvc.yaml": _dump(_shuffled(dvc, rnd), False, comments),
            "params.yaml": _dump(_shuffled(params, rnd), flow, comments),
        }
    )
    # Moving a stage moves the lines of the stages after it; nothing else may change.
    assert _without_lines(other) == _without_lines(base)
