from __future__ import annotations

import pytest

from ci_ml.errors import PipelineError
from ci_ml.pipeline.graph import build_graph, downstream_closure, upstream_closure
from ci_ml.pipeline.model import Out, Pipeline, Stage


def stage(name: str, deps: tuple[str, ...] = (), outs: tuple[str, ...] = ()) -> Stage:
    return Stage(
        name=name,
        group=name,
        source="dvc.yaml",
        cmd=(f"run {name}",),
        deps=deps,
        outs=tuple(Out(path=p) for p in outs),
    )


def pipeline(*stages: Stage) -> Pipeline:
    return Pipeline(stages=tuple(sorted(stages, key=lambda s: s.name)))


@pytest.mark.parametrize(
    ("stages", "order", "upstream"),
    [
        (
            [
                stage("c", ("b.out",)),
                stage("a", (), ("a.out",)),
                stage("b", ("a.out",), ("b.out",)),
            ],
            ("a", "b", "c"),
            {"a": (), "b": ("a",), "c": ("b",)},
        ),
        # A dep inside an output directory, and a dep directory that holds an output.
        (
            [stage("a", (), ("data/a",)), stage("b", ("data/a/x.csv",)), stage("c", ("data",))],
            ("a", "b", "c"),
            {"a": (), "b": ("a",), "c": ("a",)},
        ),
        # Independent stages: ties broken by name.
        ([stage("z"), stage("m"), stage("a")], ("a", "m", "z"), {"a": (), "m": (), "z": ()}),
    ],
)
def test_build_graph_orders_and_links(
    stages: list[Stage], order: tuple[str, ...], upstream: dict[str, tuple[str, ...]]
) -> None:
    graph = build_graph(pipeline(*stages))
    assert graph.order == order
    assert dict(graph.upstream) == upstream


def test_cycle_is_printed_in_data_flow_order() -> None:
    stages = [stage("a", ("c.out",), ("a.out",)), stage("b", ("a.out",), ("b.out",))]
    stages.append(stage("c", ("b.out",), ("c.out",)))
    with pytest.raises(PipelineError, match=r"cycle: a -> b -> c -> a\."):
        build_graph(pipeline(*stages))


def test_two_stages_with_one_output_are_refused() -> None:
    with pytest.raises(PipelineError, match=r"'model.pkl' is an output of both stage 'a'"):
        build_graph(pipeline(stage("a", (), ("model.pkl",)), stage("b", (), ("model.pkl",))))


def test_nested_outputs_are_refused() -> None:
    with pytest.raises(
        PipelineError, match=r"output 'data/x/y' of stage 'b' is inside output 'data/x'"
    ):
        build_graph(pipeline(stage("a", (), ("data/x",)), stage("b", (), ("data/x/y",))))


def test_closures_follow_edges() -> None:
    graph = build_graph(
        pipeline(
            stage("a", (), ("a.out",)),
            stage("b", ("a.out",), ("b.out",)),
            stage("c", ("b.out",)),
            stage("d"),
        )
    )
    assert downstream_closure(graph, ["b"]) == {"b", "c"}
    assert upstream_closure(graph, ["c"]) == {"a", "b", "c"}
