"""YAML scalars and mappings the way DVC reads them: the YAML 1.2 core schema. [pure]

DVC reads YAML with ruamel (YAML 1.2 core schema), not the YAML 1.1 way that PyYAML defaults
to: `lr: 1e-3` is a float, `on`/`no` are strings, `010` is ten. This module owns those rules:
`core_schema_loader()` (PyYAML with 1.2 scalars, duplicate-key errors and key lines), the tags and
`yaml_int` that the fast block reader in `yaml_load` resolves plain scalars with, and `LineDict`,
the mapping that remembers each key's line so the pipeline parser can point at a bad stage.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from typing import Any


class LineDict(dict[Any, Any]):
    """A dict from YAML that also knows the 1-based line of each of its keys."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


def key_line(mapping: object, key: object) -> int | None:
    """The line of `key` in `mapping` if it came from YAML, else None."""
    return mapping.lines.get(key) if isinstance(mapping, LineDict) else None


class DuplicateKeyError(Exception):
    """A key given twice in one mapping, at `line`; DVC refuses these too."""

    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"

# The implicit resolvers, in the order CoreSchemaLoader tries them: PyYAML's SafeLoader ones
# (copied from yaml/resolver.py, so that resolving a plain scalar needs no `import yaml`)
# except bool, int and float, then the YAML 1.2 core schema's bool, int and float.
_RESOLVERS: tuple[tuple[str, re.Pattern[str], str | tuple[str, ...]], ...] = (
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), "<"),
    (NULL_TAG, re.compile(r"^(?:~|null|Null|NULL|)$"), ("~", "n", "N", "")),
    (
        "tag:yaml.org,2002:timestamp",
        re.compile(
            r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
                    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
                     (?:[Tt]|[ \t]+)[0-9][0-9]?
                     :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
                     (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
            re.X,
        ),
        "0123456789",
    ),
    ("tag:yaml.org,2002:value", re.compile(r"^(?:=)$"), "="),
    ("tag:yaml.org,2002:yaml", re.compile(r"^(?:!|&|\*)$"), "!&*"),
    (BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    (INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), "-+0123456789"),
    (
        FLOAT_TAG,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        "-+0123456789.",
    ),
)
# First character of a plain scalar ('' for an empty one) -> the (tag, regexp) pairs to try.
IMPLICIT_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
for _tag, _regexp, _firsts in _RESOLVERS:
    for _first in _firsts:
        IMPLICIT_RESOLVERS.setdefault(_first, []).append((_tag, _regexp))


def resolve_plain(text: str) -> str | None:
    """The tag of a plain scalar under the core schema, or None for a string."""
    for tag, regexp in IMPLICIT_RESOLVERS.get(text[:1], ()):
        if regexp.match(text):
            return tag
    return None


def yaml_int(text: str) -> int:
    """An int scalar's value under YAML 1.2."""
    # YAML 1.2: `0o17` is octal and `017` is decimal seventeen (YAML 1.1 read it as octal).
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text)


def core_schema_loader() -> type[Any]:
    """CoreSchemaLoader: PyYAML's SafeLoader (CSafeLoader with libyaml) with YAML 1.2
    core-schema scalars, duplicate-key errors and key lines. Built on first use, so that
    reading plain block YAML never imports PyYAML."""
    global _loader
    if _loader is None:
        _loader = _make_loader()
    return _loader


_loader: type[Any] | None = None


def __getattr__(name: str) -> Any:
    if name == "CoreSchemaLoader":
        return core_schema_loader()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _make_loader() -> type[Any]:
    import yaml  # PyYAML only for YAML beyond the fast reader's subset

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def construct_int(loader: Any, node: yaml.ScalarNode) -> int:
        return yaml_int(str(loader.construct_scalar(node)))

    def construct_map(loader: Any, node: yaml.MappingNode) -> Iterator[LineDict]:
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

    # The base is CSafeLoader when libyaml exists, which mypy cannot see as a valid base.
    class CoreSchemaLoader(base):  # type: ignore[valid-type,misc]
        """SafeLoader with YAML 1.2 core-schema scalars, duplicate-key errors and key lines."""

    CoreSchemaLoader.yaml_implicit_resolvers = {
        first: list(pairs) for first, pairs in IMPLICIT_RESOLVERS.items()
    }
    CoreSchemaLoader.add_constructor(INT_TAG, construct_int)
    CoreSchemaLoader.add_constructor("tag:yaml.org,2002:map", construct_map)
    return CoreSchemaLoader
