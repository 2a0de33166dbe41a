from __future__ import annotations

import json

import pytest

from ci_ml.mlflow.batches import (
    MAX_TAG_VALUE,
    Entry,
    Metric,
    StageResult,
    chunk,
    is_valid_name,
    map_names,
    renamed_tags,
    series_from_rows,
    stage_spec,
)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("acc", True),
        ("eval.f1 score", True),
        ("train/loss:0", True),
        ("a-b_c", True),
        ("recall@5", False),
        ("f1(macro)", False),
        ("précision", False),
        ("", False),
        ("/abs", False),
        ("a//b", False),
        ("a/./b", False),
        ("../up", False),
        ("..x", False),
        ("trailing/", False),
        ("x" * 251, False),
    ],
)
def test_is_valid_name_follows_mlflow(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["acc", "recall@5"], {"acc": "acc", "recall@5": "recall_5"}),
        (["recall@5", "recall_5"], {"recall@5": "recall_5_2", "recall_5": "recall_5"}),
        (["a@1", "a#1"], {"a#1": "a_1", "a@1": "a_1_2"}),
        (["/lead", "a//b", "../x"], {"/lead": "_/lead", "a//b": "a/_/b", "../x": "_/x"}),
    ],
)
def test_map_names_is_valid_and_injective(names: list[str], expected: dict[str, str]) -> None:
    mapping = map_names(names)
    assert mapping == expected
    assert all(is_valid_name(v) for v in mapping.values())


def test_long_name_is_shortened_with_a_digest() -> None:
    mapping = map_names(["x" * 300, "x" * 301])
    assert len(set(mapping.values())) == 2
    assert all(len(v) <= 250 and is_valid_name(v) for v in mapping.values())


def test_renamed_tag_reverses_the_mapping_and_splits_when_long() -> None:
    assert renamed_tags({"acc": "acc", "recall@5": "recall_5"}) == (
        Entry("ci_ml.renamed", '{"recall_5": "recall@5"}'),
    )
    many = {f"m@{i}": f"m_{i}" for i in range(1000)}
    tags = renamed_tags(many)
    assert [t.key for t in tags][:2] == ["ci_ml.renamed", "ci_ml.renamed.2"]
    assert all(len(t.value) <= MAX_TAG_VALUE for t in tags)
    merged = {k: v for t in tags for k, v in json.loads(t.value).items()}
    assert merged == {v: k for k, v in many.items()}


@pytest.mark.parametrize(
    ("metrics", "params", "tags", "sizes"),
    [
        (0, 0, 0, []),
        (1000, 0, 0, [(1000, 0, 0)]),
        (1001, 0, 0, [(1000, 0, 0), (1, 0, 0)]),
        (2500, 0, 0, [(1000, 0, 0), (1000, 0, 0), (500, 0, 0)]),
        (1000, 150, 5, [(895, 100, 5), (105, 50, 0)]),
        (0, 0, 250, [(0, 0, 100), (0, 0, 100), (0, 0, 50)]),
    ],
)
def test_chunk_keeps_every_request_within_the_limits(
    metrics: int, params: int, tags: int, sizes: list[tuple[int, int, int]]
) -> None:
    ms = [Metric(f"m{i}", float(i)) for i in range(metrics)]
    ps = [Entry(f"p{i}", "v") for i in range(params)]
    ts = [Entry(f"t{i}", "v") for i in range(tags)]
    batches = chunk(ms, ps, ts)
    assert [(len(b.metrics), len(b.params), len(b.tags)) for b in batches] == sizes
    assert [m for b in batches for m in b.metrics] == ms


def test_series_from_rows_uses_the_step_or_epoch_column() -> None:
    rows = [{"epoch": 0.0, "loss": 1.0, "tag": "a"}, {"epoch": 1.0, "loss": 0.5, "tag": "b"}]
    assert series_from_rows(rows, "h.csv") == {"h.csv/loss": [(0, 1.0), (1, 0.5)]}
    assert series_from_rows([{"x": 0.0, "y": 1.0}], "p.csv") == {}
    assert series_from_rows([{"step": 0.5, "y": 1.0}], "p.csv") == {}


def _result(**changes: object) -> StageResult:
    fields: dict[str, object] = {
        "name": "train",
        "key": "k" * 64,
        "status": "ran",
        "duration_s": 2.5,
        "params": {"train.lr": "0.1", "bad name!": "x" * 7000},
        "metrics": {
            "acc": 0.5,
            "recall@5": 0.25,
            "note": "text",
            "flag": True,
            "nan": float("nan"),
        },
        "series": {},
        "artifacts": ("metrics.json",),
        "large_outputs": ("model.pt",),
    }
    fields.update(changes)
    return StageResult(**fields)  # type: ignore[arg-type]


def test_stage_spec_maps_names_keeps_numbers_and_truncates_params() -> None:
    spec = stage_spec(_result(), commit="abc", cache_url="s3://b/p", end_ms=10_000)
    assert {m.key: m.value for m in spec.metrics} == {
        "acc": 0.5,
        "recall_5": 0.25,
        "ci_ml.duration_s": 2.5,
    }
    params = {p.key: p.value for p in spec.params}
    assert params["train.lr"] == "0.1"
    assert len(params["bad name_"]) == 6000
    tags = {t.key: t.value for t in spec.tags}
    assert tags["ci_ml.cache"] == "miss"
    assert json.loads(tags["ci_ml.renamed"]) == {"bad name_": "bad name!", "recall_5": "recall@5"}
    assert json.loads(tags["ci_ml.outputs"]) == {"model.pt": f"s3://b/p key {'k' * 64}"}
    assert (spec.start_ms, spec.end_ms, spec.status) == (7_500, 10_000, "FINISHED")


@pytest.mark.parametrize(
    ("status", "cache", "run_status"),
    [
        ("ran", "miss", "FINISHED"),
        ("failed", "miss", "FAILED"),
        ("restored", "hit", "FINISHED"),
        ("cached", "hit", "FINISHED"),
        ("current", "hit", "FINISHED"),
    ],
)
def test_cache_tag_follows_the_outcome(status: str, cache: str, run_status: str) -> None:
    spec = stage_spec(_result(status=status), commit="abc", cache_url="c", end_ms=1)
    assert {t.key: t.value for t in spec.tags}["ci_ml.cache"] == cache
    assert spec.status == run_status
