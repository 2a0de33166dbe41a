"""Pipeline files (every dvc.yaml, or ci-ml.yaml) plus params files -> a Pipeline. [pure]

The caller passes `read(path) -> text | None` for project-relative POSIX paths, backed by the
working tree or by git objects; nothing here touches the filesystem. Semantics follow DVC 3
(dvc/parsing/__init__.py, dvc/schema.py, dvc/dependency/__init__.py), with these choices:
paths are normalised (`./src` == `src`), absolute paths and URLs are errors, and values a stage
interpolates from a vars/params file become that stage's params, so a plan can say
"param train.lr changed" (DVC only records them as the stage's `tracked_vars`).
"""

from __future__ import annotations

import itertools
import logging
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ci_ml.errors import PipelineError, did_you_mean
from ci_ml.params import (
    canonical_json,
    flat_keys,
    key_line,
    load_yaml_text,
    lookup,
    parse_params_text,
)
from ci_ml.pipeline.interpolate import (
    Bound,
    Context,
    Layer,
    Resolver,
    Var,
    child_var,
    exact_expr,
    has_interpolation,
    to_str,
)
from ci_ml.pipeline.model import Out, OutKind, Param, Pipeline, Stage

_log = logging.getLogger("ci_ml")

CONFIG_FILE = "ci-ml.yaml"
DEFAULT_PARAMS = "params.yaml"
_TOP_KEYS = ("stages", "vars", "params", "metrics", "plots")
_IGNORED_DVC_TOP_KEYS = ("artifacts", "datasets")
# ci-ml's own settings in ci-ml.yaml; config.py reads and checks them.
_CONFIG_TOP_KEYS = (
    *("base-branch", "cache", "runner", "gpu-runner", "defaults", "trust", "trusted-refs"),
    *("metric-gates", "report"),
)
_CONFIG_STAGE_KEYS = ("gpu", "runner", "timeout", "env")
_STAGE_KEYS = (
    *("cmd", "wdir", "deps", "params", "outs", "metrics", "plots", "frozen", "always_changed"),
    *("desc", "meta", "vars"),
)
_OUT_OPTIONS = ("cache", "persist", "checkpoint", "remote", "push", "desc", "type", "labels")
_PLOT_PROPS = ("template", "x", "y", "x_label", "y_label", "title", "header")
_TOP_PLOT_PROPS = ("template", "x", "y", "x_label", "y_label", "title")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[A-Za-z]:[\\/]")


@dataclass(frozen=True, slots=True)
class _Site:
    """Where a problem is, for messages: `dvc.yaml:12: stage 'train'`."""

    file: str
    line: int | None = None
    stage: str | None = None

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: stage {self.stage!r}" if self.stage is not None else loc

    def at(self, line: int | None) -> _Site:
        return replace(self, line=line or self.line)


class _Files:
    """The files one parse reads; each is read and parsed at most once (DVC re-reads
    params.yaml for every stage, which is what makes 10,000-stage pipelines slow)."""

    def __init__(self, read: Callable[[str], str | None]) -> None:
        self.read = read
        self.used: set[str] = set()
        self._params: dict[str, dict[str, Any] | None] = {}
        self._whole: dict[str, str] = {}

    def params(self, path: str) -> dict[str, Any] | None:
        if path not in self._params:
            text = self.read(path)
            self._params[path] = None if text is None else parse_params_text(path, text)
        found = self._params[path]
        if found is not None:
            self.used.add(path)
        return found

    def whole(self, path: str, data: dict[str, Any]) -> str:
        if path not in self._whole:
            self._whole[path] = canonical_json(data)
        return self._whole[path]


@dataclass(frozen=True, slots=True)
class _PipelineFile:
    path: str  # project-relative: `dvc.yaml`, `sub/dvc.yaml`
    dir: str  # its directory, `.` at the root
    prefix: str  # `` at the root, `sub/dvc.yaml:` below it
    is_config: bool  # ci-ml.yaml, which may also hold ci-ml's own settings


