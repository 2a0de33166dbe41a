"""DVC's `${...}` interpolation, with a record of which file each used value came from.

[pure] Follows dvc/parsing/interpolate.py and dvc/parsing/context.py (DVC 3):
- `${a.b}`, `${a[0]}` and `${a.0}` select nested values; `\\${` escapes a literal `${`.
- A string that is exactly one `${x}` keeps the value's type (`foreach: ${models}`).
- Inside a longer string, a value is converted the way DVC's `to_str` does: booleans become
  `true`/`false`, None becomes `None`, numbers use Python's `str`; a dict in `cmd` is unpacked
  into `--key value` arguments (strings shell-quoted, `true` -> `--key`, `false` -> nothing,
  lists -> `--key a b`); a list (or a dict outside `cmd`) is an error.
- Vars merge recursively; redefining a value that another source set is an error.
- `foreach` and `matrix` members are named as DVC names them (`stage@value`, `stage@0`,
  `stage@key`, `build@py3.10-linux`, `{name}{index}` for composite matrix values).

Every value selected from a vars or params *file* is reported back as a `Var`, so the parser
can add it to the stage's params (DVC keeps these as the stage's `tracked_vars`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

from ci_ml.errors import PipelineError, did_you_mean
from ci_ml.params import LineDict

# Same pattern as DVC's KEYCRE: a `${` not preceded by a backslash, up to the first `}`.
_PATTERN = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
_EXPR = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*")
_PRIMITIVES = (str, int, float, bool)
_log = logging.getLogger("ci_ml")


class Var(NamedTuple):
    """A value and where it came from: `source` is the project-relative file it was read
    from (None for inline vars and literals) and `key` its dotted path in that file.

    A NamedTuple rather than a frozen dataclass: one is made per interpolation, and a
    10,000-stage pipeline makes 10^5 of them.
    """

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
    # Lookups, memoised: thousands of stages share one context's layers (foreach members share
    # them too) and read the same few names; a member reads its own `item` several times.
    memo: dict[tuple[str, ...], tuple[Any, list[Var]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    bound_memo: dict[tuple[str, ...], tuple[Any, list[Var]]] = field(
        default_factory=dict, compare=False, repr=False
    )

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
                raise ValueError(
                    f"{layer.label} redefines {name!r}, which foreach/matrix sets. Rename it"
                )
        for old in self.layers:
            _check_merge(old, layer, old.data, layer.data, "")
        return Context(layers=(*self.layers, layer), bound=self.bound, imports=self.imports)

    def with_file(
        self, path: str, data: Mapping[str, Any], keys: tuple[str, ...] | None, entry: str
    ) -> Context:
        """This context plus a vars file (`keys` None: all of it); raises ValueError.

        DVC's rules (dvc/parsing/context.py, `check_loaded`): a whole file may be listed
        again (params.yaml is loaded by default, and often listed too), but a file may not
        be loaded both whole and in part, nor the same key twice.
        """
        before = self.imports.get(path, ())
        if path in self.imports:
            if keys is None and before is None:
                return self
            if keys is None or before is None or set(keys) & set(before):
                raise ValueError(
                    f"vars entry {entry!r} loads {path} again, overlapping what is already "
                    "loaded from it. Load the whole file once, or disjoint keys"
                )
        if keys is not None:
            for key in keys:
                if key not in data:
                    raise ValueError(
                        f"vars entry {entry!r}: {path} has no top-level key {key!r}"
                        f"{did_you_mean(key, map(str, data))}. Fix the key list"
                    )
            data = {key: data[key] for key in keys}
        merged = self.with_layer(Layer(path, path, data))
        imported = None if keys is None else (*(before or ()), *keys)
        return Context(merged.layers, merged.bound, {**self.imports, path: imported})

    def with_bound(self, bound: Mapping[str, Bound]) -> Context:
        bound = {**self.bound, **bound}
        return Context(layers=self.layers, bound=bound, imports=self.imports, memo=self.memo)

    def select(self, parts: tuple[str, ...]) -> tuple[Any, list[Var]]:
        """The value at `parts` and the file-backed Vars it was built from.

        Raises _NotFound(index, choices) naming the first part that does not resolve.
        """
        memo = self.bound_memo if parts[0] in self.bound else self.memo
        found = memo.get(parts)
        if found is None:
            found = memo[parts] = self._select(parts)
        return found

    def _select(self, parts: tuple[str, ...]) -> tuple[Any, list[Var]]:
        bound = self.bound.get(parts[0])
        if bound is None:
            return self._select_layers(parts)
        if isinstance(bound, Var):
            piece = _descend(bound.source, bound.key, bound.value, parts, 1)
        elif len(parts) == 1:  # a whole matrix item: axis -> Var
            pieces = [v for v in bound.values() if v.source is not None]
            return {k: v.value for k, v in bound.items()}, pieces
        elif parts[1] in bound:
            axis = bound[parts[1]]
            piece = _descend(axis.source, axis.key, axis.value, parts, 2)
        else:
            raise _NotFound(1, list(bound))
        return piece.value, [piece] if piece.source is not None else []

    def _select_layers(self, parts: tuple[str, ...]) -> tuple[Any, list[Var]]:
        head = parts[0]
        layers = [layer for layer in self.layers if head in layer.data]
        if len(layers) == 1:  # the usual case: one source defines the name
            layer = layers[0]
            piece = _descend(layer.source, head, layer.data[head], parts, 1)
            return piece.value, [piece] if piece.source is not None else []
        if not layers:
            raise _NotFound(0, self.names())
        pieces: list[Var] = []
        missing: _NotFound | None = None
        for layer in layers:  # a mapping that several sources add keys to
            try:
                pieces.append(_descend(layer.source, head, layer.data[head], parts, 1))
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


def _descend(source: str | None, key: str, value: Any, parts: tuple[str, ...], start: int) -> Var:
    for index in range(start, len(parts)):
        part = parts[index]
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            choices = [str(k) for k in value] if isinstance(value, dict) else []
            raise _NotFound(index, choices)
        if source is not None:  # the key is only needed to track the value
            key = f"{key}.{part}"
    return Var(source, key, value)


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
            raise ValueError(
                f"cannot redefine {key!r} from {new.label} as {old.label} sets it. Rename one"
            )


def child_var(pieces: list[Var], child: str | int, value: Any) -> Var:
    """The origin of one element of a selected collection (a foreach item, a matrix value)."""
    for piece in pieces:
        container = piece.value
        if (isinstance(container, Mapping) and child in container) or (
            isinstance(container, list) and isinstance(child, int) and child < len(container)
        ):
            return Var(piece.source, f"{piece.key}.{child}", value)
    return Var(None, "", value)


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
        except _NotFound as exc:
            raise PipelineError(self._missing_message(expr, parts, exc)) from None
        if pieces:
            self.used.extend(pieces)
        return value

    def _missing_message(self, expr: str, parts: tuple[str, ...], exc: _NotFound) -> str:
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
        literals, exprs, exact = _template(text)
        if exact:
            return self._value(*exprs[0])
        out = literals[0]
        for index, (expr, parts) in enumerate(exprs):
            value = self._value(expr, parts)
            text = value if type(value) is str else self._to_str(expr, value)
            out = f"{out}{text}{literals[index + 1]}"
        return out

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
            f"{self.where}: cannot interpolate ${{{inner}}} in {self.field_name!r}: it is a "
            f"{type(value).__name__}, and only strings, numbers, booleans (and dicts in cmd) "
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


# --- foreach and matrix ----------------------------------------------------------------------

Members = list[tuple[str, dict[str, Bound]]]  # (name suffix after `@`, the bound item/key)


def foreach_members(ctx: Context, data: Any, where: object) -> Members:
    """The members of `foreach: data`, named as DVC names them (dvc/parsing/__init__.py,
    ForeachDefinition.normalized_iterable)."""
    value, origins = _elements(ctx, data, where, "foreach")
    if isinstance(value, Mapping):
        _warn_taken(ctx, ("item", "key"), where)
        by_key = {to_str(k): var for k, var in zip(value, origins, strict=True)}
        return [(k, {"item": var, "key": Var(None, "", k)}) for k, var in by_key.items()]
    if not isinstance(value, list):
        raise PipelineError(
            f"{where}: foreach needs a list or a mapping, got {type(value).__name__} "
            f"({value!r}). Point it at a list or mapping in params.yaml or vars."
        )
    _warn_taken(ctx, ("item",), where)
    # A list of plain values names its members by value, a list holding lists or mappings by
    # index; equal values collapse into one member, as in DVC.
    composite = any(isinstance(item, (Mapping, list)) for item in value)
    named = {str(i) if composite else to_str(var.value): var for i, var in enumerate(origins)}
    return [(suffix, {"item": var}) for suffix, var in named.items()]


def matrix_members(ctx: Context, data: Any, where: object) -> Members:
    """The members of `matrix: data`: every combination, `item` mapping each name to a value
    and `key` the joined suffix (MatrixDefinition.normalized_iterable)."""
    if not isinstance(data, Mapping):
        raise PipelineError(f"{where}: matrix must be a mapping of name to a list of values.")
    _warn_taken(ctx, ("item", "key"), where)
    axes: dict[str, list[Var]] = {}
    for axis, values in data.items():
        value, origins = _elements(ctx, values, where, "matrix")
        if not isinstance(value, list):
            raise PipelineError(
                f"{where}: matrix entry {axis!r} must be a list, got {type(value).__name__}."
            )
        axes[str(axis)] = origins
    # Combinations that print alike (0.1 and 0.10) collapse into one member, as in DVC.
    members: dict[str, dict[str, Bound]] = {}
    for combo in itertools.product(*(list(enumerate(v)) for v in axes.values())):
        parts = [
            f"{axis}{i}" if isinstance(var.value, (Mapping, list)) else to_str(var.value)
            for axis, (i, var) in zip(axes, combo, strict=True)
        ]
        item = {axis: var for axis, (_, var) in zip(axes, combo, strict=True)}
        suffix = "-".join(parts)
        members[suffix] = {"item": item, "key": Var(None, "", suffix)}
    return list(members.items())


def _elements(ctx: Context, data: Any, where: object, field_name: str) -> tuple[Any, list[Var]]:
    """Resolve a foreach/matrix collection; return it and the origin of each element, so that
    `${item.lr}` is tracked back to the file the collection came from, as DVC does."""
    resolver = Resolver(ctx, where, field_name)
    expr = exact_expr(data) if isinstance(data, str) else None
    if expr is not None:
        value = resolver.select(expr)
        if isinstance(value, Mapping):
            return value, [child_var(resolver.used, k, v) for k, v in value.items()]
        if isinstance(value, list):
            return value, [child_var(resolver.used, i, v) for i, v in enumerate(value)]
        return value, []
    if isinstance(data, Mapping):
        items = {resolver.resolve(k): _element(ctx, v, where, field_name) for k, v in data.items()}
        return {k: var.value for k, var in items.items()}, list(items.values())
    if isinstance(data, list):
        elements = [_element(ctx, v, where, field_name) for v in data]
        return [var.value for var in elements], elements
    return resolver.resolve(data), []


def _element(ctx: Context, data: Any, where: object, field_name: str) -> Var:
    resolver = Resolver(ctx, where, field_name)
    value = resolver.resolve(data)
    exact = isinstance(data, str) and exact_expr(data) is not None
    return resolver.used[0] if exact and len(resolver.used) == 1 else Var(None, "", value)


def _warn_taken(ctx: Context, names: tuple[str, ...], where: object) -> None:
    taken = [name for name in names if ctx.has(name)]
    if taken:
        _log.warning(
            "%s: %s already defined; stages generated here see the foreach/matrix value instead",
            where,
            " and ".join(taken),
        )
