"""`ci-ml init`: write the workflow templates and a starter ci-ml.yaml into a repository."""

from __future__ import annotations

import argparse
import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_ml import __version__
from ci_ml.config import CONFIG_FILE
from ci_ml.errors import PipelineError, UserError
from ci_ml.git import Git
from ci_ml.pipeline import parse_params_text

TEMPLATES = ("pr.yml", "main.yml", "retrain.yml", "comment.yml")
ACTION_PLACEHOLDER = "ci-ml/ci-ml@0000000000000000000000000000000000000000 # ci-ml action"
ACTION_REF = re.compile(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}")
DEFAULT_GPU_LABELS = "self-hosted, linux, gpu"
DOCS = "docs/gpu-runners.md"  # in the ci-ml repository
# The same pin as action.yml's (tests/commands/test_init.py checks they agree).
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b # v5.3.0"
STAGES_PYTHON = "3.12"


@dataclass(frozen=True, slots=True)
class Engine:
    """GPU runners on an engine that provisions them: labels for pull requests and for main
    (separate runner groups, docs/security.md) and where the setup is documented."""

    pr: tuple[str, ...]
    main: tuple[str, ...]
    anchor: str
    setup: str


ENGINES = {
    "hosted": Engine(
        ("ci-ml-gpu-t4-pr",),
        ("ci-ml-gpu-t4-main",),
        "github-hosted-gpu-runners",
        "create two GitHub-hosted larger runners with the GPU image, named ci-ml-gpu-t4-pr and "
        "ci-ml-gpu-t4-main, in separate runner groups",
    ),
    "arc": Engine(
        ("ci-ml-gpu-pr",),
        ("ci-ml-gpu-main",),
        "actions-runner-controller-on-kubernetes",
        "install two actions-runner-controller scale sets, ci-ml-gpu-pr and ci-ml-gpu-main, "
        "from docs/runners/arc/*.yaml",
    ),
    "aws": Engine(
        ("self-hosted", "linux", "x64", "ci-ml-gpu-pr"),
        ("self-hosted", "linux", "x64", "ci-ml-gpu-main"),
        "ephemeral-spot-runners-on-aws",
        "deploy philips-labs/terraform-aws-github-runner from docs/runners/aws/main.tf",
    ),
}


@dataclass(frozen=True, slots=True)
class Install:
    """How the run jobs install the pipeline's dependencies: the action's inputs, and for a pip
    install the file whose hash keys pip's download cache (empty: no cache step)."""

    inputs: Mapping[str, str]
    pip_cache_key: str = ""


NOTHING_TO_INSTALL = Install({})


