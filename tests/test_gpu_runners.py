"""The GPU runner setups we ship in docs/runners/, checked offline: yamllint and a schema for
the actions-runner-controller values, `terraform fmt` and `validate` for the AWS module call
(against a stand-in for the registry module, which needs the network), and the labels each
one registers are the labels `ci-ml init --gpu-runner` writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ci_ml.commands.init import ENGINES

RUNNERS = Path(__file__).resolve().parents[1] / "docs" / "runners"
ARC_VALUES = sorted((RUNNERS / "arc").glob("*.yaml"))
TERRAFORM = shutil.which("terraform")

# The gha-runner-scale-set chart's top-level values (actions-runner-controller 0.9+), and what
# a ci-ml GPU scale set must say: scale to zero, a runner group, one GPU per runner pod.
ARC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "githubConfigUrl",
        "githubConfigSecret",
        "runnerScaleSetName",
        "runnerGroup",
        "minRunners",
        "maxRunners",
        "template",
    ],
    "properties": {
        "githubConfigUrl": {"type": "string", "pattern": "^https://github\\.com/[^/]+(/[^/]+)?$"},
        "githubConfigSecret": {"type": ["string", "object"]},
        "runnerScaleSetName": {"type": "string", "pattern": "^ci-ml-gpu-(pr|main)$"},
        "runnerGroup": {"type": "string", "minLength": 1},
        "minRunners": {"const": 0},
        "maxRunners": {"type": "integer", "minimum": 1},
        "proxy": {"type": "object"},
        "githubServerTLS": {"type": "object"},
        "containerMode": {"type": "object"},
        "listenerTemplate": {"type": "object"},
        "controllerServiceAccount": {"type": "object"},
        "template": {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["containers", "nodeSelector"],
                    "properties": {
                        "containers": {
                            "type": "array",
                            "contains": {
                                "type": "object",
                                "required": ["name", "image", "command", "resources"],
                                "properties": {
                                    "name": {"const": "runner"},
                                    "resources": {
                                        "type": "object",
                                        "required": ["limits"],
                                        "properties": {
                                            "limits": {
                                                "type": "object",
                                                "required": ["nvidia.com/gpu"],
                                                "properties": {
                                                    "nvidia.com/gpu": {
                                                        "type": "integer",
                                                        "minimum": 1,
                                                    }
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                        "nodeSelector": {"type": "object", "minProperties": 1},
                    },
                }
            },
        },
    },
}


def test_arc_values_pass_yamllint() -> None:
    config = RUNNERS / ".yamllint.yaml"
    cmd = [sys.executable, "-m", "yamllint", "--strict", "-c", str(config), *map(str, ARC_VALUES)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ARC_VALUES, ids=lambda p: p.name)
def test_arc_values_match_the_chart_and_scale_to_zero(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), ARC_SCHEMA)


def test_the_arc_schema_catches_a_typo() -> None:
    values = yaml.safe_load(ARC_VALUES[0].read_text(encoding="utf-8"))
    values["minRunner"] = values.pop("minRunners")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, ARC_SCHEMA)


def test_arc_scale_sets_are_the_labels_init_writes() -> None:
    names = {
        yaml.safe_load(p.read_text(encoding="utf-8"))["runnerScaleSetName"]: p.name
        for p in ARC_VALUES
    }
    arc = ENGINES["arc"]
    assert sorted(names) == sorted([*arc.pr, *arc.main])
    for path in ARC_VALUES:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        # PR and main runners never share a runner group.
        assert values["runnerGroup"] == values["runnerScaleSetName"]


def test_aws_runner_labels_are_the_labels_init_writes() -> None:
    text = (RUNNERS / "aws" / "main.tf").read_text(encoding="utf-8")
    aws = ENGINES["aws"]
    assert aws.pr[:3] == aws.main[:3] == ("self-hosted", "linux", "x64")
    assert 'labelMatchers = [["self-hosted", "linux", "x64", group]]' in text
    for group in (aws.pr[-1], aws.main[-1]):
        assert f'"{group}"' in text


STUB_MODULE = """\
variable "aws_region" { type = string }
variable "vpc_id" { type = string }
variable "subnet_ids" { type = list(string) }
variable "prefix" { type = string }
variable "github_app" { type = any }
variable "webhook_lambda_zip" { type = string }
variable "runner_binaries_syncer_lambda_zip" { type = string }
variable "runners_lambda_zip" { type = string }
variable "multi_runner_config" { type = any }
output "webhook" { value = { endpoint = "" } }
"""


# The project's machines ship terraform; a developer's laptop may not. CI must run this check.
@pytest.mark.skipif(
    TERRAFORM is None and os.environ.get("CI") != "true", reason="terraform is not installed"
)
def test_aws_terraform_is_formatted_and_valid(tmp_path: Path) -> None:
    assert TERRAFORM is not None, "terraform is not installed; CI needs it for this check"
    env = {"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null", "HOME": str(tmp_path)}
    source = RUNNERS / "aws" / "main.tf"
    fmt = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-diff", str(source)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    # The registry module needs the network: validate our call against a stand-in that
    # declares the inputs we pass, so references, types and syntax are still checked.
    text = source.read_text(encoding="utf-8")
    registry = (
        'source  = "philips-labs/github-runner/aws//modules/multi-runner"\n  version = "~> 5.0"'
    )
    assert registry in text
    (tmp_path / "main.tf").write_text(text.replace(registry, 'source = "./stub"'))
    (tmp_path / "stub").mkdir()
    (tmp_path / "stub" / "main.tf").write_text(STUB_MODULE)
    for args in (
        ["init", "-backend=false", "-input=false", "-no-color"],
        ["validate", "-no-color"],
    ):
        result = subprocess.run(
            [TERRAFORM, *args], cwd=tmp_path, capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
