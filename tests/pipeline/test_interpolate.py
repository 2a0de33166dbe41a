from __future__ import annotations

import re
from typing import Any

import pytest

from ci_ml.errors import PipelineError
from ci_ml.pipeline.context import Context, Layer, Var
from ci_ml.pipeline.expand import foreach_members, matrix_members
from ci_ml.pipeline.interpolate import Resolver, parse_expr, to_str, unpack_args

PARAMS = {
    "train": {"lr": 0.1, "epochs": 3, "layers": [8, 16], "name": "my run"},
    "models": {"resnet": {"lr": 0.1}, "vit": {"lr": 0.001}},
    "flag": True,
    "off": False,
    "none": None,
    "paths": ["a.csv", "b.csv"],
}


def context(*layers: Layer) -> Context:
    ctx = Context()
    for layer in layers:
        ctx = ctx.with_layer(layer)
    return ctx


FILE_CTX = context(Layer("params.yaml", "params.yaml", PARAMS), Layer(None, "vars[0]", {"x": 1}))


def resolve(data: Any, ctx: Context = FILE_CTX, field: str = "cmd") -> tuple[Any, list[Var]]:
    resolver = Resolver(ctx, "dvc.yaml:3: stage 'a'", field)
    return resolver.resolve(data), resolver.used


@pytest.mark.parametrize(
    ("expr", "parts"),
    [
        ("a", ("a",)),
        ("a.b.c", ("a", "b", "c")),
        ("a[0]", ("a", "0")),
        ("a.0", ("a", "0")),
        ("a[0].b", ("a", "0", "b")),
        ("a[0][1]", ("a", "0", "1")),
        (" a ", ("a",)),
        ("my-var", ("my-var",)),
        ("", None),
        ("a..b", None),
        ("a.", None),
        (".a", None),
        ("a[", None),
        ("a[0", None),
        ("a[]", None),
    ],
)
def test_parse_expr_follows_dvc_grammar(expr: str, parts: tuple[str, ...] | None) -> None:
    assert parse_expr(expr) == parts


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${train.lr}", 0.1),  # exactly one `${}`: the value keeps its type
        ("${train.layers}", [8, 16]),
        ("${train}", PARAMS["train"]),
        ("${flag}", True),
        ("${none}", None),
        ("${train.layers[1]}", 16),
        ("${train.layers.1}", 16),
        ("${ train.lr }", 0.1),
        ("lr=${train.lr}", "lr=0.1"),
        ("${flag} ${off}", "true false"),
        ("x${none}", "xNone"),
        ("${train.epochs}${x}", "31"),
        ("${train.name}", "my run"),
        ("no interpolation", "no interpolation"),
        ("\\${train.lr}", "${train.lr}"),
        ("a \\${literal} ${x}", "a ${literal} 1"),
        ("$x {x} $${x}", "$x {x} $1"),
        (["${x}", {"k": "${train.lr}"}, 3], [1, {"k": 0.1}, 3]),
        ({"${train.name}": "v"}, {"my run": "v"}),
    ],
)
def test_resolve_interpolates_like_dvc(template: Any, expected: Any) -> None:
    assert resolve(template)[0] == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # Checked against DVC 3.67.1's `to_str` with the default parsing config.
        (
            {"epochs": 3, "name": "my run", "fast": True, "slow": False, "layers": [1, 2]},
            "--epochs 3 --name 'my run' --fast --layers 1 2",
        ),
        ({"nested": {"a": 1, "b": {"c": "x"}}}, "--nested.a 1 --nested.b.c x"),
        ({"n": None, "f": 0.5}, "--n None --f 0.5"),
        ({"files": ["a b", "c"], "flags": [True, None]}, "--files 'a b' c --flags True None"),
        ({"empty": [], "blank": {}}, ""),
    ],
)
def test_unpack_args_writes_a_dict_as_command_line_arguments(
    args: dict[str, Any], expected: str
) -> None:
    assert unpack_args(args) == expected


def test_a_dict_in_cmd_is_unpacked_into_arguments() -> None:
    ctx = context(Layer("params.yaml", "params.yaml", {"args": {"lr": 0.1, "fast": True}}))
    assert resolve("python train.py ${args}", ctx)[0] == "python train.py --lr 0.1 --fast"


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (None, "None"), (0.1, "0.1"), (1e-05, "1e-05"), (3, "3")],
)
def test_to_str_writes_scalars_as_dvc_does(value: Any, text: str) -> None:
    assert to_str(value) == text


