"""The files one parse reads, and what it derives from them: params files, params, paths. [pure]

`ProjectFiles` wraps the caller's `read(path) -> text | None` (project-relative POSIX paths,
backed by the working tree or by git objects). It parses each params or vars file once, gives
each referenced param its value as canonical JSON, and turns a stage's paths into normalised
project-relative ones, refusing URLs and absolute paths (but absolute outs: DVC plans them).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from ci_ml.errors import PipelineError, did_you_mean
from ci_ml.pipeline.model import Param
from ci_ml.pipeline.params import canonical_json, flat_keys, lookup, parse_params_text
from ci_ml.pipeline.schema import Site

_OUT_FIELDS = ("outs", "metrics", "plots")
_NOT_LOCAL = re.compile(r"/|[A-Za-z][A-Za-z0-9+.-]*://|[A-Za-z]:[\\/]")


class ProjectFiles:
    """What one parse reads and derives, each computed once: DVC re-reads params.yaml for
    every stage, which is what makes a 10,000-stage pipeline slow."""

    def __init__(self, read: Callable[[str], str | None]) -> None:
        self.read = read
        self.used: set[str] = set()
        self.missing: dict[str, Site] = {}  # params files a stage lists that do not exist
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

    def param(self, path: str, key: str | None, site: Site) -> Param:
        """`key` of params file `path` (None: the whole file), its value as canonical JSON."""
        param = self._values.get((path, key))
        if param is None:
            data = self.params(path)
            if data is None:
                # Maybe a stage writes it (an out): the parser decides once it knows every out.
                self.missing.setdefault(path, site)
                return Param(file=path, key=key, value="null")
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

    def path(self, base: str, path: object, site: Site, field: str) -> str:
        """`path` (relative to `base`) relative to the project root, normalised."""
        if not isinstance(path, str):
            return _project_path(base, path, site, field)  # raises
        found = self._paths.get((base, path))
        if found is None:
            if field in _OUT_FIELDS and path.startswith("/"):
                # An export to a shared path: planned, never cached (Stage.external_outs).
                found = posixpath.normpath(path)
            else:
                found = _project_path(base, path, site, field)
            self._paths[base, path] = found
        return found


def missing_params_error(path: str, site: Site) -> PipelineError:
    return PipelineError(
        f"{site}: params file {path} does not exist and no stage writes it. Create it or fix "
        "the stage's params list."
    )


def _param_value(data: dict[str, Any], path: str, key: str | None, site: Site) -> str:
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


def _project_path(base: str, path: object, site: Site, field: str) -> str:
    if not isinstance(path, str) or not path:
        raise PipelineError(f"{site}: {field} entries must be non-empty paths, got {path!r}.")
    if _NOT_LOCAL.match(path):
        raise PipelineError(
            f"{site}: {field} entry {path!r} is not inside the project. ci-ml tracks files in "
            "the repository only: use a path relative to the stage's wdir."
        )
    return posixpath.normpath(posixpath.join(base, path))
