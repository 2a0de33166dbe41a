from __future__ import annotations

import datetime
import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ci_ml.errors import PipelineError
from ci_ml.pipeline.params import canonical_json, flat_keys, lookup, parse_params_text
from ci_ml.yaml_load import _BlockReader, _Unsupported, load_yaml_text
from ci_ml.yaml_schema import CoreSchemaLoader, LineDict, key_line


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        (
            "p.yaml",
            "train:\n  lr: 0.1\n  layers: [1, 2]\n",
            {"train": {"lr": 0.1, "layers": [1, 2]}},
        ),
        ("p.yml", "a: x\n", {"a": "x"}),
        ("p.json", '{"train": {"lr": 0.1}}', {"train": {"lr": 0.1}}),
        ("p.toml", "[train]\nlr = 0.1\nname = 'x'\n", {"train": {"lr": 0.1, "name": "x"}}),
        ("p.yaml", "", {}),
        ("p.yaml", "# only a comment\n", {}),
        ("P.YAML", "a: 1\n", {"a": 1}),
    ],
)
def test_parse_params_text_reads_each_format(path: str, text: str, expected: Any) -> None:
    assert parse_params_text(path, text) == expected


PY_PARAMS = """\
import os

LR = 0.1
EPOCHS: int = 3
NAME = "run"
LAYERS = [1, 2]
PAIR = (1, 2)
TAGS = {"a"}
MAPPING = {"k": 1}
COMPUTED = os.getcwd()
A = B = 1
x.y = 2


class Train:
    SEED = 42
    OPTIM: str = "adam"

    def __init__(self):
        self.batch = 64
        self.other = compute()

    class Inner:
        DEPTH = 2


def helper():
    HIDDEN = 1
"""


def test_parse_params_text_reads_python_literals_like_dvc() -> None:
    assert parse_params_text("params.py", PY_PARAMS) == {
        "LR": 0.1,
        "EPOCHS": 3,
        "NAME": "run",
        "LAYERS": [1, 2],
        "PAIR": (1, 2),
        "TAGS": {"a"},
        "MAPPING": {"k": 1},
        "Train": {"SEED": 42, "OPTIM": "adam", "batch": 64, "Inner": {"DEPTH": 2}},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # YAML 1.2 core schema, as DVC reads YAML (ruamel), not PyYAML's YAML 1.1 defaults.
        ("1e-3", 0.001),
        ("-1.5E+2", -150.0),
        (".5", 0.5),
        ("1.", 1.0),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("010", 10),
        ("0o10", 8),
        ("0x1F", 31),
        ("+7", 7),
        ("on", "on"),
        ("yes", "yes"),
        ("No", "No"),
        ("true", True),
        ("FALSE", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("1:20", "1:20"),
        ("1_000", "1_000"),
        ("0b11", "0b11"),
        ("2024-01-02", datetime.date(2024, 1, 2)),
        ("'1e-3'", "1e-3"),
        ('"on"', "on"),
    ],
)
def test_load_yaml_text_resolves_scalars_as_yaml_1_2(text: str, expected: Any) -> None:
    assert load_yaml_text("p.yaml", f"v: {text}\n") == {"v": expected}


def test_load_yaml_text_records_the_line_of_every_key() -> None:
    data = load_yaml_text("dvc.yaml", "# c\nstages:\n\n  a:\n    cmd: x\n  b: {cmd: y}\n")
    assert isinstance(data, LineDict)
    assert key_line(data, "stages") == 2
    assert key_line(data["stages"], "a") == 4
    assert key_line(data["stages"], "b") == 6
    assert key_line(data["stages"]["a"], "cmd") == 5
    assert key_line({"a": 1}, "a") is None


