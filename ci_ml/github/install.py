"""The action's install step: ci-ml's venv, from the hash-pinned locks, before ci-ml can run.

action.yml runs this file by path, with the job's Python and under -I, so it imports the
standard library only (nothing else is installed yet) and nothing of ci_ml. It installs the
sets of locked dependencies the action's command needs (`LOCKS`): every job the core set, the
report and comment jobs the report set too (matplotlib and PyGithub, which no other command
imports). uv, pinned by hash in action-uv.txt, installs them: its wheel is fetched from the
index and checked here, without pip, whose start-up and index parsing cost more than the rest
of the fetch; where that fails, pip installs uv; where uv cannot be had or fails, venv + pip.
ci-ml itself is copied in as its wheel lays it out (the package plus its templates), so no
build backend runs.
"""

from __future__ import annotations

import functools
import hashlib
import html
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# Set -> its lock in ci_ml/. Each is a whole `uv pip compile --universal --generate-hashes`
# output, the report set compiled with the core set as constraints, so the two agree.
LOCKS = {"core": "action-requirements.txt", "report": "action-requirements-report.txt"}
# The commands that draw plots or talk to GitHub's API, and so need the report set.
REPORT_COMMANDS = ("report", "comment")
# The report set's modules that ci_ml imports, and their distributions.
REPORT_MODULES = {"matplotlib": "matplotlib", "numpy": "numpy", "github": "PyGithub"}
DEFAULT_INDEX = "https://pypi.org/simple"
_TIMEOUT_S = 30
_LINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class FetchError(Exception):
    """uv could not be fetched from the index; pip is tried next."""


def lock_sets(command: str) -> tuple[str, ...]:
    """The lock sets `command` needs. [pure]"""
    return ("core", "report") if command in REPORT_COMMANDS else ("core",)


def missing_report_set(module: str, command: str) -> str | None:
    """The error for a venv that the action built without the report set, which `command`
    needs for `module`; None for a module outside the set. [pure]"""
    top = module.partition(".")[0]
    if top not in REPORT_MODULES:
        return None
    return (
        f"ci-ml {command} needs {REPORT_MODULES[top]} (module {top!r}), which this environment "
        f"lacks. The action installs it, with the rest of the report set in "
        f"ci_ml/{LOCKS['report']}, only for the commands {' and '.join(REPORT_COMMANDS)}: run "
        f"{command} through the action with `command: {command}`, or install ci-ml with pip, "
        f"which brings every dependency."
    )


def pinned_uv(requirements: str) -> tuple[str, frozenset[str]]:
    """uv's version and the sha256 digests of its wheels, from action-uv.txt. [pure]"""
    version = re.search(r"^uv==(\S+)", requirements, re.M)
    digests = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", requirements))
    if version is None or not digests:
        raise FetchError("action-uv.txt pins no uv version with hashes")
    return version[1], digests


def platform_fits(tag: str, *, system: str, machine: str, runtime: tuple[str, str]) -> bool:
    """Whether a wheel's platform tag runs here, for the tags uv publishes. `runtime` is
    ("glibc", version) or ("", "") (musl) on Linux, ("macos", version) on macOS. [pure]"""
    if system == "Linux":
        modern = re.fullmatch(r"(manylinux|musllinux)_(\d+)_(\d+)_(\w+)", tag)
        legacy = re.fullmatch(r"(manylinux\d+)_(\w+)", tag)
        if modern:
            kind, need, arch = modern[1], (int(modern[2]), int(modern[3])), modern[4]
        elif legacy and legacy[1] in _LINUX_LEGACY:
            kind, need, arch = "manylinux", _LINUX_LEGACY[legacy[1]], legacy[2]
        else:
            return False
        if arch != machine:
            return False
        if runtime[0] != "glibc":  # musl, whose version platform.libc_ver() does not tell
            return kind == "musllinux"
        return kind == "manylinux" and need <= _version(runtime[1])
    if system == "Darwin":
        mac = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag)
        return bool(
            mac
            and mac[3] in (machine, "universal2")
            and (int(mac[1]), int(mac[2])) <= _version(runtime[1])
        )
    return False


def _version(text: str) -> tuple[int, int]:
    major, minor, *_ = [*map(int, re.findall(r"\d+", text)), 0, 0]
    return major, minor


def pick_wheel(
    filenames: Iterable[str], *, version: str, system: str, machine: str, runtime: tuple[str, str]
) -> str | None:
    """uv's wheel of `version` for this machine among an index's file names. [pure]"""
    for name in sorted(filenames):
        if not (name.startswith(f"uv-{version}-") and name.endswith(".whl")):
            continue
        tags = name[: -len(".whl")].rsplit("-", 1)[1].split(".")
        if any(platform_fits(t, system=system, machine=machine, runtime=runtime) for t in tags):
            return name
    return None


