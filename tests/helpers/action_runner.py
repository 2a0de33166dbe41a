"""Run action.yml's steps the way the Actions runner does, for the end-to-end tests.

Each `run:` step runs in `bash --noprofile --norc -eo pipefail` with its `env:` resolved from
the inputs (the only `${{ }}` action.yml uses), real GITHUB_OUTPUT / GITHUB_ENV /
GITHUB_STEP_SUMMARY files, GITHUB_ACTION_PATH and RUNNER_TEMP. A `uses:` step can only be
skipped by its `if:`: the tests run without setup-python, on the machine's Python.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.gitrepo import read_github_output

ROOT = Path(__file__).resolve().parents[2]
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionResult:
    returncode: int
    outputs: dict[str, str]
    summary: str
    log: str
    step_outputs: dict[str, dict[str, str]] = field(default_factory=dict)


def run_action(
    inputs: Mapping[str, str],
    *,
    workspace: Path,
    runner_temp: Path,
    env: Mapping[str, str],
    github_token: str = "",
) -> ActionResult:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values["github-token"] = github_token  # the default `${{ github.token }}`
    unknown = set(inputs) - set(values)
    assert not unknown, f"action.yml has no inputs {unknown}"
    values.update(inputs)
    steps: dict[str, dict[str, str]] = {}
    summary_file = runner_temp / "step_summary.md"
    summary_file.touch()
    log = []
    for step in action["runs"]["steps"]:
        context = {"inputs": values, "steps": steps}
        if "if" in step and not _condition(step["if"], context):
            continue
        assert "run" in step, f"step {step.get('name')} would need {step.get('uses')}"
        output_file = runner_temp / f"output-{len(log)}"
        env_file = runner_temp / f"env-{len(log)}"
        output_file.touch()
        env_file.touch()
        step_env = {
            **env,
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_ENV": str(env_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
            **{k: _resolve(str(v), context) for k, v in step.get("env", {}).items()},
        }
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
        )
        log.append(f"## {step.get('name')}\n{proc.stdout}{proc.stderr}")
        if "id" in step:
            steps[step["id"]] = {"outputs": read_github_output(output_file)}  # type: ignore[dict-item]
        if proc.returncode != 0:
            return ActionResult(proc.returncode, {}, summary_file.read_text(), "\n".join(log))
    context = {"inputs": values, "steps": steps}
    outputs = {name: _resolve(spec["value"], context) for name, spec in action["outputs"].items()}
    return ActionResult(0, outputs, summary_file.read_text(), "\n".join(log))


def _lookup(expression: str, context: Mapping[str, Any]) -> str:
    node: Any = context
    for part in expression.split("."):
        node = node.get(part, "") if isinstance(node, Mapping) else ""
    return "" if node is None else str(node)


def _resolve(text: str, context: Mapping[str, Any]) -> str:
    return _EXPR.sub(lambda m: _lookup(m.group(1), context), text)


def _condition(expression: str, context: Mapping[str, Any]) -> bool:
    match = re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", expression.strip())
    assert match, f"the test runner cannot evaluate `if: {expression}`"
    value = _lookup(match.group(1), context)
    return (value == match.group(3)) == (match.group(2) == "==")
