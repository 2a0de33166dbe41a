"""A real git repository in a temp dir, and the real CLI run against it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci_ml.cli import main


@dataclass
class GitRepo:
    path: Path

    @classmethod
    def init(cls, path: Path, branch: str = "main") -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "-b", branch, str(path)], check=True)
        return cls(path)

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=self.path, check=True, capture_output=True, text=True
        )
        return proc.stdout.strip()

    def write(self, files: Mapping[str, str | bytes | None], commit: str | None = None) -> None:
        """Write (or, for None, delete) files; commit everything when `commit` is a message."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        if commit is not None:
            self.commit(commit)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def run_cli(*argv: str, cwd: Path, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run `ci-ml ARGV` in-process in `cwd`; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    full_env = {**os.environ, **(env or {})}
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv), env=full_env)
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def plan_json(repo: GitRepo, *args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    code, out, err = run_cli("plan", "--json", *args, cwd=repo.path, env=env)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def reasons(document: Mapping[str, Any], name: str) -> list[str]:
    stage = next(s for s in document["stages"] if s["name"] == name)
    return [r["text"] for r in stage["reasons"]]


def read_github_output(path: Path) -> dict[str, str]:
    """Parse a $GITHUB_OUTPUT file the way the runner does (`name<<DELIM` heredocs)."""
    values: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        name, sep, delimiter = line.partition("<<")
        if not sep:
            key, _, value = line.partition("=")
            values[key] = value
            continue
        body = []
        for inner in lines:
            if inner == delimiter:
                break
            body.append(inner)
        values[name] = "\n".join(body)
    return values
