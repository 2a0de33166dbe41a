"""YAML scalars and mappings the way DVC reads them: the YAML 1.2 core schema. [pure]

DVC reads YAML with ruamel (YAML 1.2 core schema), not the YAML 1.1 way that PyYAML defaults
to: `lr: 1e-3` is a float, `on`/`no` are strings, `010` is ten. This module owns those rules:
`CoreSchemaLoader` (PyYAML with 1.2 scalars, duplicate-key errors and key lines), the tags and
`yaml_int` that the fast block reader in `yaml_load` resolves plain scalars with, and `LineDict`,
the mapping that remembers each key's line so the pipeline parser can point at a bad stage.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from typing import Any

import yaml


class LineDict(dict[Any, Any]):
    """A dict from YAML that also knows the 1-based line of each of its keys."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


def key_line(mapping: object, key: object) -> int | None:
    """The line of `key` in `mapping` if it came from YAML, else None."""
    return mapping.lines.get(key) if isinstance(mapping, LineDict) else None


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# The base is CSafeLoader when libyaml exists, which mypy cannot see as a valid base.
class CoreSchemaLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader with YAML 1.2 core-schema scalars, duplicate-key errors and key lines."""


class DuplicateKeyError(Exception):
    """A key given twice in one mapping, at `line`; DVC refuses these too."""

    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
CoreSchemaLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (BOOL_TAG, INT_TAG, FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CoreSchemaLoader.add_implicit_resolver(
    BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
CoreSchemaLoader.add_implicit_resolver(
    INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
CoreSchemaLoader.add_implicit_resolver(
    FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def yaml_int(text: str) -> int:
    """An int scalar's value under YAML 1.2."""
    # YAML 1.2: `0o17` is octal and `017` is decimal seventeen (YAML 1.1 read it as octal).
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text)


def _construct_int(loader: CoreSchemaLoader, node: yaml.ScalarNode) -> int:
    return yaml_int(str(loader.construct_scalar(node)))


def _construct_map(loader: CoreSchemaLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    yield data
    own = {id(key_node) for key_node, _ in node.value}
    loader.flatten_mapping(node)  # resolves `<<` merge keys; merged pairs come first
    seen: set[Hashable] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=False)
        line = key_node.start_mark.line + 1
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable key", key_node.start_mark
            )
        if id(key_node) in own:
            if key in seen:
                raise DuplicateKeyError(key, line)
            seen.add(key)
        data[key] = loader.construct_object(value_node, deep=False)
        data.lines[key] = line


CoreSchemaLoader.add_constructor(INT_TAG, _construct_int)
CoreSchemaLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