def parse_pipeline(read: Callable[[str], str | None], pipeline_files: Sequence[str]) -> Pipeline:
    """Parse every pipeline file into one Pipeline; raises PipelineError naming file and stage."""
    files = _Files(read)
    stages: dict[str, Stage] = {}
    metrics: list[str] = []
    plots: list[Out] = []
    top_params: set[str] = set()
    for path in sorted({posixpath.normpath(p) for p in pipeline_files}):
        pf = _pipeline_file(path)
        doc = _load_document(files, pf)
        ctx = _with_vars(files, _default_context(files, pf), doc.get("vars"), pf.dir, _Site(path))
        for stage in _stages(files, pf, ctx, doc.get("stages")):
            if stage.name in stages:
                other = stages[stage.name]
                raise PipelineError(
                    f"{_Site(path, stage.line, stage.name)}: stage {stage.name!r} is defined "
                    f"twice (also at {other.source}:{other.line}). Rename one of them."
                )
            stages[stage.name] = stage
        top = Resolver(ctx, str(_Site(path)), "metrics")
        metrics += [_path(pf.dir, m, _Site(path), "metrics") for m in _list(top, doc, "metrics")]
        top.field_name = "params"
        top_params |= {_path(pf.dir, p, _Site(path), "params") for p in _list(top, doc, "params")}
        top.field_name = "plots"
        plots += _top_plots(pf, _list(top, doc, "plots"))
    return Pipeline(
        stages=tuple(stages[name] for name in sorted(stages)),
        metrics=tuple(dict.fromkeys(metrics)),
        plots=tuple(plots),
        params_files=tuple(sorted(files.used | top_params)),
    )


def _pipeline_file(path: str) -> _PipelineFile:
    root = path in ("dvc.yaml", CONFIG_FILE)
    return _PipelineFile(
        path=path,
        dir=posixpath.dirname(path) or ".",
        prefix="" if root else f"{path}:",
        is_config=posixpath.basename(path) == CONFIG_FILE,
    )


def _load_document(files: _Files, pf: _PipelineFile) -> dict[str, Any]:
    text = files.read(pf.path)
    if text is None:
        raise PipelineError(f"{pf.path}: pipeline file not found. Create it or fix the path.")
    doc = load_yaml_text(pf.path, text)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PipelineError(
            f"{pf.path}: expected a mapping with `stages:` at the top, got {type(doc).__name__}."
        )
    allowed = (*_TOP_KEYS, *_IGNORED_DVC_TOP_KEYS, *(_CONFIG_TOP_KEYS if pf.is_config else ()))
    for key in doc:
        if key in _IGNORED_DVC_TOP_KEYS:
            _log.warning("%s: ignoring %r: ci-ml does not use DVC's %s", pf.path, key, key)
        elif key not in allowed:
            raise PipelineError(
                f"{_Site(pf.path, key_line(doc, key))}: unknown top-level key {key!r}"
                f"{did_you_mean(str(key), allowed)}. A pipeline file holds "
                f"{', '.join(_TOP_KEYS)}."
            )
    return doc


def _default_context(files: _Files, pf: _PipelineFile) -> Context:
    # Like DVC, params.yaml beside the pipeline file is the first vars source, when it exists.
    path = _join(pf.dir, DEFAULT_PARAMS)
    data = files.params(path)
    if data is None:
        return Context()
    return Context(layers=(Layer(path, path, data),), imports={path: None})


def _with_vars(files: _Files, ctx: Context, entries: Any, base: str, site: _Site) -> Context:
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
        if isinstance(entry, str):
            name, _, keys_text = entry.partition(":")
            keys = tuple(k for k in keys_text.split(",") if k) or None
            ctx = _import_vars(files, ctx, _path(base, name, site, "vars"), keys, entry, site)
        elif isinstance(entry, dict):
            label = f"{site.stage + ' ' if site.stage else ''}vars[{index}]"
            ctx = _merge(ctx, Layer(None, label, entry), site)
        else:
            raise PipelineError(f"{site}: vars[{index}] must be a file name or a mapping.")
    return ctx