def index_links(body: bytes, content_type: str, page_url: str) -> dict[str, str]:
    """File name -> absolute URL, from a simple-index page in JSON (PEP 691) or HTML. [pure]"""
    if "json" in content_type:
        files = json.loads(body)["files"]
        pairs = [(f["filename"], f["url"]) for f in files]
    else:
        pairs = [
            (html.unescape(text).strip(), html.unescape(href))
            for href, text in re.findall(r'<a\s[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', body.decode())
        ]
    return {name: urllib.parse.urljoin(page_url, url) for name, url in pairs}


def fetch_uv(dest: Path, *, requirements: str, index: str) -> Path:
    """uv's binary from its pinned wheel on `index`, checked against the pinned hashes."""
    version, digests = pinned_uv(requirements)
    page = index.rstrip("/") + "/uv/"
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    with urllib.request.urlopen(
        urllib.request.Request(page, headers={"Accept": accept}), timeout=_TIMEOUT_S
    ) as response:
        links = index_links(response.read(), response.headers.get("Content-Type", ""), page)
    system = platform.system()
    runtime = ("macos", platform.mac_ver()[0]) if system == "Darwin" else platform.libc_ver()
    name = pick_wheel(
        links, version=version, system=system, machine=platform.machine(), runtime=runtime
    )
    if name is None:
        raise FetchError(f"{page} has no uv {version} wheel for this machine")
    with urllib.request.urlopen(links[name], timeout=_TIMEOUT_S) as response:
        wheel = response.read()
    if hashlib.sha256(wheel).hexdigest() not in digests:
        raise FetchError(f"{name} does not match the hashes pinned in action-uv.txt")
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / f"uv.tmp-{os.getpid()}"
    with (
        zipfile.ZipFile(io.BytesIO(wheel)) as archive,
        archive.open(f"uv-{version}.data/scripts/uv") as source,
        partial.open("wb") as out,
    ):
        shutil.copyfileobj(source, out, 1 << 20)  # in pieces: the binary is some 40 MB
    partial.chmod(0o755)
    return partial.replace(dest / "uv")


def venv_key(root: Path) -> str:
    """The venv's name in the tool cache: the action's sources, the Python and the OS."""
    digest = hashlib.sha256(f"{sys.version}|{platform.platform()}".encode())
    sources = [
        root / "pyproject.toml",
        *sorted(root.glob("ci_ml/**/*.py")),
        *sorted(root.glob("ci_ml/action-*.txt")),
        *sorted(root.glob("templates/**/*.*")),
    ]
    for path in sources:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def venv_dir(env: Mapping[str, str], root: Path) -> Path:
    if env.get("INPUT_REUSE_VENV", "").strip().lower() == "true":
        # One venv per action source, Python and OS in the runner's tool cache, reused by later
        # jobs on the machine. Any job there can write it: only for runners whose jobs are all
        # trusted alike (docs/action.md).
        cache = env.get("RUNNER_TOOL_CACHE") or env["RUNNER_TEMP"]
        return Path(cache) / "ci-ml" / venv_key(root)
    return Path(env["RUNNER_TEMP"]) / "ci-ml" / "venv"


def _run(argv: Sequence[str | Path], *, cwd: Path) -> bool:
    """Runs a tool; its errors go to the step's log. False when it failed."""
    print("+", " ".join(map(str, argv)), flush=True)
    try:
        return subprocess.run([str(a) for a in argv], cwd=cwd, check=False).returncode == 0
    except OSError as e:
        print(f"{argv[0]}: {e}", flush=True)
        return False