def test_load_yaml_text_supports_merge_keys() -> None:
    text = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"
    assert load_yaml_text("p.yaml", text)["m"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("p.yaml", "a: [1\n", "p.yaml:2:1: invalid YAML: did not find expected ',' or ']'"),
        ("p.yaml", "a: 1\n b: 2\n", "p.yaml:2:3: invalid YAML: mapping values are not allowed"),
        ("p.yaml", "a: 1\nb: 2\na: 3\n", "p.yaml:3: duplicate key 'a'"),
        ("p.yaml", "x:\n  k: {a: 1, a: 2}\n", "p.yaml:2: duplicate key 'a'"),
        ("p.yaml", "? [a]\n: 1\n", "p.yaml:1:3: invalid YAML: found an unhashable key"),
        ("p.json", '{"a": 1,}', "p.json:1:9: invalid JSON: Expecting property name"),
        ("p.toml", "a = \n", "p.toml: invalid TOML: Invalid value"),
        ("p.py", "A = (\n", "p.py:1: invalid Python: '(' was never closed"),
        ("p.yaml", "- a\n- b\n", "p.yaml: expected a mapping of param names to values, got a list"),
        ("p.json", "[1]", "p.json: expected a mapping of param names to values, got a list"),
        ("p.ini", "a=1", "p.ini: unsupported params file type '.ini'"),
        ("params", "a=1", "params: unsupported params file type '(no extension)'"),
    ],
)
def test_parse_params_text_names_file_and_line_on_bad_input(
    path: str, text: str, message: str
) -> None:
    with pytest.raises(PipelineError) as info:
        parse_params_text(path, text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("train", {"lr": 0.1, "layers": [{"size": 8}, {"size": 16}]}),
        ("train.lr", 0.1),
        ("train.layers.1.size", 16),
        ("train.layers.0", {"size": 8}),
        ("seed", None),
        ("1.x", "int key"),
    ],
)
def test_lookup_follows_dotted_keys_and_list_indices(key: str, expected: Any) -> None:
    data = {
        "train": {"lr": 0.1, "layers": [{"size": 8}, {"size": 16}]},
        "seed": None,
        1: {"x": "int key"},
    }
    assert lookup(data, key) == expected


@pytest.mark.parametrize(
    "key", ["lr", "train.lrr", "train.lr.x", "train.layers.2", "train.layers.x", "train.layers.-1"]
)
def test_lookup_raises_key_error_for_missing_keys(key: str) -> None:
    data = {"train": {"lr": 0.1, "layers": [1, 2]}}
    with pytest.raises(KeyError):
        lookup(data, key)


def test_flat_keys_lists_every_dotted_key() -> None:
    data = {"train": {"lr": 0.1, "opt": {"name": "adam"}}, "seed": 1}
    assert flat_keys(data) == ["train", "train.lr", "train.opt", "train.opt.name", "seed"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [1, 2.5, None, True]}, '{"a":[1,2.5,null,true],"b":1}'),
        ("héllo", '"héllo"'),
        ((1, 2), "[1,2]"),
        ({3, 1, 2}, "[1,2,3]"),
        ({1: "x", "a": "y", None: "z"}, '{"1":"x","a":"y","null":"z"}'),
        (datetime.date(2024, 1, 2), '"2024-01-02"'),
        (LineDict(), "{}"),
        (1e-3, "0.001"),
    ],
)
def test_canonical_json_is_sorted_compact_and_total(value: Any, expected: str) -> None:
    assert canonical_json(value) == expected


# --- the fast path for plain block YAML must agree with PyYAML -----------------------------


def _pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=CoreSchemaLoader)  # derives from SafeLoader


def _lines(value: Any) -> Any:
    """The data with each mapping's key lines, to compare both readers exactly."""
    if isinstance(value, dict):
        lines = value.lines if isinstance(value, LineDict) else None
        return {"lines": lines, "items": {k: _lines(v) for k, v in value.items()}}
    if isinstance(value, list):
        return [_lines(v) for v in value]
    return value


