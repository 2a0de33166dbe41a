from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from ci_ml.errors import PipelineError
from ci_ml.pipeline.model import Out, Param, Pipeline, Stage
from ci_ml.pipeline.parse import parse_pipeline

WILD = Path(__file__).parent / "wild"


def parse(files: dict[str, str], pipeline_files: Sequence[str] = ("dvc.yaml",)) -> Pipeline:
    return parse_pipeline(files.get, list(pipeline_files))


def parse_error(files: dict[str, str], pipeline_files: Sequence[str] = ("dvc.yaml",)) -> str:
    with pytest.raises(PipelineError) as info:
        parse(files, pipeline_files)
    return str(info.value)


def project(name: str) -> tuple[dict[str, str], list[str]]:
    root = WILD / name
    files = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}
    return files, sorted(path for path in files if path.rsplit("/", 1)[-1] == "dvc.yaml")


def param(key: str | None, value: str, file: str = "params.yaml") -> Param:
    return Param(file=file, key=key, value=value)


# --- semantics, one toy pipeline at a time ----------------------------------------------------


def one_stage(definition: str, **files: str) -> Stage:
    text = "stages:\n  a:\n" + "".join(f"    {line}\n" for line in definition.splitlines())
    pipeline = parse(
        {"dvc.yaml": text, **{k.replace("__", "/").replace("_", "."): v for k, v in files.items()}}
    )
    assert pipeline.names == ("a",)
    return pipeline.stages[0]


@pytest.mark.parametrize(
    ("deps", "expected"),
    [
        ("[./src/x.py]", ("src/x.py",)),
        ("[src/../lib/y.py, data/]", ("lib/y.py", "data")),
        ("[../shared/z]", ("../shared/z",)),
        ("[./a, a, b]", ("a", "b")),
        ("[]", ()),
    ],
)
def test_deps_are_normalised_project_relative_paths(deps: str, expected: tuple[str, ...]) -> None:
    assert one_stage(f"cmd: x\ndeps: {deps}").deps == expected


PARAMS_YAML = "lr: 0.1\ntrain:\n  layers: [8, 16]\n  opt: {name: adam}\n"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("[lr]", [param("lr", "0.1")]),
        ("[train.layers.1, lr]", [param("lr", "0.1"), param("train.layers.1", "16")]),
        ("[train.opt]", [param("train.opt", '{"name":"adam"}')]),
        ("[lr, lr]", [param("lr", "0.1")]),
        ("[{conf.json: [a.b]}]", [param("a.b", "[1,2]", "conf.json")]),
        ("[{./conf.json: null}]", [param(None, '{"a":{"b":[1,2]}}', "conf.json")]),
        ("[{conf.json: []}]", [param(None, '{"a":{"b":[1,2]}}', "conf.json")]),
        ("[{conf.json: [a]}, {conf.json: null}]", [param(None, '{"a":{"b":[1,2]}}', "conf.json")]),
        (
            "[lr, {params.yaml: null}]",
            [param(None, '{"lr":0.1,"train":{"layers":[8,16],"opt":{"name":"adam"}}}')],
        ),
        ("[{conf.toml: [t.x]}]", [param("t.x", '"y"', "conf.toml")]),
        (
            "[{conf.py: [LR, Train.SEED]}]",
            [param("LR", "0.5", "conf.py"), param("Train.SEED", "7", "conf.py")],
        ),
    ],
)
def test_params_read_keys_or_whole_files(params: str, expected: list[Param]) -> None:
    stage = one_stage(
        f"cmd: x\nparams: {params}",
        params_yaml=PARAMS_YAML,
        conf_json='{"a": {"b": [1, 2]}}',
        conf_toml="[t]\nx = 'y'\n",
        conf_py="LR = 0.5\nclass Train:\n    SEED = 7\n",
    )
    assert list(stage.params) == expected


def test_params_and_paths_follow_the_stage_wdir() -> None:
    stage = one_stage(
        "cmd: x\nwdir: sub\ndeps: [in.csv, ../top.csv]\nparams: [lr]\nouts: [out]",
        sub__params_yaml="lr: 1\n",
    )
    assert (stage.wdir, stage.deps) == ("sub", ("sub/in.csv", "top.csv"))
    assert stage.params == (param("lr", "1", "sub/params.yaml"),)
    assert stage.out_paths == ("sub/out",)


