"""The clients: ci-ml (through `transfer_child.py`), awscli, s5cmd and DVC, each pushing,
re-pushing and pulling a case against moto, and the peers' virtual environment they run from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from transfer_child import stage_key
from transfer_model import Case, Settings, Step, Tool, log

DVC_VERSION = "3.67.1"
PEERS = ("awscli", "s5cmd", f"dvc[s3]=={DVC_VERSION}")
CHILD_SCRIPT = Path(__file__).resolve().with_name("transfer_child.py")  # ci-ml's side
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def client_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its AWS settings, pointed at fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CI_ML_", "DVC_"))}
    # A developer's ~/.aws/config must not change endpoints, checksums or concurrency. An empty
    # file, not /dev/null: aiobotocore (DVC) refuses a config path that is not a regular file.
    empty = settings.work / "aws-config-empty"
    empty.touch()
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(empty)
    return {**env, **CREDENTIALS, **(extra or {})}


def _s3_key(case: Case) -> str:
    return f"{case.out}/" if case.is_dir else case.out


class CiMl:
    """ci-ml's cache API, driven in a subprocess of this script (see `child_main`)."""

    name = "ci-ml"

    def __init__(self, settings: Settings) -> None:
        self._env = client_env(settings, {"AWS_ENDPOINT_URL_S3": settings.endpoint})

    def prepare_push(self, case: Case, bucket: str) -> None:
        return None

    def push(self, case: Case, bucket: str) -> Step:
        return self._step("push", case, bucket, case.root)

    def nochange(self, case: Case, bucket: str) -> Step:
        return self._step("nochange", case, bucket, case.root)

    def recheck(self, case: Case, bucket: str) -> Step:
        return self._step("recheck", case, bucket, case.root)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        _empty_dir(dest)
        return dest / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        return self._step("pull", case, bucket, dest)

    def _step(self, op: str, case: Case, bucket: str, root: Path) -> Step:
        argv = [sys.executable, str(CHILD_SCRIPT), op]
        argv += ["--root", str(root), "--out", case.out, "--url", f"s3://{bucket}/cache"]
        argv += ["--key", stage_key(case)]
        return Step(argv=argv, cwd=root, env=self._env)


class AwsCli:
    """`aws s3 cp` for pushes and pulls, `aws s3 sync` for the second push."""

    name = "awscli"

    def __init__(self, settings: Settings) -> None:
        self._aws = str(settings.peers / "bin" / "aws")
        self._endpoint = settings.endpoint
        self._env = client_env(settings)

    def prepare_push(self, case: Case, bucket: str) -> None:
        return None

    def push(self, case: Case, bucket: str) -> Step:
        return self._s3("cp", case.root / case.out, f"s3://{bucket}/{case.out}", case)

    def nochange(self, case: Case, bucket: str) -> Step:
        argv = [self._aws, "s3", "sync", "--only-show-errors", "--endpoint-url", self._endpoint]
        return Step(argv=[*argv, f"{case.root}/", f"s3://{bucket}/"], cwd=case.root, env=self._env)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        _empty_dir(dest)
        return dest / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        return self._s3("cp", f"s3://{bucket}/{case.out}", dest / case.out, case)

    def _s3(self, verb: str, source: object, target: object, case: Case) -> Step:
        argv = [self._aws, "s3", verb, "--only-show-errors", "--endpoint-url", self._endpoint]
        if case.is_dir:
            argv.append("--recursive")
        return Step(argv=[*argv, str(source), str(target)], cwd=case.root, env=self._env)


class S5cmd:
    """`s5cmd cp` for pushes and pulls, `s5cmd sync` for the second push (default workers)."""

    name = "s5cmd"

    def __init__(self, settings: Settings) -> None:
        # The wheel's console script is a Python wrapper; time the Go binary itself.
        found = sorted(settings.peers.glob("lib/python*/site-packages/s5cmd/bin/s5cmd"))
        self._s5cmd = str(found[0]) if found else str(settings.peers / "bin" / "s5cmd")
        self._base = [self._s5cmd, "--endpoint-url", settings.endpoint, "--log", "error"]
        self._env = client_env(settings)

    def prepare_push(self, case: Case, bucket: str) -> None:
        return None

    def push(self, case: Case, bucket: str) -> Step:
        source = case.root / case.out
        target = f"s3://{bucket}/{_s3_key(case)}"
        return self._step("cp", f"{source}/*" if case.is_dir else str(source), target, case)

    def nochange(self, case: Case, bucket: str) -> Step:
        return self._step("sync", f"{case.root}/", f"s3://{bucket}/", case)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        _empty_dir(dest)
        return dest / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        source = f"s3://{bucket}/{_s3_key(case)}"
        target = dest / case.out
        if case.is_dir:
            return self._step("cp", f"{source}*", f"{target}/", case)
        return self._step("cp", source, str(target), case)

    def _step(self, verb: str, source: str, target: str, case: Case) -> Step:
        return Step(argv=[*self._base, verb, source, target], cwd=case.root, env=self._env)


