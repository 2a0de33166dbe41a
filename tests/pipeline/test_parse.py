from __future__ import annotations

import dataclasses
import logging
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- real-world pipelines: names checked against DVC 3.67.1 (`dvc.repo.Repo.index.stages`) ---


@pytest.mark.parametrize(
    ("name", "stages"),
    [
        ("get_started", ["evaluate", "featurize", "prepare", "train"]),
        (
            "foreach_dicts",
            [
                "evaluate@0",
                "evaluate@1",
                "publish@production",
                "publish@staging",
                "train@resnet50",
                "train@vit-b16",
            ],
        ),
        (
            "matrix",
            [
                *(
                    f"build@{py}-{os}-extra{i}"
                    for py in ("3.10", "3.11")
                    for os in ("macos", "ubuntu")
                    for i in (0, 1)
                ),
                *(
                    f"sweep@{m}-{f}-{s}"
                    for m in ("cnn", "xgb")
                    for f in ("basic", "full")
                    for s in (1, 2)
                ),
            ],
        ),
        (
            "monorepo",
            [
                "download",
                "nlp/dvc.yaml:tokenize",
                "nlp/dvc.yaml:train",
                "vision/dvc.yaml:augment@crop",
                "vision/dvc.yaml:augment@flip",
            ],
        ),
        ("vars_files", ["prepare", "report", "train"]),
    ],
)
def test_wild_pipelines_expand_to_the_stage_names_dvc_gives(name: str, stages: list[str]) -> None:
    files, dvc_files = project(name)
    assert parse(files, dvc_files).names == tuple(stages)


def test_get_started_reads_params_metrics_and_plots(caplog: pytest.LogCaptureFixture) -> None:
    files, dvc_files = project("get_started")
    with caplog.at_level(logging.WARNING, logger="ci_ml"):
        pipeline = parse(files, dvc_files)
    assert caplog.messages == ["dvc.yaml: ignoring 'artifacts': ci-ml does not use DVC's artifacts"]
    train = pipeline.stage("train")
    assert train.cmd == ("python src/train.py data/features model.pkl",)
    assert train.deps == ("data/features", "src/train.py")
    assert train.params == (
        param("train.min_split", "0.01"),
        param("train.n_est", "50"),
        param("train.seed", "20170428"),
    )
    assert pipeline.stage("prepare").params[1] == param("prepare.split", "0.2")
    assert pipeline.metrics == ("eval/metrics.json",)
    assert pipeline.params_files == ("params.yaml",)
    roc = Out(
        path="ROC",
        kind="plots",
        options=(
            ("template", '"simple"'),
            ("x", '"fpr"'),
            (
                "y",
                '{"eval/plots/sklearn/roc/test.json":"tpr","eval/plots/sklearn/roc/train.json":"tpr"}',
            ),
        ),
    )
    assert pipeline.plots[0] == roc
    assert pipeline.plots[3] == Out(path="eval/plots/images/importance.png", kind="plots")
    assert train.line == 23
    assert train.source == "dvc.yaml"


def test_foreach_over_dicts_interpolates_key_and_item() -> None:
    files, dvc_files = project("foreach_dicts")
    pipeline = parse(files, dvc_files)
    vit = pipeline.stage("train@vit-b16")
    assert vit.group == "train"
    assert vit.cmd == ("python train.py --model vit-b16 --lr 0.0003 --layers 12",)
    assert vit.cmd_template == (
        "python train.py --model ${key} --lr ${item.lr} --layers ${item.layers}",
    )
    assert vit.outs == (
        Out(path="models/vit-b16.pt"),
        Out(path="metrics/vit-b16.json", kind="metrics", cache=False),
    )
    # DVC tracks `${item.lr}` back to where the item came from: models.vit-b16.lr.
    assert vit.params == (
        param("models.vit-b16.layers", "12"),
        param("models.vit-b16.lr", "0.0003"),
    )
    assert pipeline.stage("evaluate@1").cmd == ("python evaluate.py cifar10 --split test",)
    assert pipeline.stage("publish@staging").always_changed


