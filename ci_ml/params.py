"""Params files: parse them by extension, look up dotted keys, encode values as canonical JSON.

[pure] Everything here takes text and returns data; the caller reads the files.

YAML is read the way DVC reads it (ruamel, YAML 1.2 core schema), not the YAML 1.1 way that
PyYAML defaults to: `lr: 1e-3` is a float, `on`/`no` are strings, `010` is ten. Duplicate keys
are errors, as in DVC. Mappings come back as `LineDict`s that remember each key's line, so the
pipeline parser can point at the line of a bad stage.
"""

from __future__ import annotations

import ast
import datetime
import json
import posixpath
import re
import sys
from collections.abc import Hashable, Iterator
from typing import Any

import yaml

from ci_ml.errors import PipelineError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    # tomli is only installed on 3.10, where mypy may not see it
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

PARAMS_EXTENSIONS = (".yaml", ".yml", ".json", ".toml", ".py")


class LineDict(dict[Any, Any]):
    """A dict from YAML that also knows the 1-based line of each of its keys."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


def key_line(mapping: object, key: object) -> int | None:
    """The line of `key` in `mapping` if it came from YAML, else None."""
    return mapping.lines.get(key) if isinstance(mapping, LineDict) else None


# --- YAML ------------------------------------------------------------------------------------

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]  # CSafeLoader when libyaml exists
    """SafeLoader with YAML 1.2 core-schema scalars, duplicate-key errors and key lines."""


class _DuplicateKeyError(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key, line)
        self.key = key
        self.line = line


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    return _int(str(loader.construct_scalar(node)))


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[LineDict]:
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
                raise _DuplicateKeyError(key, line)
            seen.add(key)
        data[key] = loader.construct_object(value_node, deep=False)
        data.lines[key] = line


_Loader.add_constructor(_INT, _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def load_yaml_text(path: str, text: str) -> Any:
    """Parse YAML text; mappings become LineDicts. Errors name the file, line and column."""
    try:
        return _BlockReader(text).document()
    except _Unsupported:
        pass  # anything beyond plain block YAML, and every error, goes to PyYAML
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader
    except _DuplicateKeyError as exc:
        raise PipelineError(
            f"{path}:{exc.line}: duplicate key {exc.key!r}. Each key may appear once in a "
            "mapping: remove or rename one of them."
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = exc.problem or exc.context or "invalid YAML"
        raise PipelineError(f"{where}: invalid YAML: {problem}. Fix the syntax there.") from exc
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: invalid YAML: {exc}. Fix the syntax.") from exc


# --- a fast path for plain block YAML ---------------------------------------------------------
# PyYAML with libyaml needs about a second for a 10,000-stage dvc.yaml (100,000 lines): most of
# it goes to building node and mark objects. Nearly every dvc.yaml and params.yaml is plain
# block YAML: mappings, sequences, one-line scalars and one-line flow lists/maps of plain
# scalars. _BlockReader reads exactly that subset, line by line, and raises _Unsupported on
# anything else (anchors, tags, block scalars, multi-line scalars, escapes, tabs, errors), which
# then goes to PyYAML. tests/test_params.py checks that both give the same data and lines.


class _Unsupported(Exception):
    pass


# Tabs, CR, BOM, other line breaks and what YAML may not contain: left to PyYAML.
_ODD_TEXT = re.compile(
    "[\t\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\u2028\u2029\ud800-\udfff\ufffe\uffff]"
)
_KEY = re.compile(
    r"""(?:([^\s\-?:,\[\]{}#&*!|>'"%@`][^:#'"\[\]{},]*?)|'((?:[^']|'')*)'|"([^"\\]*)") *:"""
    r"(?: +(.*))?$"
)
_FLOW_SEQ = re.compile(r"\[([^\[\]{}#'\":]*)\](?: +#.*)?$")
_FLOW_MAP = re.compile(r"\{([^\[\]{}#'\"]*)\}(?: +#.*)?$")
_QUOTED = re.compile(r"""(?:'((?:[^']|'')*)'|"([^"\\]*)")(?: +#.*)?$""")
# A plain scalar that needs no further checks: no comment, no `: `, no indicator first.
_SIMPLE = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`](?:[^#:]|:(?! |$))*$")
_PLAIN_START = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`]|[-?:][^\s]")


_NO_KEY = object()


class _BlockReader:
    def __init__(self, text: str) -> None:
        text = text.replace("\r\n", "\n")
        if _ODD_TEXT.search(text):
            raise _Unsupported
        # (line number, indent, content, is a `- ` item) for each line that holds something
        self.lines: list[tuple[int, int, str, bool]] = []
        add = self.lines.append
        for number, line in enumerate(text.split("\n"), 1):
            content = line.lstrip(" ")
            if content and content[0] != "#":
                item = content[0] == "-" and (len(content) == 1 or content[1] == " ")
                add((number, len(line) - len(content), content.rstrip(" "), item))
        self.count = len(self.lines)
        self.pos = 0
        # Most keys and scalars repeat: `cmd`, `deps`, file names.
        self.keys: dict[str, Any] = {}
        self.scalars: dict[str, Any] = {}

    def document(self) -> Any:
        if not self.lines:
            return None
        value = self._block(self.lines[0][1])
        if self.pos != self.count:
            raise _Unsupported
        return value

    def _block(self, indent: int) -> Any:
        return self._seq(indent) if self.lines[self.pos][3] else self._map(indent)

    def _map(self, indent: int) -> LineDict:
        data = LineDict()
        lines = data.lines
        while self.pos < self.count:
            number, at, content, item = self.lines[self.pos]
            if at < indent or (at == indent and item):
                break
            if at > indent:
                raise _Unsupported
            key, rest = self._key(content)
            if key in data:
                raise _Unsupported
            self.pos += 1
            lines[key] = number
            if rest and _SIMPLE.match(rest) and not self._continues(indent):
                data[key] = self._plain(rest)  # the usual `key: value`, quickly
            else:
                data[key] = self._value(rest, indent, nested_seq=True)
        return data

    def _seq(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while self.pos < self.count:
            number, at, content, item = self.lines[self.pos]
            if at != indent or not item:
                break
            rest = content[1:].lstrip(" ")
            if rest and _SIMPLE.match(rest):  # the usual `- value`, quickly
                self.pos += 1
                if self._continues(indent):
                    raise _Unsupported  # a multi-line scalar
                items.append(self._plain(rest))
            elif rest and _KEY.match(rest):  # `- key: value` starts a mapping in the item
                column = indent + len(content) - len(rest)
                self.lines[self.pos] = (number, column, rest, False)
                items.append(self._map(column))
            else:
                self.pos += 1
                items.append(self._value(rest, indent, nested_seq=False))
        return items

    def _continues(self, indent: int) -> bool:
        """Whether the next line is indented deeper than `indent`."""
        return self.pos < self.count and self.lines[self.pos][1] > indent

    def _value(self, rest: str | None, indent: int, *, nested_seq: bool) -> Any:
        following = self.lines[self.pos] if self.pos < self.count else None
        if rest and rest[0] != "#":
            if following is not None and following[1] > indent:
                raise _Unsupported  # a multi-line scalar
            if _SIMPLE.match(rest):
                return self._plain(rest)
            return _scalar(rest, self.lines[self.pos - 1][0])
        if following is None or following[1] < indent:
            return None
        if following[1] > indent:
            return self._block(following[1])
        return self._seq(indent) if nested_seq and following[3] else None

    def _key(self, content: str) -> tuple[Any, str | None]:
        """The key of a `key: value` line (a scalar, so hashable) and the rest of the line."""
        name, sep, rest = content.partition(": ")
        if not sep and name[-1:] == ":":  # `key:` and the value on the lines below
            name = name[:-1]
        key = self.keys.get(name, _NO_KEY)
        if key is not _NO_KEY:  # a plain key seen before: no need to match it again
            return key, rest.lstrip(" ")
        match = _KEY.match(content)
        if match is None:
            raise _Unsupported
        plain, single, double, rest = match.groups()
        if plain is None:
            return _unquote(single, double), rest
        key = self.keys[plain] = self._plain(plain)
        return key, rest

    def _plain(self, text: str) -> Any:
        try:
            return self.scalars[text]
        except KeyError:
            value = self.scalars[text] = _plain(text)
            return value


def _scalar(text: str, line: int) -> Any:
    first = text[0]
    if first in "'\"":
        match = _QUOTED.match(text)
        if match is None:
            raise _Unsupported
        return _unquote(*match.groups())
    if first == "[":
        match = _FLOW_SEQ.match(text)
        if match is None:
            raise _Unsupported
        inner = match.group(1).strip()
        return [_plain(_flow_item(item)) for item in inner.split(",")] if inner else []
    if first == "{":
        return _flow_map(text, line)
    if not _PLAIN_START.match(text):
        raise _Unsupported
    cut = text.find(" #")
    text = text[:cut].rstrip(" ") if cut >= 0 else text
    if ": " in text or text.endswith(":"):
        raise _Unsupported
    return _plain(text)


def _flow_item(item: str) -> str:
    item = item.strip(" ")
    if not item or not _PLAIN_START.match(item):
        raise _Unsupported
    return item


def _flow_map(text: str, line: int) -> LineDict:
    match = _FLOW_MAP.match(text)
    if match is None:
        raise _Unsupported
    data = LineDict()
    inner = match.group(1).strip()
    for pair in inner.split(",") if inner else ():
        key_text, sep, value_text = pair.partition(": ")
        key = _plain(_flow_item(key_text))
        if not sep or ":" in value_text or key in data:
            raise _Unsupported
        data[key] = _plain(_flow_item(value_text))
        data.lines[key] = line
    return data


def _unquote(single: str | None, double: str | None) -> str:
    return single.replace("''", "'") if single is not None else str(double)


def _plain(text: str) -> Any:
    """A plain scalar, resolved with _Loader's YAML 1.2 rules."""
    candidates = _Loader.yaml_implicit_resolvers.get(text[:1], [])
    tag = next((tag for tag, regexp in candidates if regexp.match(text)), None)
    if tag is None:
        return text
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == _BOOL:
        return text in ("true", "True", "TRUE")
    if tag == _INT:
        return _int(text)
    if tag == _FLOAT:
        low = text.lower()
        if low.endswith(".inf"):
            return float("-inf") if low[0] == "-" else float("inf")
        return float("nan") if low == ".nan" else float(text)
    raise _Unsupported  # timestamps, merge keys: leave them to PyYAML


def _int(text: str) -> int:
    # YAML 1.2: `0o17` is octal and `017` is decimal seventeen (YAML 1.1 read it as octal).
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text)


# --- params files ----------------------------------------------------------------------------


def parse_params_text(path: str, text: str) -> dict[str, Any]:
    """Parse a params (or vars) file by its extension into a mapping."""
    ext = posixpath.splitext(path)[1].lower()
    if ext in (".yaml", ".yml"):
        data = load_yaml_text(path, text)
    elif ext == ".json":
        data = _load_json(path, text)
    elif ext == ".toml":
        data = _load_toml(path, text)
    elif ext == ".py":
        data = _load_py(path, text)
    else:
        raise PipelineError(
            f"{path}: unsupported params file type {ext or '(no extension)'!r}. "
            f"Use one of {', '.join(PARAMS_EXTENSIONS)}."
        )
    if data is None:  # an empty file
        return {}
    if not isinstance(data, dict):
        raise PipelineError(
            f"{path}: expected a mapping of param names to values, got {type(data).__name__}. "
            "Put the values under named keys."
        )
    return data


def _load_json(path: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PipelineError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}. Fix the syntax there."
        ) from exc


