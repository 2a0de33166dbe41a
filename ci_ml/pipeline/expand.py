"""foreach and matrix stages: the members a definition expands to, named as DVC names them.

[pure] Follows dvc/parsing/__init__.py (DVC 3): members are `stage@value`, `stage@0`,
`stage@key`, `build@py3.10-linux`, `{name}{index}` for composite matrix values. Each member's
`item` (and `key`) is bound to a `Var`, so `${item.lr}` is tracked back to the file that the
collection came from.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.pipeline.context import Bound, Context, Var
from ci_ml.pipeline.interpolate import Resolver, exact_expr, to_str
from ci_ml.pipeline.schema import a_type

_log = logging.getLogger("ci_ml")

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
            f"{where}: foreach needs a list or a mapping, got {a_type(value)} "
            f"({value!r}). Point it at a list or mapping in params.yaml or vars."
        )
    _warn_taken(ctx, ("item",), where)
    # A list of plain values names its members by value, a list holding lists or mappings by
    # index; equal values collapse into one member, as in DVC.
    composite = any(isinstance(item, (Mapping, list)) for item in value)
    named = {str(i) if composite else to_str(var.value): var for i, var in enumerate(origins)}
    if not composite:
        named = {suffix: by_value(var) for suffix, var in named.items()}
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
                f"{where}: matrix entry {axis!r} must be a list, got {a_type(value)}."
            )
        composite = any(isinstance(var.value, (Mapping, list)) for var in origins)
        axes[str(axis)] = origins if composite else [by_value(var) for var in origins]
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


def by_value(var: Var) -> Var:
    """A plain list element, untracked: its member is named by its value, so the member
    depends on that value, not on the element's position in the list. Tracking it as
    `models.1` would re-run every member after an insertion (DVC keys members by name)."""
    return Var(None, "", var.value) if var.source is not None else var


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


def child_var(pieces: list[Var], child: str | int, value: Any) -> Var:
    """The origin of one element of a selected collection (a foreach item, a matrix value)."""
    for piece in pieces:
        container = piece.value
        if (isinstance(container, Mapping) and child in container) or (
            isinstance(container, list) and isinstance(child, int) and child < len(container)
        ):
            return Var(piece.source, f"{piece.key}.{child}", value)
    return Var(None, "", value)