def test_matrix_names_members_and_binds_items() -> None:
    files, dvc_files = project("matrix")
    pipeline = parse(files, dvc_files)
    sweep = pipeline.stage("sweep@xgb-full-2")
    assert sweep.cmd == (
        "python train.py --model xgb --features full --seed 2 --out runs/xgb-full-2",
    )
    assert sweep.outs == (Out(path="runs/xgb-full-2"),)
    # feature_sets is a params list of plain values: the member's name holds its value.
    assert sweep.params == (param("epochs", "10"),)
    assert pipeline.stage("build@3.11-ubuntu-extra0").cmd == ("./build.sh 3.11 ubuntu gpu",)


def test_monorepo_paths_are_project_relative() -> None:
    files, dvc_files = project("monorepo")
    pipeline = parse(files, dvc_files)
    assert pipeline.stage("download").outs == (Out(path="data/raw", persist=True),)
    tokenize = pipeline.stage("nlp/dvc.yaml:tokenize")
    assert (tokenize.source, tokenize.group, tokenize.wdir) == (
        "nlp/dvc.yaml",
        "nlp/dvc.yaml:tokenize",
        "nlp",
    )
    assert tokenize.deps == ("data/raw", "nlp/tokenize.py")
    assert tokenize.params == (param("tokenizer.vocab", "32000", "nlp/params.yaml"),)
    train = pipeline.stage("nlp/dvc.yaml:train")
    assert train.wdir == "nlp/model"
    assert train.deps == ("nlp/tokens", "nlp/model/train.py")
    assert train.params == (
        param("train.epochs", "3", "nlp/params.yaml"),
        param("train.lr", "0.0005", "nlp/params.yaml"),
    )
    assert train.outs == (
        Out(path="nlp/model/checkpoint.pt"),
        Out(path="nlp/model/scores.json", kind="metrics", cache=False),
    )
    flip = pipeline.stage("vision/dvc.yaml:augment@flip")
    assert flip.group == "vision/dvc.yaml:augment"
    assert flip.cmd == ("python augment.py --flip ../data/raw aug/flip",)
    assert flip.outs == (Out(path="vision/aug/flip"),)


def test_vars_files_values_become_params_of_the_stages_that_use_them() -> None:
    files, dvc_files = project("vars_files")
    pipeline = parse(files, dvc_files)
    prepare = pipeline.stage("prepare")
    assert prepare.cmd == ("python prepare.py data/raw.csv data/clean.csv --name nightly",)
    assert prepare.params == (
        param("data.clean", '"data/clean.csv"', "config/paths.json"),
        param("data.raw", '"data/raw.csv"', "config/paths.json"),
    )
    assert pipeline.stage("train").params == (
        param("model.arch", '"resnet18"', "config/model.toml"),
        param("data.clean", '"data/clean.csv"', "config/paths.json"),
        param("out.dir", '"models"', "config/paths.json"),
        param("Train.EPOCHS", "20", "config/settings.py"),
        param("optimizer.lr", "0.01", "config/train.yaml"),
        param("optimizer.momentum", "0.9", "config/train.yaml"),
    )
    assert pipeline.stage("report").params == (
        param("out.dir", '"models"', "config/paths.json"),
        param(None, '{"optimizer":{"lr":0.01,"momentum":0.9}}', "config/train.yaml"),
    )
    assert pipeline.params_files == (
        "config/model.toml",
        "config/paths.json",
        "config/settings.py",
        "config/train.yaml",
    )


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


# --- errors: each names the file, the line where YAML gives one, the stage, and the fix -------

