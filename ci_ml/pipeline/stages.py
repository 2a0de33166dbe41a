"""The `stages` of one pipeline file -> Stages, foreach and matrix definitions expanded. [pure]

Each definition (or each foreach/matrix member) is interpolated field by field, its paths made
project-relative from its wdir, and its params gathered last, from all that it interpolated.
Semantics follow DVC 3 (dvc/parsing/__init__.py, dvc/schema.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.pipeline.context import Context
from ci_ml.pipeline.expand import foreach_members, matrix_members
from ci_ml.pipeline.interpolate import Resolver, to_str
from ci_ml.pipeline.model import Stage
from ci_ml.pipeline.outputs import OUT_KINDS, stage_outs
from ci_ml.pipeline.params_refs import stage_params
from ci_ml.pipeline.project_files import ProjectFiles
from ci_ml.pipeline.schema import (
    CONFIG_STAGE_KEYS,
    STAGE_KEYS,
    PipelineFile,
    Site,
    check_keys,
    field_entries,
)
from ci_ml.pipeline.vars_context import with_vars
from ci_ml.yaml_schema import key_line

# The fields whose interpolated values become the stage's params. Not `desc`: DVC compares
# cmd, deps, outs and `params:`, so a value only a description shows changes nothing.
_RESOLVED_KEYS = ("cmd", *OUT_KINDS, "deps", "params", "frozen", "always_changed")


def file_stages(files: ProjectFiles, pf: PipelineFile, ctx: Context, doc: Any) -> Iterator[Stage]:
    """The Stages of file `pf`'s `stages` mapping (`doc`), in order; a foreach or matrix
    definition gives one per member. ci-ml.yaml entries holding only settings give none."""
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise PipelineError(f"{pf.path}: `stages` must be a mapping of stage name to definition.")
    for raw_name, definition in doc.items():
        if not isinstance(raw_name, str):
            raise PipelineError(
                f"{Site(pf.path, key_line(doc, raw_name))}: stage name {raw_name!r} must be a "
                f"string, as in DVC. Quote it ('{raw_name}':) or rename it."
            )
        name = raw_name
        site = Site(pf.path, key_line(doc, raw_name), name)
        if pf.is_config and _is_settings_only(definition):
            continue  # ci-ml settings for a stage defined elsewhere: ci_ml.config's business
        if "@" in name or ":" in name:
            raise PipelineError(
                f"{site}: a stage name cannot contain '@' or ':' (they address generated and "
                "nested stages). Rename it."
            )
        if not isinstance(definition, dict):
            raise PipelineError(f"{site}: expected a mapping with at least `cmd`.")
        build = _StageBuilder(files, pf, name)
        if "foreach" in definition or "do" in definition:
            check_keys(definition, ("foreach", "do"), site, "foreach stage", config=pf.is_config)
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
        isinstance(definition, dict) and set(definition) <= set(CONFIG_STAGE_KEYS)
    )


class _StageBuilder:
    """Builds the Stage for one definition (or one foreach/matrix member) of one file."""

    def __init__(self, files: ProjectFiles, pf: PipelineFile, group: str) -> None:
        self.files = files
        self.pf = pf
        self.group = f"{pf.prefix}{group}"

    def __call__(self, ctx: Context, name: str, raw: dict[str, Any], group_site: Site) -> Stage:
        site = Site(self.pf.path, group_site.line, name)
        if not raw.keys() <= self.pf.stage_keys:
            check_keys(raw, STAGE_KEYS, site, "stage", config=self.pf.is_config)
        if raw.get("cmd") is None:
            raise PipelineError(f"{site}: stage has no `cmd`. Add the command that it runs.")
        _check_raw_types(raw, site)
        resolver = Resolver(ctx, site, "wdir", scalars_only=True)
        stage_dir = self.pf.dir
        if raw.get("wdir"):
            wdir = _text(resolver.resolve(raw["wdir"]), site, "wdir")
            stage_dir = self.files.path(self.pf.dir, wdir, site, "wdir")
        if raw.get("vars") is not None:
            resolver.context = with_vars(self.files, ctx, raw["vars"], base=stage_dir, site=site)
        # Every field first: the params come last, from all that the stage interpolated.
        values = {key: resolver.resolve_field(key, raw.get(key)) for key in _RESOLVED_KEYS}
        desc = Resolver(resolver.context, site, "desc").resolve(raw.get("desc"))
        deps = field_entries(values["deps"], site, "deps")
        outs = tuple(
            out
            for kind in OUT_KINDS
            for out in stage_outs(self.files, kind, values[kind], base=stage_dir, site=site)
        )
        listed_params = field_entries(values["params"], site, "params")
        return Stage(
            name=f"{self.pf.prefix}{name}",
            group=self.group,
            source=self.pf.path,
            line=site.line,
            cmd=_cmd(values["cmd"], site),
            cmd_template=_cmd(raw["cmd"], site),
            wdir=stage_dir,
            deps=tuple(dict.fromkeys(self.files.path(stage_dir, d, site, "deps") for d in deps)),
            params=stage_params(
                self.files, values["params"], used=resolver.used, base=stage_dir, site=site
            ),
            outs=outs,
            frozen=_flag(values["frozen"], site, "frozen"),
            always_changed=_flag(values["always_changed"], site, "always_changed"),
            callback=not (deps or listed_params or outs),
            desc=_text(desc or "", site, "desc"),
        )


def _check_raw_types(raw: dict[str, Any], site: Site) -> None:
    """DVC checks a stage's shape before interpolating (dvc/schema.py, STAGE_DEFINITION):
    `frozen: ${x}` is a string, not a boolean, and `deps: ${x}` a string, not a list."""
    for key in ("frozen", "always_changed"):
        value = raw.get(key)
        if value is not None and not isinstance(value, bool):
            raise PipelineError(
                f"{site}: {key} must be true or false, got {value!r}. DVC does not "
                f"interpolate {key}: write true or false."
            )
    for key in ("deps", "params", *OUT_KINDS):
        value = raw.get(key)
        if isinstance(value, str):
            raise PipelineError(
                f"{site}: `{key}` must be a list, got the string {value!r}. DVC does not "
                "interpolate a whole list: write the entries out, one `${...}` each if needed."
            )


def _cmd(value: Any, site: Site) -> tuple[str, ...]:
    """`cmd` as a tuple of commands; `${x}` alone may have given a number or a dict of args."""
    commands = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int, float, dict)) for v in commands):
        raise PipelineError(f"{site}: cmd must be a string or a list of strings.")
    return tuple(v if isinstance(v, str) else to_str(v) for v in commands)


def _flag(value: Any, site: Site, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PipelineError(f"{site}: {field} must be true or false, got {value!r}.")
    return value


def _text(value: Any, site: Site, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PipelineError(f"{site}: {field} must be a string, got {value!r}.")
    return str(value)
