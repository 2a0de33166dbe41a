"""The names a stage can interpolate: vars layers, the bound foreach/matrix `item` and `key`.

[pure] Follows dvc/parsing/context.py (DVC 3):
- Vars merge recursively; redefining a value that another source set is an error.
- A vars file may be loaded whole more than once, but not whole and in part, nor a key twice.

Every value selected from a vars or params *file* is reported back as a `Var`, so the parser
can add it to the stage's params (DVC keeps these as the stage's `tracked_vars`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

from ci_ml.errors import did_you_mean


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

        Raises SelectionNotFound naming the first part that does not resolve.
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
            raise SelectionNotFound(1, list(bound))
        return piece.value, [piece] if piece.source is not None else []

    def _select_layers(self, parts: tuple[str, ...]) -> tuple[Any, list[Var]]:
        head = parts[0]
        layers = [layer for layer in self.layers if head in layer.data]
        if len(layers) == 1:  # the usual case: one source defines the name
            layer = layers[0]
            piece = _descend(layer.source, head, layer.data[head], parts, 1)
            return piece.value, [piece] if piece.source is not None else []
        if not layers:
            raise SelectionNotFound(0, self.names())
        pieces: list[Var] = []
        misses: list[tuple[Layer, SelectionNotFound]] = []
        for layer in layers:  # a mapping that several sources add keys to
            try:
                pieces.append(_descend(layer.source, head, layer.data[head], parts, 1))
            except SelectionNotFound as exc:
                misses.append((layer, exc))
        if not pieces:
            # Name every file the missing key was looked for in, with all their keys.
            deepest = max(exc.index for _, exc in misses)
            found = [(layer, exc) for layer, exc in misses if exc.index == deepest]
            raise SelectionNotFound(
                deepest,
                sorted({c for _, exc in found for c in exc.choices}),
                tuple(layer.label for layer, _ in found),
            )
        value = pieces[0].value if len(pieces) == 1 else _merged([p.value for p in pieces])
        return value, [piece for piece in pieces if piece.source is not None]


class SelectionNotFound(Exception):
    """Raised by `Context.select`: part `index` of the expression does not resolve, and
    `choices` are the names that would; `sources` the vars files searched, when
    several define the parent."""

    def __init__(self, index: int, choices: list[str], sources: tuple[str, ...] = ()) -> None:
        super().__init__(index)
        self.index = index
        self.choices = choices
        self.sources = sources  # the vars sources searched, when several define the parent


def _descend(source: str | None, key: str, value: Any, parts: tuple[str, ...], start: int) -> Var:
    for index in range(start, len(parts)):
        part = parts[index]
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            choices = [str(k) for k in value] if isinstance(value, dict) else []
            raise SelectionNotFound(index, choices)
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