def test_resolve_reports_the_file_backed_values_it_used() -> None:
    _, used = resolve("python train.py --lr ${train.lr} --x ${x} --l ${train.layers[0]}")
    assert used == [Var("params.yaml", "train.lr", 0.1), Var("params.yaml", "train.layers.0", 8)]


def test_a_mapping_that_several_files_extend_is_merged_and_both_are_tracked() -> None:
    ctx = context(
        Layer("params.yaml", "params.yaml", {"train": {"lr": 0.1}}),
        Layer("extra.yaml", "extra.yaml", {"train": {"epochs": 3}}),
    )
    value, used = resolve("${train}", ctx, field="deps")
    assert value == {"lr": 0.1, "epochs": 3}
    assert used == [
        Var("params.yaml", "train", {"lr": 0.1}),
        Var("extra.yaml", "train", {"epochs": 3}),
    ]
    assert resolve("${train.epochs}", ctx)[1] == [Var("extra.yaml", "train.epochs", 3)]


@pytest.mark.parametrize(
    ("template", "field", "message"),
    [
        (
            "${trian.lr}",
            "cmd",
            "dvc.yaml:3: stage 'a': cannot resolve ${trian.lr} in 'cmd': 'trian' is not "
            "defined (did you mean 'train'?) (defined: flag, models, none, off, paths, train, "
            "x). Define it in params.yaml or under vars, or fix the name.",
        ),
        (
            "${train.lrr}",
            "deps",
            "dvc.yaml:3: stage 'a': cannot resolve ${train.lrr} in 'deps': 'train' has no "
            "'lrr' (did you mean 'lr'?). Add the key or fix the expression.",
        ),
        ("${train.layers[5]}", "cmd", "'train.layers' has no '5'"),
        ("${train.lr.x}", "cmd", "'train.lr' has no 'x'"),
        ("${a..b}", "cmd", "invalid interpolation ${a..b} in 'cmd'"),
        ("files ${paths}", "cmd", "cannot interpolate ${paths} in 'cmd': it is a list"),
        ("out/${train}", "outs", "cannot interpolate ${train} in 'outs': it is a mapping"),
    ],
)
def test_resolve_errors_name_the_stage_expression_and_fix(
    template: str, field: str, message: str
) -> None:
    with pytest.raises(PipelineError) as info:
        resolve(template, field=field)
    assert message in str(info.value)


def test_a_nested_list_in_a_cmd_dict_is_an_error() -> None:
    ctx = context(Layer(None, "vars[0]", {"args": {"grid": [[1, 2]]}}))
    with pytest.raises(PipelineError, match="cannot interpolate a nested list in 'grid'"):
        resolve("run ${args}", ctx)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [Layer("params.yaml", "params.yaml", {"a": 1}), Layer(None, "vars[0]", {"a": 2})],
            "cannot redefine 'a' from vars[0] as params.yaml sets it",
        ),
        (
            [
                Layer("p.yaml", "p.yaml", {"t": {"lr": 1}}),
                Layer("q.yaml", "q.yaml", {"t": {"lr": 2}}),
            ],
            "cannot redefine 't.lr' from q.yaml as p.yaml sets it",
        ),
        (
            [Layer("p.yaml", "p.yaml", {"t": {"lr": 1}}), Layer("q.yaml", "q.yaml", {"t": 2})],
            "cannot redefine 't' from q.yaml as p.yaml sets it",
        ),
    ],
)
def test_with_layer_refuses_to_redefine_a_value(layers: list[Layer], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        context(*layers)


def test_with_layer_refuses_to_redefine_item_in_a_foreach_stage() -> None:
    ctx = Context().with_bound({"item": Var(None, "", 1)})
    with pytest.raises(
        ValueError, match=re.escape("vars[0] redefines 'item', which foreach/matrix")
    ):
        ctx.with_layer(Layer(None, "vars[0]", {"item": 2}))


def test_with_file_loads_a_file_once_and_in_disjoint_parts() -> None:
    data = {"a": 1, "b": 2, "c": 3}
    whole = Context().with_file("p.yaml", data, None, "p.yaml")
    assert whole.with_file("p.yaml", data, None, "p.yaml") is whole  # listed again: fine
    part = Context().with_file("p.yaml", data, ("a",), "p.yaml:a")
    both = part.with_file("p.yaml", data, ("b", "c"), "p.yaml:b,c")
    assert both.names() == ["a", "b", "c"]
    assert both.imports == {"p.yaml": ("a", "b", "c")}


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (None, ("a",), "vars entry 'second' loads p.yaml again, overlapping"),
        (("a",), None, "vars entry 'second' loads p.yaml again, overlapping"),
        (("a", "b"), ("b",), "vars entry 'second' loads p.yaml again, overlapping"),
    ],
)
def test_with_file_refuses_overlapping_loads(
    first: tuple[str, ...] | None, second: tuple[str, ...] | None, message: str
) -> None:
    data = {"a": 1, "b": 2}
    ctx = Context().with_file("p.yaml", data, first, "first")
    with pytest.raises(ValueError, match=re.escape(message)):
        ctx.with_file("p.yaml", data, second, "second")


