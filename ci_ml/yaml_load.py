"""YAML text -> data: a fast reader for plain block YAML, with PyYAML for everything else.

[pure] `load_yaml_text` takes text and returns data; the caller reads the file. The rules of
what a scalar means, and the `LineDict`s that mappings come back as, are `yaml_schema`'s.
"""

from __future__ import annotations

import re
from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.yaml_guard import check_aliases
from ci_ml.yaml_schema import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    NULL_TAG,
    DuplicateKeyError,
    LineDict,
    core_schema_loader,
    resolve_plain,
    yaml_int,
)


def load_yaml_text(path: str, text: str) -> Any:
    """Parse YAML text; mappings become LineDicts. Errors name the file, line and column."""
    try:
        return _BlockReader(text).document()
    except _Unsupported:
        pass  # anything beyond plain block YAML, and every error, goes to PyYAML
    import yaml  # only for YAML beyond the fast reader's subset

    try:
        check_aliases(text, path)
        return yaml.load(text, Loader=core_schema_loader())  # derives from SafeLoader
    except DuplicateKeyError as exc:
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
    """A plain scalar, resolved with the YAML 1.2 core schema's rules (yaml_schema)."""
    tag = resolve_plain(text)
    if tag is None:
        return text
    if tag == NULL_TAG:
        return None
    if tag == BOOL_TAG:
        return text in ("true", "True", "TRUE")
    if tag == INT_TAG:
        return yaml_int(text)
    if tag == FLOAT_TAG:
        low = text.lower()
        if low.endswith(".inf"):
            return float("-inf") if low[0] == "-" else float("inf")
        return float("nan") if low == ".nan" else float(text)
    raise _Unsupported  # timestamps, merge keys: leave them to PyYAML