class Installer:
    """Installs lock sets into venvs: with uv while it can be had and works, else with pip."""

    def __init__(self, root: Path, env: Mapping[str, str], work: Path) -> None:
        self.root, self.env, self.work = root, env, work

    @functools.cached_property
    def uv(self) -> Path | None:
        """uv's binary, got once (None when it cannot be had)."""
        # Kept in RUNNER_TEMP for the job's later steps: a report job's pull step makes the
        # venv and its report step adds the report set, with the same uv.
        kept = Path(self.env["RUNNER_TEMP"]) / "ci-ml" / "uv"
        for binary in (kept / "uv", kept / "pip" / "bin" / "uv"):
            if binary.exists():
                return binary
        uv_lock = self.root / "ci_ml" / "action-uv.txt"
        index = self.env.get("UV_DEFAULT_INDEX") or self.env.get("UV_INDEX_URL") or DEFAULT_INDEX
        try:
            return fetch_uv(kept, requirements=uv_lock.read_text(), index=index)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, FetchError) as e:
            print(f"could not fetch uv ({e}); installing it with pip", flush=True)
        target = kept / "pip"
        pip: list[str | Path] = [sys.executable, "-I", "-m", "pip", "install", "--quiet"]
        pip += ["--disable-pip-version-check", "--no-deps", "--only-binary=:all:"]
        pip += ["--require-hashes", "--target", target, "-r", uv_lock]
        return target / "bin" / "uv" if _run(pip, cwd=self.work) else None

    def _requirements(self, sets: Iterable[str]) -> list[str | Path]:
        return [arg for s in sets for arg in ("-r", self.root / "ci_ml" / LOCKS[s])]

    def create(self, venv: Path, sets: Sequence[str]) -> None:
        """A new venv at `venv` with ci-ml and `sets`."""
        uv = self.uv
        if uv is None or not (self._uv_venv(uv, venv) and self._uv_install(uv, venv, sets)):
            shutil.rmtree(venv, ignore_errors=True)
            if not _run([sys.executable, "-I", "-m", "venv", venv], cwd=self.work):
                raise SystemExit("could not make a venv for ci-ml")
            self._pip_install(venv, sets)
        _copy_ci_ml(self.root, venv)

    def add(self, venv: Path, sets: Sequence[str]) -> None:
        """`sets` added to an existing venv."""
        uv = self.uv
        if uv is None or not self._uv_install(uv, venv, sets):
            python = venv / "bin" / "python"
            if not (venv / "bin" / "pip").exists():  # a venv that uv made has no pip
                _run([python, "-I", "-m", "ensurepip", "--default-pip"], cwd=self.work)
            self._pip_install(venv, sets)

    def _uv_venv(self, uv: Path, venv: Path) -> bool:
        # --no-config: uv would read uv.toml and pyproject.toml from the working directory up.
        return _run(
            [uv, "venv", "--quiet", "--no-config", "--python", sys.executable, venv], cwd=self.work
        )

    def _uv_install(self, uv: Path, venv: Path, sets: Sequence[str]) -> bool:
        argv: list[str | Path] = [uv, "pip", "install", "--quiet", "--no-config"]
        argv += ["--python", venv / "bin" / "python", "--require-hashes"]
        return _run([*argv, *self._requirements(sets)], cwd=self.work)

    def _pip_install(self, venv: Path, sets: Sequence[str]) -> None:
        argv: list[str | Path] = [venv / "bin" / "python", "-I", "-m", "pip", "install"]
        argv += ["--quiet", "--disable-pip-version-check", "--require-hashes"]
        if not _run([*argv, *self._requirements(sets)], cwd=self.work):
            raise SystemExit(f"could not install ci-ml's dependencies ({', '.join(sets)})")


def _copy_ci_ml(root: Path, venv: Path) -> None:
    """ci-ml as its wheel lays it out: the package, with the templates inside it."""
    [site] = venv.glob("lib/*/site-packages")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / "ci_ml", site / "ci_ml", ignore=ignore)
    shutil.copytree(root / "templates", site / "ci_ml" / "templates", ignore=ignore)


def _mark(venv: Path, sets: Iterable[str]) -> None:
    for name in sets:
        (venv / f".installed-{name}").touch()


def _has(venv: Path, sets: Iterable[str]) -> bool:
    return all((venv / f".installed-{name}").exists() for name in sets)


def install(env: Mapping[str, str]) -> Path:
    """The venv with what the action's command needs, made or completed; its path."""
    root = Path(env["GITHUB_ACTION_PATH"])
    sets = lock_sets(env.get("INPUT_COMMAND", "").strip())
    venv = venv_dir(env, root)
    missing = [name for name in sets if not _has(venv, [name])]
    if not missing:
        return venv
    work = venv.with_name(f"{venv.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    installer = Installer(root, env, work)
    try:
        if "core" not in missing:  # an earlier step of the job made it: add the report set
            installer.add(venv, missing)
            _mark(venv, missing)
            return venv
        # A new venv is built aside and moved into place whole, so a venv that is there is
        # complete; a concurrent job (reuse-venv) may get there first.
        fresh = work / "venv"
        installer.create(fresh, sets)
        _mark(fresh, sets)
        try:
            fresh.rename(venv)
        except OSError:
            if not _has(venv, sets):  # a broken leftover in the way: use ours
                kept = venv.with_name(f"{venv.name}.{os.getpid()}")
                fresh.rename(kept)
                return kept
        return venv
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    env = os.environ
    venv = install(env)
    link = Path(env["RUNNER_TEMP"]) / "ci-ml-venv"
    tmp_link = link.with_name(f"{link.name}.{os.getpid()}")
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(venv)
    tmp_link.replace(link)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