def test_with_file_names_a_missing_key() -> None:
    with pytest.raises(
        ValueError, match=re.escape("p.yaml has no top-level key 'trian' (did you mean")
    ):
        Context().with_file("p.yaml", {"train": 1}, ("trian",), "p.yaml:trian")


def names(members: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [suffix for suffix, _ in members]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Checked against DVC 3.67.1: values name members, composite lists use indices.
        (["a", "b"], ["a", "b"]),
        ([1, 0.5, True, None, "x"], ["1", "0.5", "true", "None", "x"]),
        (["a", "a", "b"], ["a", "b"]),
        ([{"x": 1}, "b"], ["0", "1"]),
        ([["x"], ["y"]], ["0", "1"]),
        ({"resnet": {"lr": 1}, "vit": {"lr": 2}}, ["resnet", "vit"]),
        ({1: "a", "x": "b", 0.5: "c"}, ["1", "x", "0.5"]),
        ({True: "b"}, ["true"]),
        ("${paths}", ["a.csv", "b.csv"]),
        ("${models}", ["resnet", "vit"]),
        (["${x}", "${train.name}"], ["1", "my run"]),
        ([], []),
    ],
)
def test_foreach_members_are_named_like_dvc(data: Any, expected: list[str]) -> None:
    assert names(foreach_members(FILE_CTX, data, "dvc.yaml:3: stage 'a'")) == expected


def test_foreach_items_are_tracked_to_their_file() -> None:
    members = foreach_members(FILE_CTX, "${models}", "here")
    assert members[0] == (
        "resnet",
        {
            "item": Var("params.yaml", "models.resnet", {"lr": 0.1}),
            "key": Var(None, "", "resnet"),
        },
    )
    ctx = FILE_CTX.with_bound(members[1][1])
    assert resolve("--lr ${item.lr} --name ${key}", ctx) == (
        "--lr 0.001 --name vit",
        [Var("params.yaml", "models.vit.lr", 0.001)],
    )


@pytest.mark.parametrize(
    ("data", "kind"), [("${train.lr}", "a number"), ("abc", "a string"), (3, "an integer")]
)
def test_foreach_over_a_non_collection_names_the_type(data: Any, kind: str) -> None:
    with pytest.raises(PipelineError) as info:
        foreach_members(FILE_CTX, data, "dvc.yaml:3: stage 'a'")
    assert str(info.value).startswith(
        f"dvc.yaml:3: stage 'a': foreach needs a list or a mapping, got {kind}"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"py": ["3.10", "3.11"], "os": ["linux", "mac"]},
            ["3.10-linux", "3.10-mac", "3.11-linux", "3.11-mac"],
        ),
        ({"flag": [True, False], "n": [None]}, ["true-None", "false-None"]),
        (
            {"opt": [{"a": 1}, {"b": 2}], "x": [[1], "y"]},
            ["opt0-x0", "opt0-y", "opt1-x0", "opt1-y"],
        ),
        ({"lr": [0.1, 0.10]}, ["0.1"]),
        ({"layers": "${train.layers}"}, ["8", "16"]),
        ({"a": [1], "b": []}, []),
    ],
)
def test_matrix_members_are_named_like_dvc(data: dict[str, Any], expected: list[str]) -> None:
    assert names(matrix_members(FILE_CTX, data, "here")) == expected


def test_matrix_binds_each_axis_and_the_key() -> None:
    members = matrix_members(FILE_CTX, {"layers": "${train.layers}", "seed": [1]}, "here")
    ctx = FILE_CTX.with_bound(members[1][1])
    value, used = resolve("${item.layers} ${item.seed} ${key} ${item}", ctx, field="cmd")
    assert value == "16 1 16-1 --layers 16 --seed 1"
    # A plain value names its member, so it is not tracked by its list position (issue 12).
    assert used == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lr": "${train.lr}"}, "here: matrix entry 'lr' must be a list, got a number"),
        ("${train}", "here: matrix must be a mapping of name to a list of values"),
    ],
)
def test_matrix_errors_name_the_entry(data: Any, message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)):
        matrix_members(FILE_CTX, data, "here")