def _import_vars(
    files: _Files, ctx: Context, path: str, keys: tuple[str, ...] | None, entry: str, site: _Site
) -> Context:
    # DVC's rules (dvc/parsing/context.py, check_loaded): a whole file may be listed again,
    # but a file may not be loaded both whole and in part, nor the same key twice.
    if path in ctx.imports:
        before = ctx.imports[path]
        if keys is None and before is None:
            return ctx
        if keys is None or before is None or set(keys) & set(before):
            raise PipelineError(
                f"{site}: vars entry {entry!r} loads {path} again, overlapping what is already "
                "loaded from it. Load the whole file once, or disjoint keys."
            )
    data = files.params(path)
    if data is None:
        raise PipelineError(f"{site}: vars file {path} does not exist. Create it or fix vars.")
    if keys is not None:
        for key in keys:
            if key not in data:
                raise PipelineError(
                    f"{site}: vars entry {entry!r}: {path} has no top-level key {key!r}"
                    f"{did_you_mean(key, map(str, data))}. Fix the key list."
                )
        data = {key: data[key] for key in keys}
    ctx = _merge(ctx, Layer(path, path, data), site)
    before = ctx.imports.get(path)
    return ctx.with_import(path, None if keys is None else (*(before or ()), *keys))


def _merge(ctx: Context, layer: Layer, site: _Site) -> Context:
    try:
        return ctx.with_layer(layer)
    except ValueError as exc:
        raise PipelineError(f"{site}: {exc}. Rename one of them.") from None


