"""The one table of options: each spelled `name` in ci-ml.yaml, `--name` as a flag, `CI_ML_NAME`
in the environment and as an action input. [pure]"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ci_ml.runner_cost import parse_approval, parse_budget

# DVC's keys are allowed in ci-ml.yaml when a project keeps its stages there.
PIPELINE_KEYS = ("stages", "vars", "params", "metrics", "plots")


@dataclass(frozen=True, slots=True)
class Option:
    """One option, spelled `name` in ci-ml.yaml, `--name` as a flag, `CI_ML_NAME` in env."""

    name: str
    help: str
    default: Any
    parse: Callable[[str], Any] = str
    flag: bool = True
    # False for trust settings: ci-ml.yaml is the PR's own file, so a PR could pick its trust.
    in_file: bool = True

    @property
    def env_var(self) -> str:
        return "CI_ML_" + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        return self.name.replace("-", "_")


def _labels(text: str) -> tuple[str, ...]:
    return tuple(label for label in text.replace(",", " ").split() if label)


OPTIONS: tuple[Option, ...] = (
    Option(
        "base-branch",
        "branch that pull requests merge into; the base when no --base or event says otherwise "
        "(default: origin's HEAD, else main)",
        None,
    ),
    Option(
        "cache",
        "cache URL: a directory, file:///path or s3://bucket/prefix (default: .ci-ml/cache "
        "in the pipeline's root)",
        None,
    ),
    Option(
        "trust",
        "cache area this run writes: trusted, untrusted or read-only (default: decided from "
        "the GitHub event and ref); set by the workflow only, never in ci-ml.yaml",
        None,
        in_file=False,
    ),
    Option(
        "trusted-refs",
        "refs whose push, schedule or workflow_dispatch runs write the trusted cache area; "
        "`default` is the default branch; set by the workflow only, never in ci-ml.yaml",
        ("default", "refs/tags/*"),
        _labels,
        flag=False,
        in_file=False,
    ),
    Option(
        "allow-local-cache",
        "accept a local-directory cache on GitHub Actions (only safe on ephemeral runners: "
        "see docs/security.md); set by the workflow only",
        False,
        lambda text: text.strip().lower() in ("1", "true", "yes"),
        flag=False,
        in_file=False,
    ),
    Option(
        "signing-key",
        "Ed25519 private key (base64, from `ci-ml keygen`) that signs trusted manifests; "
        "from a secret, in the trusted job only; set by the workflow only",
        None,
        flag=False,
        in_file=False,
    ),
    Option(
        "trusted-public-keys",
        "Ed25519 public keys (base64) whose signature a trusted manifest must carry; "
        "unsigned or badly signed ones are cache misses",
        (),
        _labels,
        flag=False,
    ),
    Option(
        "s3-endpoint-url", "S3 endpoint for MinIO, R2, Ceph... (else AWS_ENDPOINT_URL_S3)", None
    ),
    Option("s3-region", "S3 region (else the AWS config chain)", None),
    Option("s3-addressing-style", "S3 addressing style: path or virtual", None),
    Option(
        "runner",
        "runner labels (comma or space separated) for stages that need no GPU",
        ("ubuntu-latest",),
        _labels,
        flag=False,
    ),
    Option(
        "gpu-runner",
        "runner labels for stages with `gpu: true`",
        ("self-hosted", "gpu"),
        _labels,
        flag=False,
    ),
    Option(
        "gpu-budget-minutes",
        "GPU minutes a pull request run may spend without approval; past the estimate, GPU "
        "jobs wait (docs/gpu-runners.md); set by the workflow only, never in ci-ml.yaml",
        None,
        parse_budget,
        flag=False,
        in_file=False,
    ),
    Option(
        "gpu-approval",
        "how waiting GPU jobs are approved: `label` (they do not start until a maintainer adds "
        "the ci-ml:run-gpu label) or `environment` (they wait in the ci-ml-gpu environment's "
        "required reviewers); set by the workflow only",
        "label",
        parse_approval,
        flag=False,
        in_file=False,
    ),
)
OPTION_BY_NAME = {option.name: option for option in OPTIONS}


def options_table() -> str:
    """The markdown table of OPTIONS that docs/configuration.md embeds (a test keeps it so)."""
    rows = ["| ci-ml.yaml | flag | env | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for option in OPTIONS:
        name = f"`{option.name}`" if option.in_file else f"- (`{option.name}`: workflow only)"
        default = option.default
        if isinstance(default, tuple):
            default = ", ".join(default)
        flag = f"`--{option.name}`" if option.flag else "-"
        shown = f"`{default}`" if default else "-"
        rows.append(f"| {name} | {flag} | `{option.env_var}` | {shown} | {option.help} |")
    return "\n".join(rows) + "\n"
