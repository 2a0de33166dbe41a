"""A `ci-ml run` killed in the middle of a push leaves the cache consistent: no manifest names
a missing object, and the next run completes the entry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.gitrepo import GitRepo, run_cli

# Big enough that copying it into the cache takes a while to notice and interrupt.
STAGE = "stages:\n  big:\n    cmd: dd if=/dev/zero of=big.bin bs=1M count=600 status=none\n    outs: [big.bin]\n"


def test_kill_during_push_leaves_no_manifest_and_the_next_run_completes(
    git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.write({"dvc.yaml": STAGE, ".gitignore": "big.bin\n"}, commit="base")
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ci_ml",
            "run",
            "--all",
            "--cache",
            str(cache),
            "--trust",
            "trusted",
        ],
        cwd=git_repo.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    objects = cache / "trusted" / "objects"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if objects.is_dir() and any(objects.rglob("*")):
            os.kill(proc.pid, signal.SIGKILL)  # an object is on its way: the manifest is not
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the push finished before it could be killed"
    assert not list(cache.glob("*/manifests/*.json"))

    code, out, err = run_cli(
        "run", "--all", "--json", "--cache", str(cache), "--trust", "trusted", cwd=git_repo.path
    )
    assert code == 0, err
    assert [s["status"] for s in json.loads(out)["stages"]] == ["ran"]
    [manifest] = cache.glob("trusted/manifests/*.json")
    digest = json.loads(manifest.read_text())["outputs"][0]["digest"]
    assert (objects / digest[:2] / digest[2:]).stat().st_size == 600 << 20


def test_temp_files_of_killed_runs_are_swept(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write(
        {
            "dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n",
            ".gitignore": "a.txt\n",
        },
        commit="base",
    )
    cache = tmp_path / "cache"
    (cache / "trusted" / "objects" / "ab").mkdir(parents=True)
    dead = 2**22 + 12345  # above the usual pid_max: no such process
    stale_object = cache / "trusted" / "objects" / "ab" / f".abcd.tmp-{dead}-0123abcd"
    stale_object.write_bytes(b"half an object")
    live_object = cache / "trusted" / "objects" / "ab" / f".abce.tmp-{os.getpid()}-0123abcd"
    live_object.write_bytes(b"being written right now")
    pending = git_repo.path / ".ci-ml" / "pending"
    pending.mkdir(parents=True)
    stale_pending = pending / f"{'f' * 64}.tmp{dead}"
    stale_pending.write_text("{")
    code, _out, err = run_cli("run", "--all", "--cache", str(cache), cwd=git_repo.path)
    assert code == 0, err
    assert not stale_object.exists()
    assert not stale_pending.exists()
    assert live_object.exists()