def test_interpolated_values_from_files_are_params_and_inline_vars_are_not() -> None:
    files = {
        "dvc.yaml": (
            "vars:\n- local: {n: 2}\n- extra.yaml\n"
            "stages:\n  a:\n    cmd: run ${lr} ${local.n} ${extra.k}\n"
            "  b:\n    cmd: run ${lr}\n    params: [{params.yaml: null}]\n"
        ),
        "params.yaml": "lr: 0.1\n",
        "extra.yaml": "extra: {k: v}\n",
    }
    pipeline = parse(files)
    assert pipeline.stage("a").cmd == ("run 0.1 2 v",)
    assert pipeline.stage("a").params == (
        param("extra.k", '"v"', "extra.yaml"),
        param("lr", "0.1"),
    )
    # A whole-file param covers what the stage interpolates from that file.
    assert pipeline.stage("b").params == (param(None, '{"lr":0.1}'),)


def test_stage_vars_are_loaded_relative_to_the_stage_wdir() -> None:
    files = {
        "dvc.yaml": (
            "stages:\n  a:\n    wdir: w\n    vars: [v.yaml, {inline: 1}]\n"
            "    cmd: run ${x} ${inline}\n"
        ),
        "w/v.yaml": "x: 5\n",
    }
    stage = parse(files).stage("a")
    assert stage.cmd == ("run 5 1",)
    assert stage.params == (param("x", "5", "w/v.yaml"),)


@pytest.mark.parametrize(
    ("outs", "expected"),
    [
        ("outs: [m.pkl]", (Out(path="m.pkl"),)),
        (
            "outs: [{m.pkl: {cache: false, persist: true}}]",
            (Out(path="m.pkl", cache=False, persist=True),),
        ),
        ("outs: [{m.pkl: null}]", (Out(path="m.pkl"),)),
        ("outs: [{m.pkl: {desc: model, remote: r, push: false}}]", (Out(path="m.pkl"),)),
        ("metrics: [{s.json: {cache: false}}]", (Out(path="s.json", kind="metrics", cache=False),)),
        (
            "plots: [{p.csv: {y: loss, x: step, template: linear, header: true}}]",
            (
                Out(
                    path="p.csv",
                    kind="plots",
                    options=(
                        ("header", "true"),
                        ("template", '"linear"'),
                        ("x", '"step"'),
                        ("y", '"loss"'),
                    ),
                ),
            ),
        ),
        (
            "outs: [a]\nmetrics: [b]\nplots: [c]",
            (Out(path="a"), Out(path="b", kind="metrics"), Out(path="c", kind="plots")),
        ),
    ],
)
def test_outs_metrics_and_plots_with_their_options(outs: str, expected: tuple[Out, ...]) -> None:
    assert one_stage(f"cmd: x\n{outs}").outs == expected


@pytest.mark.parametrize(
    ("definition", "cmd", "template"),
    [
        ("cmd: python run.py", ("python run.py",), ("python run.py",)),
        ("cmd:\n- a ${n}\n- b", ("a 3", "b"), ("a ${n}", "b")),
        ("cmd: ${n}", ("3",), ("${n}",)),
        ("cmd: run ${args}", ("run --k v --on",), ("run ${args}",)),
        ("cmd: echo \\${HOME} ${n}", ("echo ${HOME} 3",), ("echo \\${HOME} ${n}",)),
    ],
)
def test_cmd_is_interpolated_and_keeps_its_template(
    definition: str, cmd: tuple[str, ...], template: tuple[str, ...]
) -> None:
    stage = one_stage(definition, params_yaml="n: 3\nsteps: [x, y]\nargs: {k: v, on: true}\n")
    assert (stage.cmd, stage.cmd_template) == (cmd, template)


def test_flags_desc_and_interpolated_wdir() -> None:
    stage = one_stage(
        "cmd: x\nfrozen: true\nalways_changed: true\ndesc: Trains ${dir}\nwdir: ${dir}\n"
        "meta: {owner: me}",
        params_yaml="freeze: true\ndir: src\n",
    )
    assert (stage.frozen, stage.always_changed, stage.desc, stage.wdir) == (
        True,
        True,
        "Trains src",
        "src",
    )
    assert stage.params == (param("dir", '"src"'),)  # from wdir; desc tracks nothing


