"""Pipeline files (every dvc.yaml, or ci-ml.yaml) plus params files -> a Pipeline. [pure]

The caller passes `read(path) -> text | None` for project-relative POSIX paths, backed by the
working tree or by git objects; nothing here touches the filesystem. Semantics follow DVC 3
(dvc/parsing/__init__.py, dvc/schema.py, dvc/dependency/__init__.py), with these choices:
paths are normalised (`./src` == `src`), absolute paths and URLs are errors, and values a stage
interpolates from a vars/params file become that stage's params, so a plan can say
"param train.lr changed" (DVC only records them as the stage's `tracked_vars`).
"""

from __future__ import annotations

import gc
import logging
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
    Context,
    Layer,
    Resolver,
    Var,
    foreach_members,
    has_interpolation,
    matrix_members,
    to_str,
)
from ci_ml.pipeline.model import Out, OutKind, Param, Pipeline, Stage

_log = logging.getLogger("ci_ml")

CONFIG_FILE = "ci-ml.yaml"
DEFAULT_PARAMS = "params.yaml"
_TOP_KEYS = ("stages", "vars", "params", "metrics", "plots")
_IGNORED_TOP_KEYS = ("artifacts", "datasets")  # DVC's, of no use to ci-ml: warned about
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
_OUT_KINDS: tuple[OutKind, ...] = ("outs", "metrics", "plots")
_RESOLVED_KEYS = ("cmd", *_OUT_KINDS, "deps", "params", "frozen", "always_changed", "desc")
_NOT_LOCAL = re.compile(r"/|[A-Za-z][A-Za-z0-9+.-]*://|[A-Za-z]:[\\/]")


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
        return _Site(self.file, line or self.line, self.stage)


@dataclass(frozen=True, slots=True)
class _PipelineFile:
    path: str  # project-relative: `dvc.yaml`, `sub/dvc.yaml`
    dir: str  # its directory, `.` at the root
    prefix: str  # `` at the root, `sub/dvc.yaml:` below it
    is_config: bool  # ci-ml.yaml, which may also hold ci-ml's own settings
    stage_keys: frozenset[str]


class _Files:
    """What one parse reads and derives, each computed once: DVC re-reads params.yaml for
    every stage, which is what makes a 10,000-stage pipeline slow."""

    def __init__(self, read: Callable[[str], str | None]) -> None:
        self.read = read
        self.used: set[str] = set()
        self._params: dict[str, dict[str, Any] | None] = {}
        self._values: dict[tuple[str, str | None], Param] = {}
        self._paths: dict[tuple[str, str], str] = {}

    def params(self, path: str) -> dict[str, Any] | None:
        """A params or vars file's mapping, or None if it does not exist."""
        if path not in self._params:
            text = self.read(path)
            self._params[path] = None if text is None else parse_params_text(path, text)
        found = self._params[path]
        if found is not None:
            self.used.add(path)
        return found

    def param(self, path: str, key: str | None, site: _Site) -> Param:
        """`key` of params file `path` (None: the whole file), its value as canonical JSON."""
        param = self._values.get((path, key))
        if param is None:
            data = self.params(path)
            if data is None:
                raise PipelineError(
                    f"{site}: params file {path} does not exist. Create it or fix the stage's "
                    "params list."
                )
            value = _param_value(data, path, key, site)
            param = self._values[path, key] = Param(file=path, key=key, value=value)
        return param

    def tracked(self, source: str, key: str, value: Any) -> Param:
        """A value a stage interpolated from file `source`, as a Param of that file."""
        param = self._values.get((source, key))
        if param is None:
            param = Param(file=source, key=key, value=canonical_json(value))
            self._values[source, key] = param
        return param

    def path(self, base: str, path: object, site: _Site, field: str) -> str:
        """`path` (relative to `base`) relative to the project root, normalised."""
        if not isinstance(path, str):
            return _project_path(base, path, site, field)  # raises
        found = self._paths.get((base, path))
        if found is None:
            found = self._paths[base, path] = _project_path(base, path, site, field)
        return found


def parse_pipeline(read: Callable[[str], str | None], pipeline_files: Sequence[str]) -> Pipeline:
    """Parse every pipeline file into one Pipeline; raises PipelineError naming file and stage."""
    # A big pipeline makes 10^6 small objects, none of them cyclic garbage; the cyclic GC
    # would walk them again and again while they pile up (a quarter of a 10,000-stage parse).
    paused = gc.isenabled()
    gc.disable()
    try:
        return _parse(read, pipeline_files)
    finally:
        if paused:
            gc.enable()


