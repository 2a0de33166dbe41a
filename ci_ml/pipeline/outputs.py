"""`outs`, `metrics` and `plots` of stages, and the top-level `plots` section -> Outs. [pure]

Follows dvc/schema.py and dvc/output.py (DVC 3) for the options an output takes, and DVC's
top-level plot definitions (dvc/repo/plots) for plot ids and their x/y files. Plot properties
are kept as canonical JSON in `Out.options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci_ml.errors import PipelineError, did_you_mean
from ci_ml.pipeline.model import Out, OutKind
from ci_ml.pipeline.params import canonical_json
from ci_ml.pipeline.project_files import ProjectFiles
from ci_ml.pipeline.schema import PipelineFile, Site, a_type, check_keys, field_entries
from ci_ml.yaml_schema import key_line

_OUT_OPTIONS = ("cache", "persist", "checkpoint", "remote", "push", "desc", "type", "labels")
_PLOT_PROPS = ("template", "x", "y", "x_label", "y_label", "title", "header")
_TOP_PLOT_PROPS = ("template", "x", "y", "x_label", "y_label", "title")
OUT_KINDS: tuple[OutKind, ...] = ("outs", "metrics", "plots")


def stage_outs(
    files: ProjectFiles, kind: OutKind, entries: Any, *, base: str, site: Site
) -> list[Out]:
    """A stage's `outs`, `metrics` or `plots` (`kind`): paths, or paths mapped to options."""
    outs: list[Out] = []
    for entry in field_entries(entries, site, kind):
        if not isinstance(entry, dict):
            outs.append(Out(path=files.path(base, entry, site, kind), kind=kind))
            continue
        for path, options in entry.items():
            options = _out_options(kind, path, options, site)
            props = (k for k in options if k in _PLOT_PROPS) if kind == "plots" else ()
            outs.append(
                Out(
                    path=files.path(base, path, site, kind),
                    kind=kind,
                    cache=options.get("cache", True),
                    persist=options.get("persist", False),
                    options=tuple(sorted((k, canonical_json(options[k])) for k in props)),
                )
            )
    return outs


def _out_options(kind: OutKind, path: object, options: Any, site: Site) -> Mapping[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise PipelineError(f"{site}: options of {kind} entry {path!r} must be a mapping.")
    allowed = (*_OUT_OPTIONS, *(_PLOT_PROPS if kind == "plots" else ()))
    if not options.keys() <= set(allowed):
        key = next(key for key in options if key not in allowed)
        raise PipelineError(
            f"{site.at(key_line(options, key))}: unknown option {key!r} of {kind} entry "
            f"{path!r}{did_you_mean(str(key), allowed)}. Options: {', '.join(allowed)}."
        )
    for flag in ("cache", "persist", *(("header",) if kind == "plots" else ())):
        if not isinstance(options.get(flag, False), bool):
            raise PipelineError(f"{site}: {flag} of {kind} entry {path!r} must be true or false.")
    for prop in _PLOT_PROPS if kind == "plots" else ():
        value = options.get(prop)
        if prop != "header" and value is not None and not isinstance(value, str):
            # DVC's PLOT_PROPS: a stage's plot takes one x and one y column; a mapping of
            # files to columns belongs to a top-level plot definition.
            raise PipelineError(
                f"{site.at(key_line(options, prop))}: plot option {prop!r} of {path} must be a "
                f"string (a column name), got {a_type(value)}. To plot columns of several "
                "files, use a top-level `plots:` definition."
            )
    return options


def top_plots(files: ProjectFiles, pf: PipelineFile, entries: list[Any]) -> list[Out]:
    """The top-level `plots` of file `pf`: data files, or plot ids mapped to properties."""
    site = Site(pf.path)
    plots: list[Out] = []
    for entry in entries:
        if not isinstance(entry, dict):
            plots.append(Out(path=files.path(pf.dir, entry, site, "plots"), kind="plots"))
            continue
        for plot_id, props in entry.items():
            props = {} if props is None else props
            if not isinstance(props, dict):
                raise PipelineError(f"{site}: plot {plot_id!r} must map to its properties.")
            check_keys(
                props, _TOP_PLOT_PROPS, site.at(key_line(entry, plot_id)), "plot", config=False
            )
            props = dict(props)
            # DVC 3: with `y: {file: field}` the id is only a name and the files are the keys
            # of x and y; otherwise the id is the data file (dvc/repo/plots, _id_is_path).
            for axis in ("x", "y"):
                if isinstance(props.get(axis), dict):
                    props[axis] = {
                        files.path(pf.dir, f, site, "plots"): v for f, v in props[axis].items()
                    }
            is_path = not isinstance(props.get("y"), dict)
            path = files.path(pf.dir, plot_id, site, "plots") if is_path else str(plot_id)
            options = tuple(sorted((k, canonical_json(v)) for k, v in props.items()))
            plots.append(Out(path=path, kind="plots", options=options))
    return plots