def test_top_level_sections_are_interpolated_and_project_relative() -> None:
    files = {
        "dvc.yaml": "stages: {}\nmetrics: [m.json]\nplots: [p.csv]\nparams: [other.yaml]\n",
        "sub/dvc.yaml": (
            "metrics:\n- ${dir}/m.json\nplots:\n- curve:\n    x: {a.json: step}\n"
            "    y: {a.json: [l1, l2]}\n- ./p.csv: {x: step}\n"
        ),
        "sub/params.yaml": "dir: eval\n",
    }
    pipeline = parse(files, ["sub/dvc.yaml", "dvc.yaml"])
    assert pipeline.metrics == ("m.json", "sub/eval/m.json")
    assert pipeline.plots == (
        Out(path="p.csv", kind="plots"),
        Out(
            path="curve",
            kind="plots",
            options=(("x", '{"sub/a.json":"step"}'), ("y", '{"sub/a.json":["l1","l2"]}')),
        ),
        Out(path="sub/p.csv", kind="plots", options=(("x", '"step"'),)),
    )
    assert pipeline.params_files == ("other.yaml", "sub/params.yaml")


def test_stages_are_sorted_with_file_prefixes_groups_and_lines() -> None:
    files = {
        "dvc.yaml": (
            "stages:\n  zeta:\n    cmd: z\n  alpha:\n    foreach: [b, a]\n    do:\n"
            "      cmd: ${item}\n"
        ),
        "sub/dvc.yaml": "stages:\n  mid:\n    cmd: m\n",
    }
    pipeline = parse(files, ["dvc.yaml", "./sub/dvc.yaml"])
    assert [(s.name, s.group, s.source, s.line) for s in pipeline.stages] == [
        ("alpha@a", "alpha", "dvc.yaml", 4),
        ("alpha@b", "alpha", "dvc.yaml", 4),
        ("sub/dvc.yaml:mid", "sub/dvc.yaml:mid", "sub/dvc.yaml", 2),
        ("zeta", "zeta", "dvc.yaml", 2),
    ]


def test_ci_ml_yaml_keeps_stages_beside_ci_ml_settings() -> None:
    files = {
        "ci-ml.yaml": (
            "base-branch: main\ncache: s3://bucket/x\nrunner: ubuntu-latest\ngpu-runner: gpu\n"
            "defaults: {timeout: 60}\ntrust: {}\ntrusted-refs: []\nmetric-gates: []\nreport: {}\n"
            "stages:\n"
            "  train:\n    cmd: python train.py\n    gpu: true\n    runner: [self-hosted]\n"
            "    timeout: 100\n    env: {A: b}\n"
            "  sweep:\n    foreach: [1, 2]\n    gpu: true\n"
            "    do:\n      cmd: run ${item}\n      env: {}\n"
            "  sweep@1:\n    timeout: 5\n"
            "  settings-only: {gpu: false}\n"
        ),
    }
    pipeline = parse(files, ["ci-ml.yaml"])
    assert pipeline.names == ("sweep@1", "sweep@2", "train")
    assert pipeline.stage("train") == Stage(
        name="train",
        group="train",
        source="ci-ml.yaml",
        line=11,
        cmd=("python train.py",),
        cmd_template=("python train.py",),
        callback=True,  # no deps, no outs: DVC always runs it
    )


def test_ignored_dvc_sections_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    files = {"dvc.yaml": "datasets: [{name: d}]\nartifacts: {}\nstages: {}\n"}
    with caplog.at_level(logging.WARNING, logger="ci_ml"):
        assert parse(files).stages == ()
    assert caplog.messages == [
        "dvc.yaml: ignoring 'datasets': ci-ml does not use DVC's datasets",
        "dvc.yaml: ignoring 'artifacts': ci-ml does not use DVC's artifacts",
    ]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "stages:\n", "vars: []\n"])
def test_an_empty_pipeline_file_has_no_stages(text: str) -> None:
    assert parse({"dvc.yaml": text}) == Pipeline(stages=())


def test_every_file_is_read_and_parsed_once() -> None:
    files = {
        "dvc.yaml": (
            "vars: [v.yaml, params.yaml]\nstages:\n"
            "  a:\n    foreach: [1, 2, 3]\n    do:\n      cmd: ${x} ${y}\n"
            "      params: [x, {v.yaml: [y]}]\n      vars: [params.yaml]\n"
            "  b:\n    cmd: b\n    params: [x, {v.yaml: null}]\n"
        ),
        "params.yaml": "x: 1\n",
        "v.yaml": "y: 2\n",
    }
    reads: Counter[str] = Counter()

    def read(path: str) -> str | None:
        reads[path] += 1
        return files.get(path)

    assert len(parse_pipeline(read, ["dvc.yaml"]).stages) == 4
    assert reads == {"dvc.yaml": 1, "params.yaml": 1, "v.yaml": 1}