def _parse(read: Callable[[str], str | None], pipeline_files: Sequence[str]) -> Pipeline:
    files = _Files(read)
    stages: dict[str, Stage] = {}
    metrics: list[str] = []
    plots: list[Out] = []
    top_params: list[str] = []
    for path in sorted({posixpath.normpath(p) for p in pipeline_files}):
        pf = _pipeline_file(path)
        doc = _load_document(files, pf)
        ctx = _with_vars(files, _default_context(files, pf), doc.get("vars"), pf.dir, _Site(path))
        for stage in _stages(files, pf, ctx, doc.get("stages")):
            if stage.name in stages:
                other = stages[stage.name]
                raise PipelineError(
                    f"{_Site(path, stage.line)}: stage {stage.name!r} is defined twice (also "
                    f"at {other.source}:{other.line}). Rename one of them."
                )
            stages[stage.name] = stage
        top = Resolver(ctx, _Site(path), "")
        site = _Site(path)
        metrics += [files.path(pf.dir, m, site, "metrics") for m in _list(top, doc, "metrics")]
        top_params += [files.path(pf.dir, p, site, "params") for p in _list(top, doc, "params")]
        plots += _top_plots(files, pf, _list(top, doc, "plots"))
    return Pipeline(
        stages=tuple(stages[name] for name in sorted(stages)),
        metrics=tuple(dict.fromkeys(metrics)),
        plots=tuple(plots),
        params_files=tuple(sorted(files.used.union(top_params))),
    )