def _load_toml(path: str, text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{path}: invalid TOML: {exc}. Fix the syntax there.") from exc


def _load_py(path: str, text: str) -> dict[str, Any]:
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise PipelineError(
            f"{path}:{exc.lineno}: invalid Python: {exc.msg}. Fix the syntax there."
        ) from exc
    return _py_body(tree.body, self_only=False)


def _py_body(body: list[ast.stmt], *, self_only: bool) -> dict[str, Any]:
    """Literal assignments of a module or class body, as DVC reads them (dvc/utils/serialize/
    _py.py): `NAME = literal`, class bodies as nested dicts, `self.x = literal` in __init__."""
    result: dict[str, Any] = {}
    for stmt in body:
        if isinstance(stmt, ast.ClassDef) and not self_only:
            result[stmt.name] = _py_body(stmt.body, self_only=False)
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__" and not self_only:
            result.update(_py_body(stmt.body, self_only=True))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            assigned = _py_assignment(stmt, self_only=self_only)
            if assigned is not None:
                result[assigned[0]] = assigned[1]
    return result


def _py_assignment(stmt: ast.Assign | ast.AnnAssign, *, self_only: bool) -> tuple[str, Any] | None:
    targets = [stmt.target] if isinstance(stmt, ast.AnnAssign) else stmt.targets
    if len(targets) != 1 or stmt.value is None:
        return None
    name = _py_target(targets[0], self_only=self_only)
    if name is None:
        return None
    try:
        value = ast.literal_eval(stmt.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # not a literal: DVC skips it too
    return name, value


def _py_target(target: ast.expr, *, self_only: bool) -> str | None:
    if self_only:  # inside __init__: only `self.name = ...`
        owner = target.value if isinstance(target, ast.Attribute) else None
        is_self = isinstance(owner, ast.Name) and owner.id == "self"
        return target.attr if is_self and isinstance(target, ast.Attribute) else None
    return target.id if isinstance(target, ast.Name) else None


# --- keys and values -------------------------------------------------------------------------


def lookup(data: Any, key: str) -> Any:
    """The value at dotted `key` (`train.lr`; a numeric part indexes a list: `layers.0`).

    Raises KeyError(key) when any part is missing.
    """
    node = data
    for part in key.split("."):
        if isinstance(node, dict):
            if part in node:
                node = node[part]
                continue
            if part.lstrip("-").isdigit() and int(part) in node:  # YAML `1: x` has an int key
                node = node[int(part)]
                continue
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        raise KeyError(key)
    return node


def flat_keys(data: Any, prefix: str = "") -> list[str]:
    """Every dotted key through nested mappings (`train`, `train.lr`), for did-you-mean."""
    keys: list[str] = []
    if isinstance(data, dict):
        for name, value in data.items():
            key = f"{prefix}{name}"
            keys.append(key)
            keys.extend(flat_keys(value, key + "."))
    return keys


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text."""
    return _ENCODER.encode(_jsonable(value))


def _jsonable(value: Any) -> Any:
    # Only what json.dumps would reject or sort badly: non-str keys (mixed key types cannot be
    # sorted), tuples and sets from .py params, dates from YAML.
    if isinstance(value, dict):
        return {_json_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=canonical_json)
    return value


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)  # the spelling json.dumps itself gives such keys
    return str(key)


def _json_default(value: object) -> Any:
    # YAML dates, .py bytes; complex numbers and Ellipsis are rare in params, but never a crash.
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# One encoder, built once: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)
