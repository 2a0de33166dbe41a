"""The pipeline model, its parser and its graph.

The face is lazy: each name's module is imported on first use, so that `ci-ml --help` (which
needs only the model's types, through config) does not pay for the parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_ml.lazy_face import lazy_getattr

if TYPE_CHECKING:
    from ci_ml.pipeline.dvcignore import IgnoreRules
    from ci_ml.pipeline.graph import Graph, build_graph, downstream_closure, upstream_closure
    from ci_ml.pipeline.model import Out, Param, Pipeline, Stage, StageSettings
    from ci_ml.pipeline.params import canonical_json, flat_keys, parse_params_text
    from ci_ml.pipeline.parse import parse_pipeline

_MODULES = {
    "IgnoreRules": "dvcignore",
    "Graph": "graph",
    "build_graph": "graph",
    "downstream_closure": "graph",
    "upstream_closure": "graph",
    "Out": "model",
    "Param": "model",
    "Pipeline": "model",
    "Stage": "model",
    "StageSettings": "model",
    "canonical_json": "params",
    "flat_keys": "params",
    "parse_params_text": "params",
    "parse_pipeline": "parse",
}


__getattr__ = lazy_getattr(__name__, _MODULES, globals())


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
