"""DVC's `${...}` interpolation, with a record of which file each used value came from.

[pure] Follows dvc/parsing/interpolate.py (DVC 3):
- `${a.b}`, `${a[0]}` and `${a.0}` select nested values; `\\${` escapes a literal `${`.
- A string that is exactly one `${x}` keeps the value's type (`foreach: ${models}`).
- Inside a longer string, a value is converted the way DVC's `to_str` does: booleans become
  `true`/`false`, None becomes `None`, numbers use Python's `str`; a dict in `cmd` is unpacked
  into `--key value` arguments (strings shell-quoted, `true` -> `--key`, `false` -> nothing,
  lists -> `--key a b`); a list (or a dict outside `cmd`) is an error.

The names come from a `Context` (`context.py`); each file-backed value a `Resolver` uses is
collected as a `Var`, for the stage's params.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ci_ml.errors import PipelineError, did_you_mean
from ci_ml.pipeline.context import Context, SelectionNotFound, Var
from ci_ml.pipeline.schema import a_type
from ci_ml.yaml_schema import LineDict

# Same pattern as DVC's KEYCRE: a `${` not preceded by a backslash, up to the first `}`.
_PATTERN = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
_EXPR = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*")
_PRIMITIVES = (str, int, float, bool)


@functools.lru_cache(maxsize=4096)
def parse_expr(expr: str) -> tuple[str, ...] | None:
    """`a.b[0]` -> ("a", "b", "0") (DVC's grammar: words joined by `.` or `[...]`), or None."""
    if not _EXPR.fullmatch(expr.strip()):
        return None
    parts = tuple(part.strip() for part in expr.replace("[", ".").replace("]", "").split("."))
    return parts if all(parts) else None


class _Template(NamedTuple):
    """A string split at its `${...}`: `literals` around `exprs`, each with its parsed parts."""

    literals: tuple[str, ...]
    exprs: tuple[tuple[str, tuple[str, ...] | None], ...]
    exact: bool  # exactly one `${...}` and nothing else: the value keeps its type


@functools.lru_cache(maxsize=8192)
def _template(text: str) -> _Template:
    literals: list[str] = []
    exprs: list[tuple[str, tuple[str, ...] | None]] = []
    pos = 0
    for match in _PATTERN.finditer(text):
        # `\${` is not a match (the pattern looks behind for the backslash): unescape it.
        literals.append(text[pos : match.start()].replace("\\${", "${"))
        exprs.append((match.group("inner"), parse_expr(match.group("inner"))))
        pos = match.end()
    literals.append(text[pos:].replace("\\${", "${"))
    exact = len(exprs) == 1 and not literals[0] and not literals[1]
    return _Template(tuple(literals), tuple(exprs), exact)


def exact_expr(text: str) -> str | None:
    """The inner expression when `text` is exactly one `${...}`, else None."""
    match = _PATTERN.fullmatch(text)
    return match.group("inner") if match else None


def has_interpolation(text: str) -> bool:
    return "${" in text and _PATTERN.search(text) is not None


@dataclass(slots=True)
class Resolver:
    """Resolves the values of one stage field, collecting the file-backed Vars it used in
    `used`; `where` (file, line, stage) and `field_name` name the field in errors."""

    context: Context
    where: object  # formatted only when there is an error
    field_name: str
    used: list[Var] = field(default_factory=list)
    # Stage fields take only scalars from `${x}` (and a dict in cmd), as DVC's validate_value
    # rules; foreach, matrix and the top-level sections may select whole lists and mappings.
    scalars_only: bool = False

    def resolve_field(self, name: str, data: Any) -> Any:
        self.field_name = name
        return self.resolve(data)

    def resolve(self, data: Any) -> Any:
        """`data` with every `${...}` replaced; dict keys are resolved too, as in DVC."""
        if isinstance(data, str):
            return self._resolve_str(data) if "${" in data else data
        if isinstance(data, dict):
            return self._resolve_dict(data)
        if isinstance(data, list):
            return [self.resolve(item) for item in data]
        return data

    def _resolve_dict(self, data: dict[Any, Any]) -> LineDict:
        # A LineDict again, so that errors about its keys can still name their lines.
        lines = data.lines if isinstance(data, LineDict) else {}
        resolved = LineDict()
        for key, value in data.items():
            new_key = self._resolve_str(key) if isinstance(key, str) and "${" in key else key
            resolved[new_key] = self.resolve(value)
            if key in lines:
                resolved.lines[new_key] = lines[key]
        return resolved

    def select(self, expr: str) -> Any:
        return self._value(expr, parse_expr(expr))

    def _value(self, expr: str, parts: tuple[str, ...] | None) -> Any:
        if parts is None:
            raise PipelineError(
                f"{self.where}: invalid interpolation ${{{expr}}} in {self.field_name!r}. Write "
                "${name}, ${name.key} or ${name[0]}."
            )
        try:
            value, pieces = self.context.select(parts)
        except SelectionNotFound as exc:
            raise PipelineError(self._missing_message(expr, parts, exc)) from None
        if pieces:
            self.used.extend(pieces)
        return value

    def _missing_message(self, expr: str, parts: tuple[str, ...], exc: SelectionNotFound) -> str:
        name = parts[exc.index]
        if exc.index == 0:
            known = ", ".join(exc.choices[:30]) or "none"
            what = f"{name!r} is not defined{did_you_mean(name, exc.choices)} (defined: {known})"
            fix = "Define it in params.yaml or under vars, or fix the name."
        else:
            parent = ".".join(parts[: exc.index])
            # A mapping that several vars files add keys to: say which files were searched.
            merged = f" (merged from {', '.join(exc.sources)})" if len(exc.sources) > 1 else ""
            what = f"{parent!r}{merged} has no {name!r}{did_you_mean(name, exc.choices)}"
            fix = "Add the key or fix the expression."
        return f"{self.where}: cannot resolve ${{{expr}}} in {self.field_name!r}: {what}. {fix}"

    def _resolve_str(self, text: str) -> Any:
        literals, exprs, exact = _template(text)
        if exact:
            value = self._value(*exprs[0])
            is_args = isinstance(value, Mapping) and self.field_name == "cmd"
            if self.scalars_only and isinstance(value, (list, Mapping)) and not is_args:
                self._refuse_collection(exprs[0][0], value)
            return value
        out = literals[0]
        for index, (expr, parts) in enumerate(exprs):
            value = self._value(expr, parts)
            text = value if type(value) is str else self._to_str(expr, value)
            out = f"{out}{text}{literals[index + 1]}"
        return out

    def _refuse_collection(self, inner: str, value: Any) -> None:
        raise PipelineError(
            f"{self.where}: cannot interpolate ${{{inner}}} in {self.field_name!r}: it is "
            f"{a_type(value)}, and DVC fills a stage field only with a string, number or "
            f"boolean (and cmd with a dict of arguments). Write the entries out, or select one "
            f"value, e.g. ${{{inner}.0}}."
        )

    def _to_str(self, inner: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        if value is None or isinstance(value, _PRIMITIVES):
            return to_str(value)
        if isinstance(value, Mapping) and self.field_name == "cmd":
            try:
                return unpack_args(value)
            except ValueError as exc:
                msg = f"{self.where}: cannot interpolate ${{{inner}}} in cmd: {exc}."
                raise PipelineError(msg) from None
        raise PipelineError(
            f"{self.where}: cannot interpolate ${{{inner}}} in {self.field_name!r}: it is "
            f"{a_type(value)}, and only strings, numbers, booleans (and dicts in cmd) "
            f"can be part of a string. Select one value, e.g. ${{{inner}.<key>}}."
        )


def to_str(value: Any) -> str:
    """A scalar as DVC writes it into a string: `true`/`false` for booleans, else `str()`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return unpack_args(value)
    return str(value)


def unpack_args(mapping: Mapping[str, Any]) -> str:
    """A dict as command-line arguments, like DVC's `to_str` for dicts with the default
    `parsing` config (`bool: store_true`, `list: nargs`)."""
    args: list[str] = []
    for key, value in _flatten(mapping, ""):
        if isinstance(value, bool):
            if value:
                args.append(f"--{key}")
        elif isinstance(value, str):
            args.append(f"--{key} {shlex.quote(value)}")
        elif isinstance(value, (list, tuple)):
            items: list[str] = []
            for item in value:
                if isinstance(item, str):
                    items.append(shlex.quote(item))
                elif isinstance(item, (list, tuple, Mapping)):
                    raise ValueError(f"cannot interpolate a nested list in {key!r}")
                else:
                    items.append(str(item))  # DVC uses str() here: True stays `True`
            args.append(" ".join([f"--{key}", *items]) if items else "")
        else:
            args.append(f"--{key} {value}")
    return " ".join(arg for arg in args if arg)


def _flatten(mapping: Mapping[Any, Any], prefix: str) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items.extend(_flatten(value, name + "."))
        elif not isinstance(value, Mapping):
            items.append((name, value))
    return items
