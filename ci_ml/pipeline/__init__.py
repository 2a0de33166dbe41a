"""The pipeline model, its parser and its graph."""

from __future__ import annotations

from ci_ml.pipeline.dvcignore import IgnoreRules
from ci_ml.pipeline.graph import Graph, build_graph, downstream_closure, upstream_closure
from ci_ml.pipeline.model import Out, Param, Pipeline, Stage, StageSettings
from ci_ml.pipeline.params import canonical_json, flat_keys, parse_params_text
from ci_ml.pipeline.parse import parse_pipeline

__all__ = [
    "Graph",
    "IgnoreRules",
    "Out",
    "Param",
    "Pipeline",
    "Stage",
    "StageSettings",
    "build_graph",
    "canonical_json",
    "downstream_closure",
    "flat_keys",
    "parse_params_text",
    "parse_pipeline",
    "upstream_closure",
]
