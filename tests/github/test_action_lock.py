"""The action installs its dependencies from hash-pinned locks in two sets: the core set for
every command, the report set added for report and comment. Together they must pin exactly
what pyproject.toml asks for, each pin with hashes, the two agreeing wherever they overlap."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from ci_ml.github.action import COMMANDS
from ci_ml.github.install import LOCKS, REPORT_COMMANDS, REPORT_MODULES
from tests.helpers.github_server import GitHubServer
from tests.helpers.gitrepo import GitRepo
from tests.helpers.moto_server import S3Bucket

ROOT = Path(__file__).resolve().parents[2]
CI_ML = ROOT / "ci_ml"
_PIN = re.compile(r"^(?P<name>[a-z0-9._-]+)==(?P<version>\S+)(?: ; (?P<marker>[^\\]+?))? \\$", re.M)


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower())


def _blocks(lock: Path) -> list[str]:
    """One text block per pinned requirement: its line, hashes and `# via` comments."""
    text = lock.read_text(encoding="utf-8")
    return [b for b in re.split(r"\n(?=[a-z0-9])", text) if _PIN.match(b)]


def pins(set_name: str) -> dict[str, dict[str, frozenset[str]]]:
    """Name -> version -> its hashes, for one lock set."""
    found: dict[str, dict[str, frozenset[str]]] = {}
    for block in _blocks(CI_ML / LOCKS[set_name]):
        match = _PIN.match(block)
        assert match
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
        found.setdefault(match["name"], {})[match["version"]] = hashes
    return found


def _inputs(set_name: str) -> list[str]:
    source = CI_ML / LOCKS[set_name].replace(".txt", ".in")
    lines = source.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("set_name", sorted(LOCKS))
def test_every_pin_carries_a_hash(set_name: str) -> None:
    blocks = _blocks(CI_ML / LOCKS[set_name])
    assert blocks
    assert [b.split()[0] for b in blocks if "--hash=sha256:" not in b] == []


def test_the_two_sets_are_pyprojects_dependencies_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    core, report = _inputs("core"), _inputs("report")
    assert sorted(core + report) == sorted(project["project"]["dependencies"])
    for set_name, requirements in (("core", core), ("report", report)):
        assert {_name(r) for r in requirements} - set(pins(set_name)) == set()


@pytest.mark.parametrize("set_name", sorted(LOCKS))
def test_each_lock_is_compiled_from_its_input(set_name: str) -> None:
    """The header uv writes names the command: the documented one, so the locks agree."""
    command = "uv pip compile --universal --generate-hashes --python-version 3.10"
    lock = LOCKS[set_name]
    source = lock.replace(".txt", ".in")
    constraints = f" -c ci_ml/{LOCKS['core']}" if set_name != "core" else ""
    expected = f"#    {command} ci_ml/{source}{constraints} -o ci_ml/{lock}"
    assert (CI_ML / lock).read_text(encoding="utf-8").splitlines()[1] == expected
    assert expected.lstrip("# ") in (CI_ML / source).read_text(encoding="utf-8")


def test_shared_pins_agree() -> None:
    core, report = pins("core"), pins("report")
    shared = sorted(set(core) & set(report))
    assert "requests" in shared
    assert {name: core[name] for name in shared} == {name: report[name] for name in shared}


def test_only_the_report_set_holds_plots_and_githubs_api() -> None:
    heavy = {"matplotlib", "numpy", "pillow", "fonttools", "contourpy", "kiwisolver", "pygithub"}
    assert heavy & set(pins("core")) == set()
    assert heavy - set(pins("report")) == set()
    assert {_name(d) for d in REPORT_MODULES.values()} <= set(pins("report"))


def test_uv_is_pinned_by_hash_too() -> None:
    text = (CI_ML / "action-uv.txt").read_text(encoding="utf-8")
    assert re.search(r"^uv==\S+ \\$", text, re.M)
    assert text.count("--hash=sha256:") >= 5


# -- each command imports only what its set installs -------------------------------------------

# The real action entry point in a fresh interpreter whose imports outside the standard library
# are limited to ci_ml and the modules of the given lock sets: anything else is absent, as in
# the venv the action builds.
_DRIVER = """
import importlib.abc, sys
allowed = frozenset(sys.argv.pop(1).split(","))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in sys.stdlib_module_names:
            return None
        raise ModuleNotFoundError(f"No module named {name!r} (outside the sets)", name=name)
sys.meta_path.insert(0, Absent())
from ci_ml.github.action import main
raise SystemExit(main())
"""
# The commands the action runs with the core set alone, in an order where each finds what it
# reads (the run fills the cache that push, pull and gc look at), then inputs that reach other
# code: markdown and mermaid output, a retrain with --set, MLflow logging (to a port where
# nothing listens: a warning, once the client is loaded).
CORE_STEPS: tuple[tuple[str, dict[str, str]], ...] = (
    *((command, {}) for command in ("plan", "run", "push", "status", "diff", "pull", "gc", "dag")),
    ("diff", {"args": "--md"}),
    ("dag", {"args": "--mermaid"}),
    ("run", {"force": "true", "params": "acc=0.97", "mlflow_tracking_uri": "http://127.0.0.1:9"}),
)
DVC_YAML = """\
stages:
  train:
    cmd: >-
      printf '{"acc": ${acc}}' > metrics.json &&
      printf 'epoch,loss\\n1,0.5\\n2,${loss}\\n' > curve.csv
    params: [acc, loss]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - curve.csv:
          x: epoch
          y: loss
