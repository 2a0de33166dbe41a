"""DVC's `${...}` interpolation, with a record of which file each used value came from.

[pure] Follows dvc/parsing/interpolate.py and dvc/parsing/context.py (DVC 3):
- `${a.b}`, `${a[0]}` and `${a.0}` select nested values; `\\${` escapes a literal `${`.
- A string that is exactly one `${x}` keeps the value's type (`foreach: ${models}`).
- Inside a longer string, a value is converted the way DVC's `to_str` does: booleans become
  `true`/`false`, None becomes `None`, numbers use Python's `str`; a dict in `cmd` is unpacked
  into `--key value` arguments (strings shell-quoted, `true` -> `--key`, `false` -> nothing,
  lists -> `--key a b`); a list (or a dict outside `cmd`) is an error.
- Vars merge recursively; redefining a value that another source set is an error.

Every value selected from a vars or params *file* is reported back as a `Var`, so the parser
can add it to the stage's params (DVC keeps these as the stage's `tracked_vars`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ci_ml.errors import PipelineError, did_you_mean

# Same pattern as DVC's KEYCRE: a `${` not preceded by a backslash, up to the first `}`.
_PATTERN = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
_EXPR = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*")
_PRIMITIVES = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class Var:
    """A value and where it came from: `source` is the project-relative file it was read
    from (None for inline vars and literals) and `key` its dotted path in that file."""

    source: str | None
    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class Layer:
    """One vars source: a file (`source` set) or an inline mapping. `label` names it in errors."""

    source: str | None
    label: str
    data: Mapping[str, Any]


# `item` and `key` of foreach/matrix stages. A matrix `item` maps each axis to its own Var,
# since each axis may come from a different file.
Bound: TypeAlias = Var | Mapping[str, Var]


@dataclass(frozen=True, slots=True)
class Context:
    """The names a stage can interpolate: vars layers plus the bound `item`/`key`."""

    layers: tuple[Layer, ...] = ()
    bound: Mapping[str, Bound] = field(default_factory=dict)
    # Vars files loaded so far: path -> None (whole file) or the keys loaded, as DVC tracks
    # them to allow `vars: [params.yaml]` beside the default while rejecting overlaps.
    imports: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every top-level name, sorted."""
        found = {name for layer in self.layers for name in layer.data} | set(self.bound)
        return sorted(str(name) for name in found)

    def has(self, name: str) -> bool:
        return name in self.bound or any(name in layer.data for layer in self.layers)

    def with_layer(self, layer: Layer) -> Context:
        """This context plus `layer`; raises ValueError on a redefinition, as DVC's merge does."""
        for name in layer.data:
            if name in self.bound:
                raise ValueError(f"{layer.label} redefines {name!r}, which foreach/matrix sets")
        for old in self.layers:
            _check_merge(old, layer, old.data, layer.data, "")
        return Context(layers=(*self.layers, layer), bound=self.bound, imports=self.imports)

    def with_import(self, path: str, keys: tuple[str, ...] | None) -> Context:
        return Context(layers=self.layers, bound=self.bound, imports={**self.imports, path: keys})

    def with_bound(self, bound: Mapping[str, Bound]) -> Context:
        return Context(layers=self.layers, bound={**self.bound, **bound}, imports=self.imports)

    def select(self, parts: list[str]) -> tuple[Any, list[Var]]:
        """The value at `parts` and the file-backed Vars it was built from.

        Raises _NotFound(index, choices) naming the first part that does not resolve.
        """
        head = parts[0]
        bound = self.bound.get(head)
        if isinstance(bound, Var):
            piece = _descend(bound, parts, 1)
            return piece.value, [piece] if piece.source is not None else []
        if bound is not None:  # a matrix item: axis -> Var
            if len(parts) == 1:
                axes = list(bound.values())
                return {k: v.value for k, v in bound.items()}, [v for v in axes if v.source]
            if parts[1] not in bound:
                raise _NotFound(1, list(bound))
            piece = _descend(bound[parts[1]], parts, 2)
            return piece.value, [piece] if piece.source is not None else []
        layers = [layer for layer in self.layers if head in layer.data]
        if not layers:
            raise _NotFound(0, self.names())
        pieces: list[Var] = []
        missing: _NotFound | None = None
        for layer in layers:
            try:
                pieces.append(_descend(Var(layer.source, head, layer.data[head]), parts, 1))
            except _NotFound as exc:
                missing = exc if missing is None or exc.index > missing.index else missing
        if not pieces:
            assert missing is not None
            raise missing
        value = pieces[0].value if len(pieces) == 1 else _merged([p.value for p in pieces])
        return value, [piece for piece in pieces if piece.source is not None]


class _NotFound(Exception):
    def __init__(self, index: int, choices: list[str]) -> None:
        super().__init__(index)
        self.index = index
        self.choices = choices


