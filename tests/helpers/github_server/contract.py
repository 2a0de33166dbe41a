"""The contract: GitHub's OpenAPI description, loaded once per process, with the README's fixes.

Owns loading `tests/fixtures/github-openapi/` (see the README there), building response bodies
from its schemas (`Contract.instance`), matching paths against its templates (`contract_path`)
and turning openapi-core's errors into one line each (`describe_error`).
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.github_server.state import NOW

SPEC_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "github-openapi"
SPEC_FILE = SPEC_PATH / "api.github.com.subset.json"


@dataclass(frozen=True)
class Contract:
    raw: dict[str, Any]
    spec: Any  # openapi_core.OpenAPI
    finder: Any  # APICallPathFinder
    operations: dict[str, dict[str, Any]]  # operationId -> operation

    def resolve(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.raw
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return dict(schema)

    def instance(self, schema: Mapping[str, Any] | str, overlay: Any = ...) -> Any:
        """A value of `schema`: its required fields filled in, then `overlay` laid over them.

        Our response bodies are built this way, from the schema rather than from GitHub's
        examples (two of which fail their own schemas), and then validated like any other.
        """
        if isinstance(schema, str):
            schema = {"$ref": f"#/components/schemas/{schema}"}
        schema = self.resolve(schema)
        if "allOf" in schema:
            schema = self._merge_all_of(schema)
        if overlay is not ... and not isinstance(overlay, (dict, list)):
            return overlay
        for key in ("oneOf", "anyOf"):
            if key in schema and "properties" not in schema:
                return self.instance(schema[key][0], overlay)
        kind = schema.get("type", "object" if "properties" in schema else None)
        if isinstance(overlay, dict) or (kind == "object" and overlay is ...):
            if overlay is ... and schema.get("nullable"):
                return None
            return self._object(schema, overlay if isinstance(overlay, dict) else {})
        if isinstance(overlay, list) or (kind == "array" and overlay is ...):
            items = overlay if isinstance(overlay, list) else [...] * schema.get("minItems", 0)
            return [self.instance(schema.get("items", {}), item) for item in items]
        return _placeholder(schema)

    def _object(self, schema: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
        props = schema.get("properties", {})
        names = dict.fromkeys([*schema.get("required", []), *overlay])
        return {name: self.instance(props.get(name, {}), overlay.get(name, ...)) for name in names}

    def _merge_all_of(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in [schema, *schema["allOf"]]:
            part = self.resolve(part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
            merged["nullable"] = merged.get("nullable") or part.get("nullable", False)
        return merged


def _placeholder(schema: Mapping[str, Any]) -> Any:
    if schema.get("nullable") or not schema:
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return NOW
        if fmt == "uri":
            return "https://api.github.com/"
        return "0" * schema.get("minLength", 0)
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return False if kind == "boolean" else None


def _patch_description(raw: dict[str, Any]) -> None:
    """The README's load-time fixes. Each fails loudly if the description no longer needs it."""
    # 1. The description lists only https://api.github.com; requests come to the loopback port.
    raw["servers"] = [
        {"url": "http://127.0.0.1:{port}/api/v3", "variables": {"port": {"default": "80"}}}
    ]
    # 2. `discriminator` on inline oneOf branches without a mapping: openapi-core looks up
    #    #/components/schemas/completed and rejects every check run. The oneOf keeps the rule.
    check_run = raw["paths"]["/repos/{owner}/{repo}/check-runs"]["post"]["requestBody"]
    check_run["content"]["application/json"]["schema"].pop("discriminator")
    # 3. get-content's discriminator maps `array`, but a discriminator reads an object's property.
    content = raw["paths"]["/repos/{owner}/{repo}/contents/{path}"]["get"]["responses"]["200"]
    content["content"]["application/json"]["schema"].pop("discriminator")
    # 4. A nullable enum must list null to admit it (check-run.conclusion, while in progress).
    assert _admit_null_in_nullable_enums(raw) > 0, "no nullable enum left to fix"


def _admit_null_in_nullable_enums(node: Any) -> int:
    fixed = 0
    if isinstance(node, dict):
        if node.get("nullable") and "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
            fixed += 1
        fixed += sum(_admit_null_in_nullable_enums(value) for value in node.values())
    elif isinstance(node, list):
        fixed += sum(_admit_null_in_nullable_enums(value) for value in node)
    return fixed


def _validator_config() -> Any:
    """openapi-core's V3.0 validators, minus a deep copy of the format checker per schema.

    That copy (5 ms, 10 of them a request) made each request cost 50 ms. The copy only guards
    against adding formats to a shared checker, and nothing here adds any.
    """
    from openapi_core import Config
    from openapi_core.validation.request.validators import V30RequestValidator
    from openapi_core.validation.response.validators import V30ResponseValidator
    from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
    from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator

    class SharedFormatChecker(SchemaValidatorsFactory):
        def get_format_checker(self, format_validators: Any = None, extra: Any = None) -> Any:
            if format_validators is None and extra is None:
                return self.format_checker
            return super().get_format_checker(format_validators, extra)

    class RequestValidator(V30RequestValidator):
        schema_validators_factory = SharedFormatChecker(OAS30WriteValidator)

    class ResponseValidator(V30ResponseValidator):
        schema_validators_factory = SharedFormatChecker(OAS30ReadValidator)

    return Config(request_validator_cls=RequestValidator, response_validator_cls=ResponseValidator)


@functools.cache  # about 0.7 s (plus 0.9 s to import openapi-core): once per test session
def load_contract() -> Contract:
    from openapi_core import OpenAPI
    from openapi_core.templating.paths.finders import APICallPathFinder

    raw = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    _patch_description(raw)
    spec = OpenAPI.from_dict(raw, config=_validator_config())
    operations = {
        op["operationId"]: op
        for item in raw["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    return Contract(raw, spec, APICallPathFinder(spec.spec), operations)


# GitHub takes raw slashes in these parameters (marked x-multi-segment) and PyGithub sends them;
# openapi-core matches one segment, so the parameter is re-encoded (/ as %2F) before matching.
_MULTI_SEGMENT = (
    re.compile(r"^(/repos/[^/]+/[^/]+/(?:contents|git/refs?|statuses))/(.+)()$"),
    re.compile(r"^(/repos/[^/]+/[^/]+/commits)/(.+)(/comments|/check-runs)$"),
)


def contract_path(path: str) -> str:
    """`path` as the description's templates match it: one segment per parameter."""
    for pattern in _MULTI_SEGMENT:
        m = pattern.match(path)
        if m:
            return f"{m[1]}/{urllib.parse.quote(urllib.parse.unquote(m[2]), safe='')}{m[3]}"
    return path


def describe_error(exc: BaseException) -> str:
    """openapi-core's messages embed the whole offending document; keep one line per error."""
    text = str(exc)
    head = text if len(text) <= 100 else type(exc).__name__
    schema_errors = getattr(exc.__cause__, "schema_errors", None)
    if not schema_errors:
        return _cut(text, 300)
    return f"{head}: " + "; ".join(_brief_schema_error(e) for e in schema_errors)


def _brief_schema_error(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    if error.context:  # oneOf/anyOf: say why each branch failed, not what the value was
        reasons = sorted({_cut(sub.message, 120) for sub in error.context})
        return f"{where}: matches no allowed schema ({'; '.join(reasons)})"
    return f"{where}: {_cut(error.message, 200)}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