PR_GPU_RUNNER = "  CI_ML_GPU_RUNNER: ${{ vars.CI_ML_GPU_RUNNER_PR }}\n"
MAIN_GPU_RUNNER = "  CI_ML_GPU_RUNNER: ${{ vars.CI_ML_GPU_RUNNER_MAIN }}\n"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "init",
        parents=[common],
        help="write workflow templates and a starter ci-ml.yaml",
        description="Write .github/workflows/ci-ml-{pr,main,retrain,comment}.yml and "
        "ci-ml.yaml, detecting an existing dvc.yaml. Refuses to overwrite without --force.",
    )
    parser.add_argument(
        "--action-ref",
        required=True,
        metavar="OWNER/REPO@SHA",
        help="the ci-ml action pinned to a full commit SHA, e.g. from `git ls-remote "
        "https://github.com/OWNER/ci-ml refs/tags/vX.Y.Z`",
    )
    parser.add_argument(
        "--gpu-labels",
        default=None,
        help=f"runner labels of GPU machines (default: {DEFAULT_GPU_LABELS})",
    )
    parser.add_argument(
        "--gpu-runner",
        choices=sorted(ENGINES),
        default=None,
        help="GPU runners from an engine (docs/gpu-runners.md): GitHub-hosted larger runners, "
        "actions-runner-controller scale sets or philips-labs/terraform-aws-github-runner; "
        "writes its labels, separate for pull requests and main (default: --gpu-labels)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing workflows (an existing ci-ml.yaml is always kept)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if not ACTION_REF.fullmatch(args.action_ref):
        raise UserError(
            f"--action-ref {args.action_ref!r} must be OWNER/REPO@<40-hex commit SHA>: workflows "
            "pin actions to a commit so a moved tag cannot change what runs."
        )
    pipeline_dir = Path(args.pipeline or env.get("CI_ML_PIPELINE") or ".").resolve()
    git = Git.discover(pipeline_dir)
    rel = pipeline_dir.relative_to(git.root.resolve()).as_posix()
    engine = _engine(args)
    text = args.gpu_labels or DEFAULT_GPU_LABELS
    labels = list(engine.pr) if engine else [x for x in text.replace(",", " ").split() if x]
    install = detect_install(git.root, pipeline_dir)
    outputs = {
        git.root / ".github/workflows" / f"ci-ml-{name}": render_template(
            read_template(name),
            action_ref=args.action_ref,
            gpu_labels=labels,
            pipeline=rel,
            engine=engine,
            install=install,
        )
        for name in TEMPLATES
    }
    config = pipeline_dir / CONFIG_FILE
    if config.exists():
        # The project's settings (gpu stages, timeouts, gates) stay; only workflows are added.
        print(f"kept {config.relative_to(git.root)}")
    else:
        outputs[config] = starter_config(pipeline_dir, labels, args.cache or "")
    lint_config = git.root / ".github/actionlint.yaml"
    if not lint_config.exists():  # so actionlint knows the GPU runners' custom labels
        known = dict.fromkeys([*labels, *(engine.main if engine else ())])
        outputs[lint_config] = "self-hosted-runner:\n  labels:\n" + "".join(
            f"    - {label}\n" for label in known if label != "self-hosted"
        )
    existing = [path for path in outputs if path.exists()]
    if existing and not args.force:
        names = ", ".join(str(p.relative_to(git.root)) for p in existing)
        raise UserError(f"{names} already exist(s); pass --force to overwrite.")
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(git.root)}")
    for key, value in install.inputs.items():
        print(f"the run jobs install the pipeline's dependencies first: {key}: {value}")
    if engine:
        runners = f"{engine.setup}; see {DOCS}#{engine.anchor}"
    else:
        runners = f"register self-hosted runners with the labels [{', '.join(labels)}] ({DOCS})"
    print(NEXT_STEPS.format(runners=runners))
    return 0


def _engine(args: argparse.Namespace) -> Engine | None:
    if args.gpu_runner and args.gpu_labels:
        raise UserError(
            "--gpu-runner and --gpu-labels both choose the GPU labels: pass one of them "
            f"(--gpu-runner {args.gpu_runner} writes {', '.join(ENGINES[args.gpu_runner].pr)})."
        )
    return ENGINES[args.gpu_runner] if args.gpu_runner else None


def read_template(name: str) -> str:
    packaged = importlib.resources.files("ci_ml") / "templates" / name
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # An editable install: the templates live beside the package in the source tree.
    return (Path(__file__).resolve().parents[2] / "templates" / name).read_text(encoding="utf-8")


def render_template(
    text: str,
    *,
    action_ref: str,
    gpu_labels: list[str],
    pipeline: str,
    engine: Engine | None = None,
    install: Install = NOTHING_TO_INSTALL,
) -> str:
    """A template with the action pinned, the GPU labels, the pipeline directory and the
    inputs that install the pipeline's dependencies in every step that runs stages; with an
    engine, pull requests and main get their own GPU labels. [pure]"""
    inputs = install.inputs
    if inputs:
        lines = "".join(f"{RUN_STEP_INDENT}{k}: {_yaml_scalar(v)}\n" for k, v in inputs.items())
        text = text.replace(RUN_STEP, RUN_STEP + lines)
    if install.pip_cache_key:
        text = text.replace(RUN_ACTION_STEP, python_step(install.pip_cache_key) + RUN_ACTION_STEP)
    text = text.replace(ACTION_PLACEHOLDER, f"{action_ref} # ci-ml v{__version__}")
    text = text.replace(f"[{DEFAULT_GPU_LABELS}]", f"[{', '.join(gpu_labels)}]")
    if engine:
        text = text.replace(PR_GPU_RUNNER, f"  CI_ML_GPU_RUNNER: {', '.join(engine.pr)}\n")
        text = text.replace(MAIN_GPU_RUNNER, f"  CI_ML_GPU_RUNNER: {', '.join(engine.main)}\n")
    return text.replace("  CI_ML_PIPELINE: .\n", f"  CI_ML_PIPELINE: {pipeline or '.'}\n")


