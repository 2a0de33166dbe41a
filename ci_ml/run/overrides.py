"""`--set file:key=value` param overrides for manual retrains.

The stage's own code reads its params file, so an override is written into that file in the
workspace (as `dvc exp run --set-param` does) before planning: keys, commands and the cache
entry all see the new value. The edit keeps the file's layout and comments: only the changed
value's line differs, so a retrain PR's diff is that one line. YAML goes through ruamel.yaml's
round-trip mode (as `dvc exp run -S` does), TOML through tomlkit; in JSON and Python params files
the value's own text is replaced where it stands. The edited key must already exist, so a typo
is an error rather than a silently ignored param.
"""

from __future__ import annotations

import ast
import io
import json
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_ml.errors import UserError, did_you_mean
from ci_ml.pipeline import flat_keys, parse_params_text
from ci_ml.workspace_files import read_text

DEFAULT_PARAMS = "params.yaml"


@dataclass(frozen=True, slots=True)
class Override:
    file: str
    key: str
    value: Any

    def __str__(self) -> str:
        return f"{self.file}:{self.key}={json.dumps(self.value)}"


def parse_override(text: str) -> Override:
    """`train.lr=0.2` (params.yaml) or `conf/train.yaml:lr=0.2`; the value is read as YAML."""
    target, sep, raw = text.partition("=")
    if not sep or not target:
        raise UserError(
            f"--set {text!r}: expected FILE:KEY=VALUE or KEY=VALUE (params.yaml), e.g. "
            "--set train.lr=0.2."
        )
    file, colon, key = target.rpartition(":")
    file, key = (file, key) if colon else (DEFAULT_PARAMS, target)
    if not key:
        raise UserError(f"--set {text!r}: the key is empty; write FILE:KEY=VALUE.")
    import yaml  # lazy: only --set needs it, and PyYAML costs every `ci-ml run` 8 ms

    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return Override(posixpath.normpath(file), key, value)


def set_key(document: Any, key: str, value: Any, *, file: str) -> Any:
    """A copy of `document` with dotted `key` set; the key must exist."""
    parts = key.split(".")
    node = document
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            raise UserError(
                f"--set {file}:{key}: {file} has no param {key!r}"
                f"{did_you_mean(key, flat_keys(document))}. Fix the key; overrides can only "
                "change params that exist."
            )
        if depth == len(parts) - 1:
            node[part] = value
        node = node[part]
    return document


def apply_overrides(root: Path, overrides: Sequence[Override]) -> None:
    """Write each override into its params file in the workspace, keeping its layout."""
    for override in overrides:
        path = root / override.file
        if not path.is_file():
            raise UserError(f"--set {override}: params file {override.file} does not exist.")
        editor = _EDITORS.get(path.suffix.lower())
        if editor is None:
            raise UserError(
                f"--set {override}: {override.file} is not a YAML, JSON, TOML or Python params "
                "file; edit it by hand instead."
            )
        text = read_text(path, follow_symlinks=True)
        # Parsed the way the plan parses it first: the key must exist, with a suggestion if not.
        set_key(_plain(parse_params_text(override.file, text)), override.key, override.value,
                file=override.file)  # fmt: skip
        edited = editor(text, override.key.split("."), override.value)
        tmp = path.with_name(path.name + ".ci-ml-tmp")
        tmp.write_text(edited, encoding="utf-8")
        tmp.replace(path)


def _edit_yaml(text: str, keys: list[str], value: Any) -> str:
    from ruamel.yaml import YAML  # lazy: only a retrain with --set edits YAML

    yaml_rt = YAML(typ="rt")
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 4096  # never re-wrap long lines
    document = yaml_rt.load(text)
    _node(document, keys)[keys[-1]] = value
    out = io.StringIO()
    yaml_rt.dump(document, out)
    return out.getvalue()


def _edit_toml(text: str, keys: list[str], value: Any) -> str:
    import tomlkit  # lazy: only a retrain with --set edits TOML

    document = tomlkit.parse(text)
    _node(document, keys)[keys[-1]] = value
    return tomlkit.dumps(document)


def _edit_json(text: str, keys: list[str], value: Any) -> str:
    start, end = _JsonSpans(text).value_span(keys)
    return text[:start] + json.dumps(value) + text[end:]


def _edit_python(text: str, keys: list[str], value: Any) -> str:
    """Replace the literal assigned to `keys` (a module constant or a class attribute)."""
    node: Any = ast.parse(text)
    for depth, key in enumerate(keys):
        found = None
        for stmt in node.body:
            if depth < len(keys) - 1 and isinstance(stmt, ast.ClassDef) and stmt.name == key:
                found = stmt
            elif depth == len(keys) - 1 and _assigns(stmt, key):
                found = stmt.value
        if found is None:
            raise UserError(f"--set: cannot find {'.'.join(keys)} as a literal to edit.")
        node = found
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    start = offsets[node.lineno - 1] + _char_col(lines[node.lineno - 1], node.col_offset)
    end = offsets[node.end_lineno - 1] + _char_col(lines[node.end_lineno - 1], node.end_col_offset)
    return text[:start] + repr(value) + text[end:]


def _assigns(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
    return (
        isinstance(stmt, ast.AnnAssign)
        and isinstance(stmt.target, ast.Name)
        and (stmt.target.id == name and stmt.value is not None)
    )


def _char_col(line: str, utf8_offset: int) -> int:
    """ast columns count UTF-8 bytes; string slicing counts characters."""
    return len(line.encode("utf-8")[:utf8_offset].decode("utf-8"))


def _node(document: Any, keys: list[str]) -> Any:
    node = document
    for key in keys[:-1]:
        node = node[key]
    return node


class _JsonSpans:
    """Where a value stands in JSON text, found by walking the text (json.loads keeps no
    positions), so the edit replaces exactly that value's characters."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()

    def value_span(self, keys: list[str]) -> tuple[int, int]:
        pos = self._skip(0)
        for key in keys:
            pos = self._member(pos, key)
        _, end = self.decoder.raw_decode(self.text, pos)
        return pos, end

    def _skip(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in " \t\r\n":
            pos += 1
        return pos

    def _member(self, pos: int, key: str) -> int:
        """The start of `key`'s value in the object at `pos`."""
        pos = self._skip(pos + 1)  # past "{"
        while self.text[pos] != "}":
            name, pos = self.decoder.raw_decode(self.text, pos)
            pos = self._skip(self._skip(pos) + 1)  # past ":"
            if name == key:
                return pos
            _, pos = self.decoder.raw_decode(self.text, pos)
            pos = self._skip(pos)
            if self.text[pos] == ",":
                pos = self._skip(pos + 1)
        raise UserError(f"--set: no key {key!r} in the JSON object")


_EDITORS: dict[str, Callable[[str, list[str], Any], str]] = {
    ".yaml": _edit_yaml,
    ".yml": _edit_yaml,
    ".toml": _edit_toml,
    ".json": _edit_json,
    ".py": _edit_python,
}


def _plain(value: Any) -> Any:
    """Line-annotated mappings from the params loader, as plain dicts for dumping."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