STAGE = "stages:\n  train:\n    cmd: python train.py\n"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd: [x\n"},
            "dvc.yaml:4:1: invalid YAML: did not find expected ',' or ']'. Fix the syntax there.",
        ),
        (
            {"dvc.yaml": "- train\n"},
            "dvc.yaml: expected a mapping with `stages:` at the top, got a list.",
        ),
        (
            {"dvc.yaml": "stage:\n  train: {cmd: x}\n"},
            "dvc.yaml:1: unknown top-level key 'stage' (did you mean 'stages'?). A pipeline file "
            "holds stages, vars, params, metrics, plots.",
        ),
        ({"dvc.yaml": "stages: [a]\n"}, "dvc.yaml: `stages` must be a mapping of stage name to"),
        (
            {"dvc.yaml": "stages:\n  train: python x\n"},
            "dvc.yaml:2: stage 'train': expected a mapping",
        ),
        (
            {"dvc.yaml": STAGE + "    dep: [a]\n"},
            "dvc.yaml:4: stage 'train': unknown key 'dep' (did you mean 'deps'?). A stage takes "
            "cmd, wdir, deps, params, outs, metrics, plots, frozen, always_changed, desc, meta, "
            "vars.",
        ),
        (
            {"dvc.yaml": STAGE + "    gpu: true\n"},
            "dvc.yaml:4: stage 'train': unknown key 'gpu'. ci-ml's stage settings go in "
            "ci-ml.yaml under `stages:`, not in dvc.yaml.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    deps: [a]\n"},
            "dvc.yaml:2: stage 'train': stage has no `cmd`. Add the command that it runs.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd:\n"},
            "dvc.yaml:2: stage 'train': stage has no `cmd`. Add the command that it runs.",
        ),
        (
            {"dvc.yaml": "plots:\n- roc: {gpu: true}\nstages: {}\n"},
            "dvc.yaml:2: unknown key 'gpu'. A plot takes template, x, y,",
        ),
        (
            {"dvc.yaml": "stages:\n  train: {cmd: x}\n  train: {cmd: y}\n"},
            "dvc.yaml:3: duplicate key 'train'. Each key may appear once in a mapping",
        ),
        (
            {"dvc.yaml": "stages:\n  a@b: {cmd: x}\n"},
            "dvc.yaml:2: stage 'a@b': a stage name cannot contain '@' or ':'",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [train.lrr]\n", "params.yaml": "train:\n  lr: 1\n"},
            "dvc.yaml:2: stage 'train': reads param 'train.lrr', which params.yaml does not define "
            "(did you mean 'train.lr'?). Add it to params.yaml or fix the stage's params list.",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [lr]\n"},
            "dvc.yaml:2: stage 'train': params file params.yaml does not exist and no stage "
            "writes it. Create it or fix the stage's params list.",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [{conf/p.yaml: [lr]}]\n"},
            "dvc.yaml:2: stage 'train': params file conf/p.yaml does not exist and no stage",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [{p.yaml: lr}]\n", "p.yaml": "lr: 1\n"},
            "dvc.yaml:2: stage 'train': params of p.yaml must be a list of keys.",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [1]\n"},
            "dvc.yaml:2: stage 'train': params entries are keys or {file: [keys]} mappings.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd: run ${lrr}\n", "params.yaml": "lr: 1\n"},
            "dvc.yaml:2: stage 'train': cannot resolve ${lrr} in 'cmd': 'lrr' is not defined "
            "(did you mean 'lr'?) (defined: lr). Define it in params.yaml or under vars, or fix "
            "the name.",
        ),
        (
            {
                "dvc.yaml": "stages:\n  t:\n    foreach: ${lr}\n    do: {cmd: x}\n",
                "params.yaml": "lr: 0.1\n",
            },
            "dvc.yaml:2: stage 't': foreach needs a list or a mapping, got a number (0.1). Point it "
            "at a list or mapping in params.yaml or vars.",
        ),
        (
            {"dvc.yaml": "stages:\n  t:\n    foreach: [a]\n    do: {cmd: x}\n    cmd: y\n"},
            "dvc.yaml:5: stage 't': unknown key 'cmd'. A foreach stage takes foreach, do.",
        ),
        (
            {"dvc.yaml": "stages:\n  t:\n    do: {cmd: x}\n"},
            "dvc.yaml:2: stage 't': `foreach` needs `do` with a stage definition",
        ),
        (
            {"dvc.yaml": "stages:\n  t:\n    matrix: {a: 1}\n    cmd: x\n"},
            "dvc.yaml:2: stage 't': matrix entry 'a' must be a list, got an integer.",
        ),
        (
            {
                "dvc.yaml": (
                    "stages:\n  t:\n    foreach: [1]\n    do:\n      cmd: x\n"
                    "      vars: [{item: 2}]\n"
                )
            },
            "dvc.yaml:2: stage 't@1': vars[0] redefines 'item', which foreach/matrix sets.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: [/data/raw]\n"},
            "dvc.yaml:2: stage 'train': deps entry '/data/raw' is not inside the project. ci-ml "
            "tracks files in the repository only: use a path relative to the stage's wdir.",
        ),
        (
            {"dvc.yaml": STAGE + "    outs: [s3://bucket/model]\n"},
            "dvc.yaml:2: stage 'train': outs entry 's3://bucket/model' is not inside the project.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: ['C:\\data']\n"},
            "dvc.yaml:2: stage 'train': deps entry 'C:\\\\data' is not inside the project.",
        ),
        (
            {"dvc.yaml": STAGE + "    wdir: /abs\n"},
            "dvc.yaml:2: stage 'train': wdir entry '/abs' is not inside the project.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: a.csv\n"},
            "dvc.yaml:2: stage 'train': `deps` must be a list, got the string 'a.csv'.",
        ),
        (
            {"dvc.yaml": STAGE + "    deps: [[a]]\n"},
            "dvc.yaml:2: stage 'train': deps entries must be non-empty paths, got ['a'].",
        ),
        (
            {"dvc.yaml": STAGE + "    outs:\n    - m.pkl:\n        cach: false\n"},
            "dvc.yaml:6: stage 'train': unknown option 'cach' of outs entry 'm.pkl' (did you mean "
            "'cache'?).",
        ),
        (
            {"dvc.yaml": STAGE + "    outs: [{m.pkl: {cache: 'no'}}]\n"},
            "dvc.yaml:2: stage 'train': cache of outs entry 'm.pkl' must be true or false.",
        ),
        (
            {"dvc.yaml": STAGE + "    frozen: yes\n"},
            "dvc.yaml:2: stage 'train': frozen must be true or false, got 'yes'.",
        ),
        (
            {"dvc.yaml": "stages:\n  train:\n    cmd: [[a]]\n"},
            "dvc.yaml:2: stage 'train': cmd must be a string or a list of strings.",
        ),
        (
            {"dvc.yaml": "vars:\n- ${x}.yaml\n" + STAGE},
            "dvc.yaml: vars[0] uses ${...}, which vars cannot. Write the value.",
        ),
        (
            {"dvc.yaml": "vars: [conf.yaml]\n" + STAGE},
            "dvc.yaml: vars file conf.yaml does not exist.",
        ),
        (
            {"dvc.yaml": "vars: [{lr: 2}]\n" + STAGE, "params.yaml": "lr: 1\n"},
            "dvc.yaml: cannot redefine 'lr' from vars[0] as params.yaml sets it. Rename one.",
        ),
        (
            {"dvc.yaml": "vars: [p.yaml:a, p.yaml:a]\n" + STAGE, "p.yaml": "a: 1\n"},
            "dvc.yaml: vars entry 'p.yaml:a' loads p.yaml again, overlapping what is already",
        ),
        (
            {"dvc.yaml": STAGE + "    params: [lr]\n", "params.yaml": "lr: [1\n"},
            "params.yaml:2:1: invalid YAML",
        ),
        (
            {"dvc.yaml": "plots:\n- roc:\n    xx: a\nstages: {}\n"},
            "dvc.yaml:3: unknown key 'xx' (did you mean 'x'?). A plot takes template, x, y, "
            "x_label, y_label, title.",
        ),
    ],
)
def test_errors_name_file_line_stage_and_fix(files: dict[str, str], message: str) -> None:
    assert message in parse_error(files)


def test_a_missing_pipeline_file_is_an_error() -> None:
    assert parse_error({}, ["sub/dvc.yaml"]) == (
        "sub/dvc.yaml: pipeline file not found. Create it or fix the path."
    )


def test_a_stage_defined_in_two_root_files_is_an_error() -> None:
    files = {"dvc.yaml": STAGE, "ci-ml.yaml": STAGE}
    assert parse_error(files, ["dvc.yaml", "ci-ml.yaml"]) == (
        "dvc.yaml:2: stage 'train' is defined twice (also at ci-ml.yaml:2). Rename one of them."
    )


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
