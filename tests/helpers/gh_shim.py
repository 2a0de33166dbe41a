"""A stand-in for the `gh` CLI in workflows run under act: the two calls retrain.yml's open-pr
job makes, answered from act's artifact store and the GitHub contract server.

    gh run download RUN --name NAME --dir DIR   the artifact NAME, from any run act stored
    gh pr create --head B --title T --body-file F   recorded in <act_home>/gh-pr-create.json

The pull request is recorded, not sent: the GitHub contract server's OpenAPI subset has no
`pulls/create` yet (tests/fixtures/github-openapi/README.md says how operations are added).

`install(directory, act_home)` writes an executable `gh` there; put the directory first on the
runner's PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PR_CREATE_RECORD = "gh-pr-create.json"


def install(directory: Path, act_home: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / "gh"
    tool.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.helpers.gh_shim import main\n"
        f"sys.exit(main(sys.argv[1:], act_home={str(act_home)!r}))\n",
        encoding="utf-8",
    )
    tool.chmod(0o755)
    return directory


def main(argv: list[str], *, act_home: str) -> int:
    if argv[:2] == ["run", "download"]:
        parser = argparse.ArgumentParser(prog="gh run download")
        parser.add_argument("run_id")
        parser.add_argument("--name", required=True)
        parser.add_argument("--dir", required=True)
        args = parser.parse_args(argv[2:])
        return _download(Path(act_home), args.name, Path(args.dir))
    if argv[:2] == ["pr", "create"]:
        parser = argparse.ArgumentParser(prog="gh pr create")
        parser.add_argument("--head", required=True)
        parser.add_argument("--title", required=True)
        parser.add_argument("--body-file", required=True)
        parser.add_argument("--base", default="main")
        args = parser.parse_args(argv[2:])
        body = Path(args.body_file).read_text(encoding="utf-8")
        return _create_pull(Path(act_home), args.head, args.base, args.title, body)
    print(f"gh shim: unsupported: gh {' '.join(argv)}", file=sys.stderr)
    return 2


def _download(act_home: Path, name: str, dest: Path) -> int:
    archives = [
        a
        for a in sorted(act_home.glob("run-*/artifacts/**/*.zip"))
        if name in a.parts or a.stem == name
    ]
    if not archives:
        print(f"gh shim: no artifact named {name}", file=sys.stderr)
        return 1
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archives[-1]) as zipped:
        zipped.extractall(dest)
    return 0


def _create_pull(act_home: Path, head: str, base: str, title: str, body: str) -> int:
    record = act_home / PR_CREATE_RECORD
    calls = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else []
    calls.append({"head": head, "base": base, "title": title, "body": body})
    record.write_text(json.dumps(calls), encoding="utf-8")
    print(f"https://github.com/{os.environ.get('GITHUB_REPOSITORY', 'owner/repo')}/pull/1")
    return 0