RUN_STEP_INDENT = " " * 10
RUN_STEP = f"{RUN_STEP_INDENT}command: run\n"
RUN_ACTION_STEP = f"      - uses: {ACTION_PLACEHOLDER}\n        with:\n{RUN_STEP}"


def python_step(key_file: str) -> str:
    """The step that gives the stages a known Python and restores pip's download cache,
    keyed by `key_file` and saved when the job ends. The Actions cache is scoped by branch: a
    pull request reads main's entry but can only write its own (docs/security.md). [pure]"""
    return (
        f"      - uses: {SETUP_PYTHON}\n"
        "        with:\n"
        f'          python-version: "{STAGES_PYTHON}" # the Python the stages run with\n'
        "          cache: pip # pip's downloads, kept in the Actions cache\n"
        f"          cache-dependency-path: {_yaml_scalar(key_file)}\n"
    )


def detect_install(repo_root: Path, pipeline_dir: Path) -> Install:
    """The action's `requirements` or `setup` input, from the first of requirements.txt,
    pyproject.toml ([project]) and environment.yml found in the pipeline's directory, then
    the repository root."""
    for directory in dict.fromkeys([pipeline_dir, repo_root]):
        rel = directory.relative_to(repo_root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        if (directory / "requirements.txt").is_file():
            requirements = f"{prefix}requirements.txt"
            return Install({"requirements": requirements}, pip_cache_key=requirements)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_project_table(pyproject):
            setup = f"python -m pip install ./{prefix}".rstrip("/")
            return Install({"setup": setup}, pip_cache_key=f"{prefix}pyproject.toml")
        for name in ("environment.yml", "environment.yaml"):
            if (directory / name).is_file():
                return Install({"setup": f"conda env update --name base --file {prefix}{name}"})
    return NOTHING_TO_INSTALL


def _has_project_table(pyproject: Path) -> bool:
    try:
        doc = parse_params_text(pyproject.name, pyproject.read_text(encoding="utf-8"))
    except (PipelineError, UnicodeDecodeError):
        return False
    return isinstance(doc.get("project"), dict)


def _yaml_scalar(value: str) -> str:
    return value if re.fullmatch(r"[\w./ -]+", value) and ": " not in value else repr(value)


def starter_config(pipeline_dir: Path, gpu_labels: list[str], cache: str) -> str:
    lines = [
        "# ci-ml settings (docs/configuration.md). The stages live in dvc.yaml.",
        "base-branch: main",
        "runner: [ubuntu-latest]",
        f"gpu-runner: [{', '.join(gpu_labels)}]",
    ]
    if cache:
        lines.append(f"cache: {cache}")
    lines += ["defaults:", "  timeout: 3600"]
    if (pipeline_dir / "dvc.yaml").is_file():
        # Empty mappings written as bare keys, so the examples below each one can be
        # uncommented as they are and the file stays valid YAML.
        lines += [
            "stages:",
            "  # train:",
            "  #   gpu: true",
            "metrics-config:",
            "  # accuracy: {better: higher, max-regression: 0.01}",
            "  # loss: {better: lower, on-missing: warn}",
        ]
    else:
        lines[0] = "# ci-ml settings and stages (dvc.yaml syntax; docs/configuration.md)."
        lines += [
            "stages:",
            "  train:",
            "    cmd: python train.py",
            "    deps: [train.py]",
            "    outs: [model.pkl]",
            "    metrics: [{metrics.json: {cache: false}}]",
        ]
    return "\n".join(lines) + "\n"


NEXT_STEPS = """
Next steps:
  1. Repository variables (Settings > Secrets and variables > Actions > Variables):
     CI_ML_CACHE=s3://BUCKET/PREFIX, CI_ML_AWS_REGION, CI_ML_TRUSTED_ROLE_ARN (main) and
     CI_ML_PR_ROLE_ARN (pull requests). docs/aws.md has the IAM roles, OIDC trust conditions
     and the bucket policy that keeps pull requests out of the trusted cache area.
  2. GPU runners: {runners}.
  3. Branch protection: require the check named "ci-ml" ("ci-ml: DIR" for a pipeline in DIR)
     to gate merges on metrics.
  4. Commit the workflows and ci-ml.yaml, and open a pull request."""
