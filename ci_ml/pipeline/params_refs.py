"""The params of a stage: its `params` field, and the values it interpolated from files. [pure]

Follows DVC's _merge_params: bare keys read params.yaml in the stage's
wdir, `{file: [keys]}` reads other files, `{file: null}` tracks a whole file. Values a stage
interpolates from a vars or params file become params too, so a plan can say "param train.lr
changed" (DVC only records them as the stage's `tracked_vars`).
"""

from __future__ import annotations

from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.pipeline.context import Var
from ci_ml.pipeline.model import Param
from ci_ml.pipeline.project_files import ProjectFiles
from ci_ml.pipeline.schema import DEFAULT_PARAMS, Site, field_entries


def stage_params(
    files: ProjectFiles, entries: Any, *, used: list[Var], base: str, site: Site
) -> tuple[Param, ...]:
    """The params a stage reads: those its `params` field lists (DVC's rules) plus every value it
    interpolated from a vars or params file that a whole-file param does not already cover."""
    wanted = _wanted_params(files, field_entries(entries, site, "params"), base, site)
    found = {
        (path, key): files.param(path, key, site)
        for path, keys in wanted.items()
        for key in (keys if keys is not None else (None,))
    }
    for source, key, value in used:
        # A whole-file param already covers every value read from that file.
        if source is not None and wanted.get(source, ()) is not None:
            found[source, key] = files.tracked(source, key, value)
    return tuple(found[ref] for ref in sorted(found, key=lambda r: (r[0], r[1] or "")))


def _wanted_params(
    files: ProjectFiles, entries: list[Any], base: str, site: Site
) -> dict[str, list[str] | None]:
    """DVC's _merge_params: bare keys read params.yaml in the stage's wdir; `{file: null}`
    or `{file: []}` tracks a whole file, and then its listed keys are redundant."""
    default = files.path(base, DEFAULT_PARAMS, site, "params")
    if all(isinstance(entry, str) for entry in entries):
        return {default: list(entries)} if entries else {}
    pairs: list[tuple[str, Any]] = []
    for entry in entries:
        if isinstance(entry, str):
            pairs.append((default, [entry]))
        elif isinstance(entry, dict):
            pairs += [(files.path(base, f, site, "params"), keys) for f, keys in entry.items()]
        else:
            raise PipelineError(f"{site}: params entries are keys or {{file: [keys]}} mappings.")
    wanted: dict[str, list[str] | None] = {path: None for path, keys in pairs if not keys}
    for path, keys in pairs:
        if path in wanted and wanted[path] is None:
            continue
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise PipelineError(f"{site}: params of {path} must be a list of keys.")
        wanted[path] = [*(wanted.get(path) or ()), *keys]
    return wanted
