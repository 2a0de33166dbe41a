"""Real-world pipelines: stage names checked against DVC 3.67.1."""

from __future__ import annotations

import logging

import pytest

from ci_ml.pipeline.model import Out
from tests.pipeline.test_parse import param, parse, project

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