def _has_interpolation(data: Any) -> bool:
    if isinstance(data, str):
        return has_interpolation(data)
    if isinstance(data, dict):
        return any(_has_interpolation(k) or _has_interpolation(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_interpolation(item) for item in data)
    return False


# --- stages ----------------------------------------------------------------------------------


def _stages(files: _Files, pf: _PipelineFile, ctx: Context, doc: Any) -> Iterator[Stage]:
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise PipelineError(f"{pf.path}: `stages` must be a mapping of stage name to definition.")
    for raw_name, definition in doc.items():
        name = str(raw_name)
        site = _Site(pf.path, key_line(doc, raw_name), name)
        if pf.is_config and _is_settings_only(definition):
            continue  # ci-ml settings for a stage defined elsewhere: config.py's business
        if "@" in name or ":" in name:
            raise PipelineError(
                f"{site}: a stage name cannot contain '@' or ':' (they address generated and "
                "nested stages). Rename it."
            )
        if not isinstance(definition, dict):
            raise PipelineError(f"{site}: expected a mapping with at least `cmd`.")
        yield from _expand(files, pf, ctx, name, definition, site)


def _is_settings_only(definition: Any) -> bool:
    return definition is None or (
        isinstance(definition, dict) and set(definition) <= set(_CONFIG_STAGE_KEYS)
    )


def _expand(
    files: _Files,
    pf: _PipelineFile,
    ctx: Context,
    name: str,
    definition: dict[str, Any],
    site: _Site,
) -> Iterator[Stage]:
    build = _StageBuilder(files, pf, name)
    if "foreach" in definition or "do" in definition:
        _check_keys(definition, ("foreach", "do"), site, pf, "foreach stage")
        if "foreach" not in definition or "do" not in definition:
            raise PipelineError(f"{site}: `foreach` and `do` go together; add the missing one.")
        template = definition["do"]
        if not isinstance(template, dict):
            raise PipelineError(f"{site}: `do` must be a stage definition (a mapping).")
        for suffix, bound in _foreach(ctx, definition["foreach"], site):
            yield build(ctx.with_bound(bound), f"{name}@{suffix}", template, site)
    elif "matrix" in definition:
        template = {k: v for k, v in definition.items() if k != "matrix"}
        for suffix, bound in _matrix(ctx, definition["matrix"], site):
            yield build(ctx.with_bound(bound), f"{name}@{suffix}", template, site)
    else:
        yield build(ctx, name, definition, site)


def _elements(ctx: Context, data: Any, site: _Site, field: str) -> tuple[Any, list[Var]]:
    """Resolve a foreach/matrix collection; return it and the origin of each element, so that
    `${item.lr}` is tracked back to the file the collection came from, as DVC does."""
    resolver = Resolver(ctx, str(site), field)
    expr = exact_expr(data) if isinstance(data, str) else None
    if expr is not None:
        value = resolver.select(expr)
        if isinstance(value, Mapping):
            return value, [child_var(resolver.used, k, v) for k, v in value.items()]
        if isinstance(value, list):
            return value, [child_var(resolver.used, i, v) for i, v in enumerate(value)]
        return value, []
    if isinstance(data, dict):
        items = {resolver.resolve(k): _element(ctx, v, site, field) for k, v in data.items()}
        return {k: var.value for k, var in items.items()}, list(items.values())
    if isinstance(data, list):
        elements = [_element(ctx, v, site, field) for v in data]
        return [var.value for var in elements], elements
    return resolver.resolve(data), []


def _element(ctx: Context, data: Any, site: _Site, field: str) -> Var:
    resolver = Resolver(ctx, str(site), field)
    value = resolver.resolve(data)
    exact = isinstance(data, str) and exact_expr(data) is not None
    return resolver.used[0] if exact and len(resolver.used) == 1 else Var(None, "", value)


def _foreach(ctx: Context, data: Any, site: _Site) -> list[tuple[str, dict[str, Bound]]]:
    value, origins = _elements(ctx, data, site, "foreach")
    if isinstance(value, Mapping):
        _warn_reserved(ctx, ("item", "key"), site)
        return [
            (to_str(k), {"item": var, "key": Var(None, "", to_str(k))})
            for k, var in zip(value, origins, strict=True)
        ]
    if not isinstance(value, list):
        raise PipelineError(
            f"{site}: foreach needs a list or a mapping, got {type(value).__name__} "
            f"({value!r}). Point it at a list or mapping in params.yaml or vars."
        )
    _warn_reserved(ctx, ("item",), site)
    # Like DVC: a list of plain values names stages by value, a list holding lists or
    # mappings by index; equal values collapse into one stage.
    composite = any(isinstance(item, (Mapping, list)) for item in value)
    named = {str(i) if composite else to_str(var.value): var for i, var in enumerate(origins)}
    return [(suffix, {"item": var}) for suffix, var in named.items()]


def _matrix(ctx: Context, data: Any, site: _Site) -> list[tuple[str, dict[str, Bound]]]:
    if not isinstance(data, dict):
        raise PipelineError(f"{site}: matrix must be a mapping of name to a list of values.")
    _warn_reserved(ctx, ("item", "key"), site)
    axes: dict[str, list[Var]] = {}
    for axis, values in data.items():
        value, origins = _elements(ctx, values, site, "matrix")
        if not isinstance(value, list):
            raise PipelineError(
                f"{site}: matrix entry {axis!r} must be a list, got {type(value).__name__}."
            )
        axes[str(axis)] = origins
    combos: list[tuple[str, dict[str, Bound]]] = []
    for combo in itertools.product(*(list(enumerate(v)) for v in axes.values())):
        item = dict(zip(axes, (var for _, var in combo), strict=True))
        parts = [
            f"{axis}{i}" if isinstance(var.value, (Mapping, list)) else to_str(var.value)
            for axis, (i, var) in zip(axes, combo, strict=True)
        ]
        suffix = "-".join(parts)
        combos.append((suffix, {"item": item, "key": Var(None, "", suffix)}))
    return combos


def _warn_reserved(ctx: Context, names: tuple[str, ...], site: _Site) -> None:
    taken = [name for name in names if ctx.has(name)]
    if taken:
        _log.warning(
            "%s: %s already defined; stages generated from it see the foreach/matrix value",
            site,
            " and ".join(taken),
        )


def _check_keys(
    mapping: dict[Any, Any], allowed: Sequence[str], site: _Site, pf: _PipelineFile, what: str
) -> None:
    allowed = (*allowed, *(_CONFIG_STAGE_KEYS if pf.is_config else ()))
    for key in mapping:
        if key in allowed:
            continue
        hint = f"A {what} takes {', '.join(allowed)}."
        if key in _CONFIG_STAGE_KEYS:
            hint = f"ci-ml's stage settings go in {CONFIG_FILE} under `stages:`, not in dvc.yaml."
        raise PipelineError(
            f"{site.at(key_line(mapping, key))}: unknown key {key!r}"
            f"{did_you_mean(str(key), allowed)}. {hint}"
        )


def _join(base: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(base, path))


def _path(base: str, path: Any, site: _Site, field: str) -> str:
    if not isinstance(path, str) or not path:
        raise PipelineError(f"{site}: {field} entries must be non-empty paths, got {path!r}.")
    if path.startswith("/") or _URL.match(path):
        raise PipelineError(
            f"{site}: {field} entry {path!r} is not inside the project. ci-ml tracks files in "
            "the repository only: use a path relative to the stage's wdir."
        )
    return _join(base, path)


def _list(resolver: Resolver, doc: Mapping[str, Any], key: str) -> list[Any]:
    value = resolver.resolve(doc.get(key))
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(
            f"{resolver.where}: `{key}` must be a list, got {type(value).__name__}."
        )
    return value


def _outs(kind: OutKind, entries: list[Any], base: str, site: _Site) -> list[Out]:
    allowed = (*_OUT_OPTIONS, *(_PLOT_PROPS if kind == "plots" else ()))
    outs: list[Out] = []
    for entry in entries:
        if not isinstance(entry, dict):
            outs.append(Out(path=_path(base, entry, site, kind), kind=kind))
            continue
        for path, options in entry.items():
            options = {} if options is None else options
            if not isinstance(options, dict):
                raise PipelineError(f"{site}: options of {kind} entry {path!r} must be a mapping.")
            for key in options:
                if key not in allowed:
                    raise PipelineError(
                        f"{site.at(key_line(options, key))}: unknown option {key!r} of {kind} "
                        f"entry {path!r}{did_you_mean(str(key), allowed)}. Options: "
                        f"{', '.join(allowed)}."
                    )
            for flag in ("cache", "persist"):
                if not isinstance(options.get(flag, False), bool):
                    raise PipelineError(f"{site}: {flag} of {path!r} must be true or false.")
            props = sorted((k, canonical_json(v)) for k, v in options.items() if k in _PLOT_PROPS)
            outs.append(
                Out(
                    path=_path(base, path, site, kind),
                    kind=kind,
                    cache=options.get("cache", True),
                    persist=options.get("persist", False),
                    options=tuple(props),
                )
            )
    return outs


def _top_plots(pf: _PipelineFile, entries: list[Any]) -> list[Out]:
    site = _Site(pf.path)
    plots: list[Out] = []
    for entry in entries:
        if not isinstance(entry, dict):
            plots.append(Out(path=_path(pf.dir, entry, site, "plots"), kind="plots"))
            continue
        for plot_id, props in entry.items():
            props = {} if props is None else props
            if not isinstance(props, dict):
                raise PipelineError(f"{site}: plot {plot_id!r} must map to its properties.")
            _check_keys(props, _TOP_PLOT_PROPS, site.at(key_line(entry, plot_id)), pf, "plot")
            props = dict(props)
            # DVC 3: with `y: {file: field}` the id is only a name and the files are the keys
            # of x and y; otherwise the id is the data file (dvc/repo/plots, _id_is_path).
            is_path = not isinstance(props.get("y"), dict)
            for axis in ("x", "y"):
                if isinstance(props.get(axis), dict):
                    props[axis] = {
                        _path(pf.dir, f, site, "plots"): v for f, v in props[axis].items()
                    }
            path = _path(pf.dir, plot_id, site, "plots") if is_path else str(plot_id)
            options = tuple(sorted((k, canonical_json(v)) for k, v in props.items()))
            plots.append(Out(path=path, kind="plots", options=options))
    return plots


class _StageBuilder:
    """Builds the Stage for one definition (or one foreach/matrix member) of one file."""

    def __init__(self, files: _Files, pf: _PipelineFile, group: str) -> None:
        self.files = files
        self.pf = pf
        self.group = group

    def __call__(self, ctx: Context, name: str, raw: dict[str, Any], group_site: _Site) -> Stage:
        site = replace(group_site, stage=name)
        _check_keys(raw, _STAGE_KEYS, site, self.pf, "stage")
        if "cmd" not in raw:
            raise PipelineError(f"{site}: stage has no `cmd`. Add the command that it runs.")
        resolver = Resolver(ctx, str(site), "wdir")
        wdir = raw.get("wdir")
        if wdir:
            wdir = _path(self.pf.dir, _text(resolver.resolve(wdir), site, "wdir"), site, "wdir")
        stage_dir = wdir or self.pf.dir
        if raw.get("vars") is not None:
            resolver.context = _with_vars(self.files, ctx, raw["vars"], stage_dir, site)
        values: dict[str, Any] = {}
        for key in ("cmd", "deps", "params", "outs", "metrics", "plots", "frozen"):
            resolver.field_name = key
            values[key] = resolver.resolve(raw.get(key))
        for key in ("always_changed", "desc"):
            resolver.field_name = key
            values[key] = resolver.resolve(raw.get(key))
        outs = [
            out
            for kind in ("outs", "metrics", "plots")
            for out in _outs(kind, _entries(values[kind], site, kind), stage_dir, site)
        ]
        deps = [_path(stage_dir, d, site, "deps") for d in _entries(values["deps"], site, "deps")]
        return Stage(
            name=f"{self.pf.prefix}{name}",
            group=f"{self.pf.prefix}{self.group}",
            source=self.pf.path,
            line=site.line,
            cmd=_cmd(values["cmd"], site),
            cmd_template=_cmd(raw["cmd"], site),
            wdir=stage_dir,
            deps=tuple(dict.fromkeys(deps)),
            params=self._params(values["params"], resolver.used, stage_dir, site),
            outs=tuple(outs),
            frozen=_flag(values["frozen"], site, "frozen"),
            always_changed=_flag(values["always_changed"], site, "always_changed"),
            desc=_text(values["desc"] or "", site, "desc"),
        )

    def _params(self, entries: Any, used: list[Var], base: str, site: _Site) -> tuple[Param, ...]:
        wanted = _wanted_params(_entries(entries, site, "params"), base, site)
        found: dict[tuple[str, str | None], Param] = {}
        for path, keys in wanted.items():
            data = self.files.params(path)
            if data is None:
                raise PipelineError(
                    f"{site}: params file {path} does not exist. Create it or fix the stage's "
                    "params list."
                )
            if keys is None:
                found[path, None] = Param(file=path, key=None, value=self.files.whole(path, data))
            for key in keys or ():
                found[path, key] = Param(
                    file=path, key=key, value=_param_value(data, path, key, site)
                )
        for var in used:
            if var.source is not None and wanted.get(var.source, ()) is not None:
                found[var.source, var.key] = Param(
                    file=var.source, key=var.key, value=canonical_json(var.value)
                )
        return tuple(found[ref] for ref in sorted(found, key=lambda r: (r[0], r[1] or "")))


def _wanted_params(entries: list[Any], base: str, site: _Site) -> dict[str, list[str] | None]:
    """DVC's _merge_params: bare keys read params.yaml in the stage's wdir; `{file: null}`
    or `{file: []}` tracks a whole file, and then its listed keys are redundant."""
    default = _join(base, DEFAULT_PARAMS)
    whole = {
        _path(base, f, site, "params")
        for entry in entries
        if isinstance(entry, dict)
        for f, keys in entry.items()
        if not keys
    }
    wanted: dict[str, list[str] | None] = dict.fromkeys(whole)
    for entry in entries:
        pairs = [(default, [entry])] if isinstance(entry, str) else None
        if isinstance(entry, dict):
            pairs = [(_path(base, f, site, "params"), keys) for f, keys in entry.items()]
        if pairs is None:
            raise PipelineError(f"{site}: params entries are keys or {{file: [keys]}} mappings.")
        for path, keys in pairs:
            if path in whole:
                continue
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise PipelineError(f"{site}: params of {path} must be a list of keys.")
            listed = wanted.setdefault(path, [])
            assert listed is not None
            listed.extend(keys)
    return wanted


def _param_value(data: dict[str, Any], path: str, key: str, site: _Site) -> str:
    try:
        return canonical_json(lookup(data, key))
    except KeyError:
        raise PipelineError(
            f"{site}: reads param {key!r}, which {path} does not define"
            f"{did_you_mean(key, flat_keys(data))}. Add it to {path} or fix the stage's "
            "params list."
        ) from None


def _entries(value: Any, site: _Site, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(f"{site}: `{field}` must be a list, got {type(value).__name__}.")
    return value


def _cmd(value: Any, site: _Site) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(_text(to_str(v) if not isinstance(v, str) else v, site, "cmd") for v in value)
    if value is None or isinstance(value, (dict, bool, int, float, str)):
        return (to_str(value) if value is not None else "",)
    raise PipelineError(f"{site}: cmd must be a string or a list of strings.")


def _flag(value: Any, site: _Site, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PipelineError(f"{site}: {field} must be true or false, got {value!r}.")
    return value


def _text(value: Any, site: _Site, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PipelineError(f"{site}: {field} must be a string, got {value!r}.")
    return str(value)