def _descend(var: Var, parts: list[str], start: int) -> Var:
    value, key = var.value, var.key
    for index in range(start, len(parts)):
        part = parts[index]
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            choices = [str(k) for k in value] if isinstance(value, Mapping) else []
            raise _NotFound(index, choices)
        key = f"{key}.{part}"
    return Var(var.source, key, value)


def _merged(values: list[Any]) -> Any:
    # Only dicts can meet at one name: _check_merge rejects every other overlap.
    result: dict[str, Any] = {}
    for value in values:
        for name, child in value.items():
            result[name] = _merged([result[name], child]) if name in result else child
    return result


def _check_merge(old: Layer, new: Layer, into: Mapping[str, Any], update: Any, path: str) -> None:
    for name, value in update.items():
        if name not in into:
            continue
        key = f"{path}{name}"
        if isinstance(into[name], Mapping) and isinstance(value, Mapping):
            _check_merge(old, new, into[name], value, key + ".")
        else:
            raise ValueError(f"cannot redefine {key!r} from {new.label} as {old.label} sets it")


def child_var(pieces: list[Var], child: str | int, value: Any) -> Var:
    """The origin of one element of a selected collection (a foreach item, a matrix value)."""
    for piece in pieces:
        container = piece.value
        if (isinstance(container, Mapping) and child in container) or (
            isinstance(container, list) and isinstance(child, int) and child < len(container)
        ):
            return Var(piece.source, f"{piece.key}.{child}", value)
    return Var(None, "", value)


def parse_expr(expr: str) -> list[str] | None:
    """`a.b[0]` -> ['a', 'b', '0'] (DVC's grammar: words joined by `.` or `[...]`), or None."""
    if not _EXPR.fullmatch(expr.strip()):
        return None
    parts = [part.strip() for part in expr.replace("[", ".").replace("]", "").split(".")]
    return parts if all(parts) else None


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
    where: str
    field_name: str
    used: list[Var] = field(default_factory=list)

    def resolve(self, data: Any) -> Any:
        """`data` with every `${...}` replaced; dict keys are resolved too, as in DVC."""
        if isinstance(data, str):
            return self._resolve_str(data) if "${" in data else data
        if isinstance(data, dict):
            return {self.resolve(k): self.resolve(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.resolve(item) for item in data]
        return data

    def select(self, expr: str) -> Any:
        parts = parse_expr(expr)
        if parts is None:
            raise PipelineError(
                f"{self.where}: invalid interpolation ${{{expr}}} in {self.field_name!r}. Write "
                "${name}, ${name.key} or ${name[0]}."
            )
        try:
            value, pieces = self.context.select(parts)
        except _NotFound as exc:
            raise PipelineError(self._missing_message(expr, parts, exc)) from None
        self.used.extend(pieces)
        return value

    def _missing_message(self, expr: str, parts: list[str], exc: _NotFound) -> str:
        name = parts[exc.index]
        if exc.index == 0:
            known = ", ".join(exc.choices[:30]) or "none"
            what = f"{name!r} is not defined{did_you_mean(name, exc.choices)} (defined: {known})"
            fix = "Define it in params.yaml or under vars, or fix the name."
        else:
            parent = ".".join(parts[: exc.index])
            what = f"{parent!r} has no {name!r}{did_you_mean(name, exc.choices)}"
            fix = "Add the key or fix the expression."
        return f"{self.where}: cannot resolve ${{{expr}}} in {self.field_name!r}: {what}. {fix}"

    def _resolve_str(self, text: str) -> Any:
        matches = list(_PATTERN.finditer(text))
        if not matches:
            return text.replace("\\${", "${")
        if len(matches) == 1 and matches[0].group(0) == text:
            return self.select(matches[0].group("inner"))
        out: list[str] = []
        pos = 0
        for match in matches:
            out.append(text[pos : match.start()].replace("\\${", "${"))
            value = self.select(match.group("inner"))
            out.append(self._to_str(match.group(0), value))
            pos = match.end()
        out.append(text[pos:].replace("\\${", "${"))
        return "".join(out)

    def _to_str(self, expr: str, value: Any) -> str:
        if value is None or isinstance(value, _PRIMITIVES):
            return to_str(value)
        if isinstance(value, Mapping) and self.field_name == "cmd":
            try:
                return unpack_args(value)
            except ValueError as exc:
                msg = f"{self.where}: cannot interpolate {expr} in cmd: {exc}."
                raise PipelineError(msg) from None
        raise PipelineError(
            f"{self.where}: cannot interpolate {expr} in {self.field_name!r}: it is a "
            f"{type(value).__name__}, and only strings, numbers, booleans (and dicts in cmd) "
            f"can be part of a string. Select one value, e.g. {expr[:-1]}.<key>}}."
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
