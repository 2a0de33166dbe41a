"""`vars` sections -> the Context a pipeline file's stages interpolate from. [pure]

Like DVC (dvc/parsing/__init__.py), params.yaml beside a pipeline file is the first vars
source when it exists; a `vars` list (at the top of the file or in a stage) adds file names
(`f.yaml`, `f.yaml:k1,k2`) and inline mappings, which may not interpolate themselves.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.pipeline.context import Context, Layer
from ci_ml.pipeline.interpolate import has_interpolation
from ci_ml.pipeline.project_files import ProjectFiles
from ci_ml.pipeline.schema import DEFAULT_PARAMS, PipelineFile, Site


def default_context(files: ProjectFiles, pf: PipelineFile) -> Context:
    """Like DVC, params.yaml beside the pipeline file is the first vars source, when it exists."""
    path = posixpath.normpath(posixpath.join(pf.dir, DEFAULT_PARAMS))
    data = files.params(path)
    if data is None:
        return Context()
    return Context(layers=(Layer(path, path, data),), imports={path: None})


def with_vars(files: ProjectFiles, ctx: Context, entries: Any, *, base: str, site: Site) -> Context:
    """`ctx` plus a `vars` list: file names (`f.yaml`, `f.yaml:k1,k2`) and inline mappings."""
    if entries is None:
        return ctx
    if not isinstance(entries, list):
        raise PipelineError(f"{site}: vars must be a list of file names and mappings.")
    for index, entry in enumerate(entries):
        if _has_interpolation(entry):
            raise PipelineError(
                f"{site}: vars[{index}] uses ${{...}}, which vars cannot. Write the value."
            )
        try:
            if isinstance(entry, str):
                name, _, keys_text = entry.partition(":")
                path = files.path(base, name, site, "vars")
                data = files.params(path)
                if data is None:
                    raise PipelineError(f"{site}: vars file {path} does not exist. Create it.")
                keys = tuple(k for k in keys_text.split(",") if k) or None
                ctx = ctx.with_file(path, data, keys, entry)
            elif isinstance(entry, dict):
                ctx = ctx.with_layer(Layer(None, f"vars[{index}]", entry))
            else:
                raise PipelineError(f"{site}: vars[{index}] must be a file name or a mapping.")
        except ValueError as exc:
            raise PipelineError(f"{site}: {exc}.") from None
    return ctx


def _has_interpolation(data: Any) -> bool:
    if isinstance(data, str):
        return has_interpolation(data)
    if isinstance(data, dict):
        return any(_has_interpolation(k) or _has_interpolation(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_interpolation(item) for item in data)
    return False