FAST_DOCUMENTS = [
    "stages:\n  train:\n    cmd: python train.py --lr ${lr}\n    deps:\n    - a\n    - ./b\n",
    "a:\n  - x\n  -\n  - y: 1\n    z:\n    - 2\n",
    "list:\n- a: 1\n  b: 2\n- c\n-\n  d: 3\nafter: 1\n",
    "k: 'it''s'   # c\nq: \"x: y\"\nflow: [a, b, 1, 2.5, true, null]\n",
    "m: {x: 1, y: z}\ne: []\nf: {}\nlist:\n- {a: b}\n",
    "url: http://x/y?z=1#frag\nhash: a#b\ncomment: a #b\nempty:\nnull2: ~\n",
    "'quoted key': 1\n\"dq\": 2\n3: int\ntrue: bool\n",
    "nested:\n    deep:\n          deeper: 1\n    back: 2\n",
    "- top\n- level\n- list\n",
    "",
    "# nothing\n\n",
    "a: 1\r\nb: 2\r\n",
    "v: 0x1F\nw: 0o7\nx: 010\ny: .5\nz: -.inf\n",
]
SLOW_DOCUMENTS = [
    "a:\n- - nested\n",
    "plain: a: b\n",
    "a: &x 1\nb: *x\n",
    "a: |\n  text\n",
    "a: >-\n  folded\n  text\n",
    "a: multi\n  line\n",
    "a: !!str 1\n",
    '"a\\tb": 1\n',
    "a:\tb\n",
    "---\na: 1\n",
    "a: [x, [y]]\n",
    "a: {x: [1]}\n",
    "a: 2024-01-02\n",
    "a: 1\na: 2\n",
    "<<: {a: 1}\n",
    "a: [1\n",
    "a: 'unterminated\n  rest'\n",
    "? complex\n: key\n",
]


@pytest.mark.parametrize("text", FAST_DOCUMENTS)
def test_block_reader_agrees_with_pyyaml(text: str) -> None:
    assert _lines(_BlockReader(text).document()) == _lines(_pyyaml(text))


@pytest.mark.parametrize("text", SLOW_DOCUMENTS)
def test_block_reader_leaves_anything_else_to_pyyaml(text: str) -> None:
    with pytest.raises(_Unsupported):
        _BlockReader(text).document()


def _documents(keys: st.SearchStrategy[Any], texts: st.SearchStrategy[str]) -> Any:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(10**6), 10**6)
        | st.floats(allow_nan=False, width=32)
        | texts
    )
    return st.dictionaries(
        keys,
        st.recursive(
            scalars,
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
            max_leaves=20,
        ),
        max_size=5,
    )


# Mostly plain documents, which the fast path reads, and documents full of YAML's special
# characters, which it mostly leaves to PyYAML.
_plain_keys = st.from_regex(r"[a-z][a-z0-9_. -]{0,6}", fullmatch=True) | st.integers(0, 9)
_odd_keys = st.text(st.sampled_from("ab-_. :#'\"01"), min_size=1, max_size=6)
_plain_texts = st.text(st.sampled_from("abz019._/- :#eE+"), max_size=10)
_odd_texts = st.text(st.sampled_from("ab -:#'\"[]{},.@!&*|>%`?~01eE+\\"), max_size=8)
_any_document = _documents(_plain_keys, _plain_texts) | _documents(
    _plain_keys | _odd_keys, _plain_texts | _odd_texts
)


@settings(max_examples=300, deadline=None)
@given(
    data=_any_document,
    flow=st.sampled_from([False, None, True]),
    indent=st.sampled_from([2, 4]),
)
def test_block_reader_agrees_with_pyyaml_on_dumped_documents(
    data: dict[Any, Any], flow: bool | None, indent: int
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, indent=indent, width=1000)
    try:
        fast = _BlockReader(text).document()
    except _Unsupported:
        return
    assert _lines(fast) == _lines(_pyyaml(text))
