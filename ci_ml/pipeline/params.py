"""Params files: parse them by extension, look up dotted keys, encode values as canonical JSON.

[pure] Everything here takes text and returns data; the caller reads the files. YAML params are
read by `yaml_load` (YAML 1.2, as DVC reads them); `.py` params the way DVC reads them too:
literal assignments only, nothing is run.
"""

from __future__ import annotations

import ast
import datetime
import json
import posixpath
import sys
from typing import Any

from ci_ml.errors import PipelineError
from ci_ml.pipeline.schema import a_type
from ci_ml.yaml_load import load_yaml_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    # tomli is only installed on 3.10, where mypy may not see it
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

PARAMS_EXTENSIONS = (".yaml", ".yml", ".json", ".toml", ".py")


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
            f"{path}: expected a mapping of param names to values, got {a_type(data)}. "
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
