"""The stage graph: which stage produces each dep, cycle checks, stable topological order. [pure]

An edge runs from the stage that declares an output to every stage with a dep at that path,
inside it (a file of an output directory) or above it (a directory that holds the output).
"""

from __future__ import annotations

import bisect
import heapq
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ci_ml.errors import PipelineError
from ci_ml.pipeline.model import Pipeline, Stage


@dataclass(frozen=True, slots=True)
class Graph:
    """`upstream[name]` are the stages whose outputs `name` reads; `order` is topological."""

    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]
    producers: Mapping[str, tuple[str, ...]]  # dep path -> stages producing (part of) it


def build_graph(pipeline: Pipeline) -> Graph:
    """Check outputs and cycles, then order the stages; raises PipelineError on bad input."""
    owner = _output_owners(pipeline.stages)
    sorted_outs = sorted(owner)
    producers: dict[str, tuple[str, ...]] = {}
    upstream: dict[str, tuple[str, ...]] = {}
    for stage in pipeline.stages:
        found: set[str] = set()
        for dep in stage.deps:
            names = _producers_of(dep, owner, sorted_outs)
            if names:
                producers[dep] = names
                found.update(names)
        found.discard(stage.name)
        upstream[stage.name] = tuple(sorted(found))
    downstream: dict[str, list[str]] = {stage.name: [] for stage in pipeline.stages}
    for name, parents in upstream.items():
        for parent in parents:
            downstream[parent].append(name)
    order = _topological_order(upstream, downstream)
    return Graph(
        upstream=upstream,
        downstream={name: tuple(sorted(children)) for name, children in downstream.items()},
        order=order,
        producers=producers,
    )


def _output_owners(stages: Iterable[Stage]) -> dict[str, Stage]:
    owner: dict[str, Stage] = {}
    for stage in stages:
        for path in stage.out_paths:
            other = owner.get(path)
            if other is not None:
                raise PipelineError(
                    f"{path!r} is an output of both stage {other.name!r} ({other.source}) and "
                    f"stage {stage.name!r} ({stage.source}). Each output needs exactly one "
                    "producing stage: rename one of them or merge the stages."
                )
            owner[path] = stage
    for path, stage in owner.items():
        for parent in _ancestors(path):
            outer = owner.get(parent)
            if outer is not None:
                raise PipelineError(
                    f"output {path!r} of stage {stage.name!r} is inside output {parent!r} of "
                    f"stage {outer.name!r}. Outputs cannot overlap: declare the directory or "
                    "the files within it, not both."
                )
    return owner


def _producers_of(dep: str, owner: Mapping[str, Stage], sorted_outs: list[str]) -> tuple[str, ...]:
    names = {owner[p].name for p in (dep, *_ancestors(dep)) if p in owner}
    prefix = dep.rstrip("/") + "/"
    i = bisect.bisect_left(sorted_outs, prefix)
    while i < len(sorted_outs) and sorted_outs[i].startswith(prefix):
        names.add(owner[sorted_outs[i]].name)
        i += 1
    return tuple(sorted(names))


def _ancestors(path: str) -> Iterator[str]:
    parent = posixpath.dirname(path)
    while parent and parent not in (".", "/", ".."):
        yield parent
        parent = posixpath.dirname(parent)


def _topological_order(
    upstream: Mapping[str, tuple[str, ...]], downstream: Mapping[str, list[str]]
) -> tuple[str, ...]:
    # Kahn's algorithm with a heap, so ties always break by name: plans are byte-identical.
    waiting = {name: len(parents) for name, parents in upstream.items()}
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for child in downstream[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(upstream):
        raise PipelineError(_describe_cycle(upstream, set(upstream) - set(order)))
    return tuple(order)


def _describe_cycle(upstream: Mapping[str, tuple[str, ...]], stuck: set[str]) -> str:
    start = min(stuck)
    path = [start]
    seen = {start: 0}
    while True:
        nxt = min(p for p in upstream[path[-1]] if p in stuck)
        if nxt in seen:
            cycle = [*path[seen[nxt] :], nxt]
            break
        seen[nxt] = len(path)
        path.append(nxt)
    # `upstream` edges point backwards; print the cycle in the direction data flows.
    arrow = " -> ".join(reversed(cycle))
    return (
        f"the pipeline has a cycle: {arrow}. Each stage reads the output of the next, so none "
        "can run first. Remove one of these deps (or outs) to break the cycle."
    )


def downstream_closure(graph: Graph, roots: Iterable[str]) -> set[str]:
    """The given stages and every stage that reads their outputs, directly or not."""
    return _closure(graph.downstream, roots)


def upstream_closure(graph: Graph, roots: Iterable[str]) -> set[str]:
    """The given stages and every stage whose outputs they read, directly or not."""
    return _closure(graph.upstream, roots)


def _closure(edges: Mapping[str, tuple[str, ...]], roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(edges[name])
    return seen
