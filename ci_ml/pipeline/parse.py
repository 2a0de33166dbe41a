"""Pipeline files (every dvc.yaml, or ci-ml.yaml) plus params files -> a Pipeline. [pure]

The caller passes `read(path) -> text | None` for project-relative POSIX paths, backed by the
working tree or by git objects; nothing here touches the filesystem. Semantics follow DVC 3
(dvc/parsing/__init__.py, dvc/schema.py, dvc/dependency/__init__.py), with these choices:
paths are normalised (`./src` == `src`), absolute paths and URLs are errors, and values a stage
interpolates from a vars/params file become that stage's params, so a plan can say
"param train.lr changed" (DVC only records them as the stage's `tracked_vars`).

This module reads each file's top level; its stages are `stages.py`'s, its outputs and plots
`outputs.py`'s, its vars `vars_context.py`'s and the key tables `schema.py`'s.
"""

from __future__ import annotations

import gc
import logging
import posixpath
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

from ci_ml.errors import PipelineError, did_you_mean
from ci_ml.pipeline.interpolate import Resolver
from ci_ml.pipeline.model import Out, Pipeline, Stage
from ci_ml.pipeline.outputs import top_plots
from ci_ml.pipeline.project_files import ProjectFiles, missing_params_error
from ci_ml.pipeline.schema import PipelineFile, Site, a_type, field_entries, pipeline_file
from ci_ml.pipeline.stages import file_stages
from ci_ml.pipeline.vars_context import default_context, with_vars
from ci_ml.yaml_load import load_yaml_text
from ci_ml.yaml_schema import key_line

_log = logging.getLogger("ci_ml")

_TOP_KEYS = ("stages", "vars", "params", "metrics", "plots")
_IGNORED_TOP_KEYS = ("artifacts", "datasets")  # DVC's, of no use to ci-ml: warned about
# ci-ml's own settings in ci-ml.yaml; ci_ml.config reads and checks them.
_CONFIG_TOP_KEYS = (
    *("base-branch", "cache", "runner", "gpu-runner", "defaults", "trust", "trusted-refs"),
    *("metric-gates", "report"),
)


def parse_pipeline(
    read: Callable[[str], str | None],
    pipeline_files: Sequence[str],
    *,
    documents: MutableMapping[tuple[str, str], Any] | None = None,
) -> Pipeline:
    """Parse every pipeline file into one Pipeline; raises PipelineError naming file and stage.

    `documents` may be shared between calls (base and head): a pipeline file with the same
    text on both sides is then read as YAML once. The documents are never modified.
    """
    # A big pipeline makes 10^6 small objects, none of them cyclic garbage; the cyclic GC
    # would walk them again and again while they pile up (a quarter of a 10,000-stage parse).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _parse(read, pipeline_files, {} if documents is None else documents)
    finally:
        if paused:
            gc.enable()


def _parse(
    read: Callable[[str], str | None],
    pipeline_files: Sequence[str],
    documents: MutableMapping[tuple[str, str], Any],
) -> Pipeline:
    files = ProjectFiles(read)
    stages: dict[str, Stage] = {}
    metrics: list[str] = []
    plots: list[Out] = []
    top_params: list[str] = []
    for path in sorted({posixpath.normpath(p) for p in pipeline_files}):
        pf = pipeline_file(path)
        doc = _load_document(files, pf, documents)
        ctx = default_context(files, pf)
        ctx = with_vars(files, ctx, doc.get("vars"), base=pf.dir, site=Site(path))
        for stage in file_stages(files, pf, ctx, doc.get("stages")):
            if stage.name in stages:
                other = stages[stage.name]
                raise PipelineError(
                    f"{Site(path, stage.line)}: stage {stage.name!r} is defined twice (also "
                    f"at {other.source}:{other.line}). Rename one of them."
                )
            stages[stage.name] = stage
        top = Resolver(ctx, Site(path), "")
        site = Site(path)
        metrics += [files.path(pf.dir, m, site, "metrics") for m in _list(top, doc, "metrics")]
        top_params += [files.path(pf.dir, p, site, "params") for p in _list(top, doc, "params")]
        plots += top_plots(files, pf, _list(top, doc, "plots"))
    return Pipeline(
        stages=_with_produced_params(files, [stages[name] for name in sorted(stages)]),
        metrics=tuple(dict.fromkeys(metrics)),
        plots=tuple(plots),
        params_files=tuple(sorted(files.used.union(top_params))),
    )


def _with_produced_params(files: ProjectFiles, stages: list[Stage]) -> tuple[Stage, ...]:
    """A params file that a stage writes (one of its outs, or inside one) is also a dep of
    the stages that read it, as in DVC's graph, so they run after it and follow its key.
    A params file that is missing and that no stage writes is an error."""
    outs = {path for stage in stages for path in stage.out_paths}
    for path, site in files.missing.items():
        if not _is_within(path, outs):
            raise missing_params_error(path, site)
    result = []
    for stage in stages:
        produced = [p.file for p in stage.params if _is_within(p.file, outs)]
        if produced:
            stage = replace(stage, deps=tuple(dict.fromkeys((*stage.deps, *produced))))
        result.append(stage)
    return tuple(result)


def _is_within(path: str, outs: set[str]) -> bool:
    while path and path not in (".", "/"):
        if path in outs:
            return True
        path = posixpath.dirname(path)
    return False


def _load_document(
    files: ProjectFiles, pf: PipelineFile, documents: MutableMapping[tuple[str, str], Any]
) -> dict[str, Any]:
    text = files.read(pf.path)
    if text is None:
        raise PipelineError(f"{pf.path}: pipeline file not found. Create it or fix the path.")
    if (pf.path, text) not in documents:
        documents[pf.path, text] = load_yaml_text(pf.path, text)
    doc = documents[pf.path, text]
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PipelineError(
            f"{pf.path}: expected a mapping with `stages:` at the top, got {a_type(doc)}."
        )
    allowed = (*_TOP_KEYS, *_IGNORED_TOP_KEYS, *(_CONFIG_TOP_KEYS if pf.is_config else ()))
    for key in doc:
        if key in _IGNORED_TOP_KEYS:
            _log.warning("%s: ignoring %r: ci-ml does not use DVC's %s", pf.path, key, key)
        elif key not in allowed:
            raise PipelineError(
                f"{Site(pf.path, key_line(doc, key))}: unknown top-level key {key!r}"
                f"{did_you_mean(str(key), allowed)}. A pipeline file holds "
                f"{', '.join(_TOP_KEYS)}."
            )
    return doc


def _list(resolver: Resolver, doc: Mapping[str, Any], key: str) -> list[Any]:
    return field_entries(resolver.resolve_field(key, doc.get(key)), resolver.where, key)