def _pipeline_file(path: str) -> _PipelineFile:
    is_config = posixpath.basename(path) == CONFIG_FILE
    return _PipelineFile(
        path=path,
        dir=posixpath.dirname(path) or ".",
        prefix="" if path in ("dvc.yaml", CONFIG_FILE) else f"{path}:",
        is_config=is_config,
        stage_keys=frozenset((*_STAGE_KEYS, *(_CONFIG_STAGE_KEYS if is_config else ()))),
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
    allowed = (*_TOP_KEYS, *_IGNORED_TOP_KEYS, *(_CONFIG_TOP_KEYS if pf.is_config else ()))
    for key in doc:
        if key in _IGNORED_TOP_KEYS:
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
    path = posixpath.normpath(posixpath.join(pf.dir, DEFAULT_PARAMS))
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
        build = _StageBuilder(files, pf, name)
        if "foreach" in definition or "do" in definition:
            _check_keys(definition, ("foreach", "do"), site, "foreach stage", config=pf.is_config)
            template = definition.get("do")
            if "foreach" not in definition or not isinstance(template, dict):
                raise PipelineError(
                    f"{site}: `foreach` needs `do` with a stage definition, and `do` `foreach`."
                )
            for suffix, bound in foreach_members(ctx, definition["foreach"], site):
                yield build(ctx.with_bound(bound), f"{name}@{suffix}", template, site)
        elif "matrix" in definition:
            template = {k: v for k, v in definition.items() if k != "matrix"}
            for suffix, bound in matrix_members(ctx, definition["matrix"], site):
                yield build(ctx.with_bound(bound), f"{name}@{suffix}", template, site)
        else:
            yield build(ctx, name, definition, site)


def _is_settings_only(definition: Any) -> bool:
    return definition is None or (
        isinstance(definition, dict) and set(definition) <= set(_CONFIG_STAGE_KEYS)
    )


def _check_keys(
    mapping: Mapping[Any, Any], allowed: Sequence[str], site: _Site, what: str, *, config: bool
) -> None:
    """Raise on the first key not `allowed`; `config`: also allow ci-ml's stage settings."""
    allowed = (*allowed, *(_CONFIG_STAGE_KEYS if config else ()))
    for key in mapping:
        if key in allowed:
            continue
        hint = f"A {what} takes {', '.join(allowed)}."
        if key in _CONFIG_STAGE_KEYS and what.endswith("stage"):
            hint = f"ci-ml's stage settings go in {CONFIG_FILE} under `stages:`, not in dvc.yaml."
        raise PipelineError(
            f"{site.at(key_line(mapping, key))}: unknown key {key!r}"
            f"{did_you_mean(str(key), allowed)}. {hint}"
        )


class _StageBuilder:
    """Builds the Stage for one definition (or one foreach/matrix member) of one file."""

    def __init__(self, files: _Files, pf: _PipelineFile, group: str) -> None:
        self.files = files
        self.pf = pf
        self.group = f"{pf.prefix}{group}"

    def __call__(self, ctx: Context, name: str, raw: dict[str, Any], group_site: _Site) -> Stage:
        site = _Site(self.pf.path, group_site.line, name)
        if not raw.keys() <= self.pf.stage_keys:
            _check_keys(raw, _STAGE_KEYS, site, "stage", config=self.pf.is_config)
        if raw.get("cmd") is None:
            raise PipelineError(f"{site}: stage has no `cmd`. Add the command that it runs.")
        resolver = Resolver(ctx, site, "wdir")
        stage_dir = self.pf.dir
        if raw.get("wdir"):
            wdir = _text(resolver.resolve(raw["wdir"]), site, "wdir")
            stage_dir = self.files.path(self.pf.dir, wdir, site, "wdir")
        if raw.get("vars") is not None:
            resolver.context = _with_vars(self.files, ctx, raw["vars"], stage_dir, site)
        # Every field first: the params come last, from all that the stage interpolated.
        values = {key: resolver.resolve_field(key, raw.get(key)) for key in _RESOLVED_KEYS}
        deps = _entries(values["deps"], site, "deps")
        return Stage(
            name=f"{self.pf.prefix}{name}",
            group=self.group,
            source=self.pf.path,
            line=site.line,
            cmd=_cmd(values["cmd"], site),
            cmd_template=_cmd(raw["cmd"], site),
            wdir=stage_dir,
            deps=tuple(dict.fromkeys(self.files.path(stage_dir, d, site, "deps") for d in deps)),
            params=self._params(values["params"], resolver.used, stage_dir, site),
            outs=tuple(
                out
                for kind in _OUT_KINDS
                for out in _outs(self.files, kind, values[kind], stage_dir, site)
            ),
            frozen=_flag(values["frozen"], site, "frozen"),
            always_changed=_flag(values["always_changed"], site, "always_changed"),
            desc=_text(values["desc"] or "", site, "desc"),
        )

    def _params(self, entries: Any, used: list[Var], base: str, site: _Site) -> tuple[Param, ...]:
        wanted = _wanted_params(self.files, _entries(entries, site, "params"), base, site)
        found = {
            (path, key): self.files.param(path, key, site)
            for path, keys in wanted.items()
            for key in (keys if keys is not None else (None,))
        }
        for source, key, value in used:
            # A whole-file param already covers every value read from that file.
            if source is not None and wanted.get(source, ()) is not None:
                found[source, key] = self.files.tracked(source, key, value)
        return tuple(found[ref] for ref in sorted(found, key=lambda r: (r[0], r[1] or "")))


def _wanted_params(
    files: _Files, entries: list[Any], base: str, site: _Site
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


def _param_value(data: dict[str, Any], path: str, key: str | None, site: _Site) -> str:
    if key is None:
        return canonical_json(data)
    try:
        return canonical_json(lookup(data, key))
    except KeyError:
        raise PipelineError(
            f"{site}: reads param {key!r}, which {path} does not define"
            f"{did_you_mean(key, flat_keys(data))}. Add it to {path} or fix the stage's "
            "params list."
        ) from None


def _outs(files: _Files, kind: OutKind, entries: Any, base: str, site: _Site) -> list[Out]:
    outs: list[Out] = []
    for entry in _entries(entries, site, kind):
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


def _out_options(kind: OutKind, path: object, options: Any, site: _Site) -> Mapping[str, Any]:
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
    for flag in ("cache", "persist"):
        if not isinstance(options.get(flag, False), bool):
            raise PipelineError(f"{site}: {flag} of {kind} entry {path!r} must be true or false.")
    return options


def _top_plots(files: _Files, pf: _PipelineFile, entries: list[Any]) -> list[Out]:
    site = _Site(pf.path)
    plots: list[Out] = []
    for entry in entries:
        if not isinstance(entry, dict):
            plots.append(Out(path=files.path(pf.dir, entry, site, "plots"), kind="plots"))
            continue
        for plot_id, props in entry.items():
            props = {} if props is None else props
            if not isinstance(props, dict):
                raise PipelineError(f"{site}: plot {plot_id!r} must map to its properties.")
            _check_keys(
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


# --- small checks ----------------------------------------------------------------------------


def _project_path(base: str, path: object, site: _Site, field: str) -> str:
    if not isinstance(path, str) or not path:
        raise PipelineError(f"{site}: {field} entries must be non-empty paths, got {path!r}.")
    if _NOT_LOCAL.match(path):
        raise PipelineError(
            f"{site}: {field} entry {path!r} is not inside the project. ci-ml tracks files in "
            "the repository only: use a path relative to the stage's wdir."
        )
    return posixpath.normpath(posixpath.join(base, path))


def _list(resolver: Resolver, doc: Mapping[str, Any], key: str) -> list[Any]:
    return _entries(resolver.resolve_field(key, doc.get(key)), resolver.where, key)


def _entries(value: Any, site: object, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(f"{site}: `{field}` must be a list, got {type(value).__name__}.")
    return value


def _cmd(value: Any, site: _Site) -> tuple[str, ...]:
    """`cmd` as a tuple of commands; `${x}` alone may have given a number or a dict of args."""
    commands = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int, float, dict)) for v in commands):
        raise PipelineError(f"{site}: cmd must be a string or a list of strings.")
    return tuple(v if isinstance(v, str) else to_str(v) for v in commands)


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