class Dvc:
    """`dvc push` / `dvc pull` in a DVC repo (made once per case, data added with `dvc add`)."""

    name = "dvc"

    def __init__(self, settings: Settings) -> None:
        self._dvc = str(settings.peers / "bin" / "dvc")
        self._endpoint = settings.endpoint
        self._work = settings.work
        self._settings = settings

    def repo(self, case: Case) -> Path:
        return self._work / f"dvc-{case.name}"

    def env(self, case: Case) -> dict[str, str]:
        # DVC's state and index go to a directory we own (and empty for a cold pull).
        site = self._work / f"dvc-{case.name}.site"
        return client_env(
            self._settings, {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(site)}
        )

    def build(self, case: Case) -> None:
        """The repo with the case's data `dvc add`ed, unless the one on disk has it already."""
        repo, marker = self.repo(case), self._work / f"dvc-{case.name}.spec"
        spec = f"{case.size} {case.files} {DVC_VERSION}"
        if marker.exists() and marker.read_text(encoding="utf-8") == spec and self._whole(case):
            return
        marker.unlink(missing_ok=True)
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(self.env(case)["DVC_SITE_CACHE_DIR"], ignore_errors=True)
        repo.mkdir(parents=True)
        self._run(case, "init", "--no-scm", "-q")
        if case.is_dir:
            shutil.copytree(case.root / case.out, repo / case.out)
        else:
            shutil.copy2(case.root / case.out, repo / case.out)
        self._run(case, "add", "-q", case.out)
        marker.write_text(spec, encoding="utf-8")

    def prepare_push(self, case: Case, bucket: str) -> None:
        self._run(case, "remote", "add", "-f", "-d", "bench", f"s3://{bucket}/dvc")
        self._run(case, "remote", "modify", "bench", "endpointurl", self._endpoint)

    def push(self, case: Case, bucket: str) -> Step:
        return Step(argv=[self._dvc, "push", "-q"], cwd=self.repo(case), env=self.env(case))

    def nochange(self, case: Case, bucket: str) -> Step:
        return self.push(case, bucket)

    def prepare_pull(self, case: Case, dest: Path) -> Path:
        """A fresh clone: no cache, no state, no data; only the .dvc file and the config."""
        repo = self.repo(case)
        for path in (repo / ".dvc" / "cache", repo / ".dvc" / "tmp", repo / case.out):
            _remove(path)
        _remove(Path(self.env(case)["DVC_SITE_CACHE_DIR"]))
        return repo / case.out

    def pull(self, case: Case, bucket: str, dest: Path) -> Step:
        return Step(argv=[self._dvc, "pull", "-q"], cwd=self.repo(case), env=self.env(case))

    def _whole(self, case: Case) -> bool:
        repo = self.repo(case)
        return (repo / ".dvc" / "cache").is_dir() and (repo / case.out).exists()

    def _run(self, case: Case, *args: str) -> None:
        subprocess.run(
            [self._dvc, *args],
            cwd=self.repo(case),
            env=self.env(case),
            stdout=subprocess.DEVNULL,  # "Setting 'bench' as a default remote." and the like
            check=True,
            timeout=600,
        )


TOOLS: dict[str, Callable[[Settings], Tool]] = {
    "ci-ml": CiMl,
    "awscli": AwsCli,
    "s5cmd": S5cmd,
    "dvc": Dvc,
}


def ensure_peers(venv: Path) -> Path:
    """awscli, s5cmd and dvc[s3] in their own virtual environment, from PyPI when missing."""
    if _peers_ready(venv):
        return venv
    log(f"installing {' '.join(PEERS)} into {venv}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *PEERS], check=True)
    if not _peers_ready(venv):
        raise SystemExit(f"{venv}: the peers did not install; see pip's output above")
    return venv


def _peers_ready(venv: Path) -> bool:
    bin_dir = venv / "bin"
    if not all((bin_dir / name).exists() for name in ("aws", "s5cmd", "dvc", "python")):
        return False
    probe = "import dvc_s3, dvc.version; print(dvc.version.__version__)"
    found = command_output([str(bin_dir / "python"), "-c", probe])
    return found.splitlines()[-1:] == [DVC_VERSION]


def _empty_dir(path: Path) -> None:
    _remove(path)
    path.mkdir(parents=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def command_output(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return (proc.stdout + proc.stderr).strip()