"""


def _modules(*set_names: str) -> str:
    """The top-level modules of the sets' distributions that apply to this Python."""
    from importlib.metadata import packages_distributions

    from packaging.markers import Marker

    names = set()
    for set_name in set_names:
        for block in _blocks(CI_ML / LOCKS[set_name]):
            match = _PIN.match(block)
            assert match
            if match["marker"] is None or Marker(match["marker"]).evaluate():
                names.add(match["name"])
    modules = {"ci_ml"} | {
        module
        for module, dists in packages_distributions().items()
        if any(_name(d) in names for d in dists)
    }
    return ",".join(sorted(modules))


class Job:
    """A PR's jobs on one runner: a repo with a base and a head commit, an S3 cache and the
    GitHub contract server; `step` runs the action's command under the driver."""

    def __init__(self, tmp_path: Path, s3_url: str, github: GitHubServer) -> None:
        origin = GitRepo.init(tmp_path / "origin")
        origin.write(
            {
                "dvc.yaml": DVC_YAML,
                "params.yaml": "acc: 0.9\nloss: 0.3\n",
                ".gitignore": "metrics.json\ncurve.csv\n",
            },
            commit="base",
        )
        base_sha = origin.git("rev-parse", "HEAD")
        origin.git("checkout", "-q", "-b", "pr")
        origin.write({"params.yaml": "acc: 0.95\nloss: 0.2\n"}, commit="pr")
        head_sha = origin.git("rev-parse", "HEAD")
        self.workspace = tmp_path / "workspace"
        clone = ["git", "clone", "-q", "--branch", "pr", str(origin.path), str(self.workspace)]
        subprocess.run(clone, check=True)
        github.add_pull(7, head_sha=head_sha, base_sha=base_sha)
        side = {"repo": {"full_name": github.repository}}
        event = {
            "number": 7,
            "pull_request": {
                "number": 7,
                "head": {"sha": head_sha, "ref": "pr", **side},
                "base": {"sha": base_sha, "ref": "main", **side},
            },
            "repository": {"default_branch": "main", "full_name": github.repository},
        }
        (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
        self.runner_temp = tmp_path / "runner-temp"
        self.runner_temp.mkdir()
        self.env = {
            **os.environ,
            **github.env(),
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
            "GITHUB_REF": "refs/pull/7/merge",
            "GITHUB_BASE_REF": "main",
            "GITHUB_RUN_ID": "1",
            "GITHUB_WORKFLOW": "ci-ml",
            "RUNNER_TEMP": str(self.runner_temp),
            "GITHUB_OUTPUT": str(self.runner_temp / "output"),
            "GITHUB_STEP_SUMMARY": str(self.runner_temp / "summary.md"),
            "INPUT_CACHE": s3_url,
        }

    def step(
        self, command: str, *set_names: str, **inputs: str
    ) -> subprocess.CompletedProcess[str]:
        values = {"command": command, **inputs}
        env = {**self.env, **{f"INPUT_{k.upper()}": v for k, v in values.items()}}
        argv = [sys.executable, "-I", "-c", _DRIVER, _modules(*set_names)]
        return subprocess.run(
            argv, cwd=self.workspace, env=env, capture_output=True, text=True, check=False
        )


@pytest.fixture
def job(tmp_path: Path, s3_bucket: S3Bucket, github_server: GitHubServer) -> Job:
    return Job(tmp_path, f"{s3_bucket.url}/ci-ml", github_server)


def test_every_command_but_report_and_comment_needs_only_the_core_set(job: Job) -> None:
    assert {c for c, _ in CORE_STEPS} == set(COMMANDS) - set(REPORT_COMMANDS)
    for command, inputs in CORE_STEPS:
        done = job.step(command, "core", **inputs)
        assert done.returncode == 0, f"{command} {inputs}:\n{done.stdout}{done.stderr}"


def test_report_and_comment_need_only_the_core_and_report_sets(
    job: Job, github_server: GitHubServer
) -> None:
    assert job.step("run", "core").returncode == 0
    for command in REPORT_COMMANDS:
        done = job.step(command, "core", "report")
        assert done.returncode == 0, f"{command}:\n{done.stdout}{done.stderr}"
    assert list((job.runner_temp / "ci-ml-report" / "plots").glob("*.png"))
    [comment] = github_server.comments_on(7)
    assert "curve.csv" in comment.body


def test_report_without_the_report_set_says_what_is_missing(job: Job) -> None:
    assert job.step("run", "core").returncode == 0
    done = job.step("report", "core")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "error: ci-ml report needs matplotlib (module 'matplotlib'), which this environment "
        "lacks. The action installs it, with the rest of the report set in "
        "ci_ml/action-requirements-report.txt, only for the commands report and comment: run "
        "report through the action with `command: report`, or install ci-ml with pip, which "
        "brings every dependency."
    )
