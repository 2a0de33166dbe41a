"""`ci-ml dag`: the stage graph as text or as a Mermaid flowchart."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import Any

from ci_ml.pipeline import Graph, build_graph
from ci_ml.plan import load_settings, open_project, read_side


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "dag",
        parents=[common],
        help="print the stage graph",
        description="Print the stages in run order with the stages they read from.",
    )
    parser.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    project = open_project(args, env)
    settings = load_settings(project, env, args)
    side = read_side(project, None, settings=settings)
    graph = build_graph(side.pipeline)
    gpu = {s.name for s in side.pipeline.stages if s.settings.gpu}
    print(render_mermaid(graph, gpu) if args.mermaid else render_text(graph, gpu), end="")
    return 0


def render_text(graph: Graph, gpu: set[str]) -> str:
    lines = []
    for name in graph.order:
        label = name + (" [gpu]" if name in gpu else "")
        parents = graph.upstream[name]
        lines.append(f"{label} <- {', '.join(parents)}" if parents else label)
    return "\n".join(lines) + "\n"


def render_mermaid(graph: Graph, gpu: set[str]) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(graph.order)}
    lines = ["flowchart TD"]
    for name in graph.order:
        text = re.sub(r'["<>]', "_", name) + (" (gpu)" if name in gpu else "")
        lines.append(f'    {ids[name]}["{text}"]')
    for name in graph.order:
        lines.extend(f"    {ids[parent]} --> {ids[name]}" for parent in graph.upstream[name])
    return "\n".join(lines) + "\n"
