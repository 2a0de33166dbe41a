"""Local restore benchmark: `restore` of one big output from the local cache against `cp`.

Usage: .venv/bin/python benchmarks/restore.py [--gib 1] [--runs 3] [--work .bench/restore]

Writes a file of random bytes, caches it in a LocalStore (as `ci-ml run` does after a stage),
then times, alternately, restoring it into an empty directory and `cp` of the same file, both
from the page cache. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ci_ml.cache import Trust, open_store  # noqa: E402 - after the path is set
from ci_ml.cache.manifest import Manifest, RunFacts  # noqa: E402
from ci_ml.cache.outputs import restore, snapshot  # noqa: E402

CHUNK = 8 << 20
KEY = "ab" * 32


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / ".bench" / "restore")
    args = parser.parse_args()
    project = args.work / "project"
    shutil.rmtree(args.work, ignore_errors=True)
    project.mkdir(parents=True)
    size = int(args.gib * 2**30)
    with (project / "model.bin").open("wb") as f:
        for start in range(0, size, CHUNK):
            f.write(os.urandom(min(CHUNK, size - start)))
    store = open_store(str(args.work / "cache"), trust=Trust.TRUSTED, root=project)
    outputs, files = snapshot(project, ["model.bin"])
    store.put_objects(files)
    run = RunFacts(
        commit="0" * 40,
        ref="refs/heads/main",
        started_at="2025-01-01T00:00:00Z",
        finished_at="2025-01-01T00:00:01Z",
        duration_s=1.0,
        runner="bench",
        ci_ml_version="bench",
    )
    store.put_manifest(Manifest(key=KEY, stage="train", outputs=tuple(outputs), run=run))
    hit = store.get_manifest(KEY)
    assert hit is not None
    ours, cps = [], []
    for i in range(args.runs):
        dest = args.work / f"restored-{i}"
        dest.mkdir()
        start = time.perf_counter()
        restore(hit, store, dest, ["model.bin"])
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(["cp", str(project / "model.bin"), str(dest / "cp.bin")], check=True)
        cps.append(time.perf_counter() - start)
        shutil.rmtree(dest)
    result = {
        "gib": args.gib,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "ci_ml_restore_s": ours,
        "cp_s": cps,
        "ratio": statistics.median(ours) / statistics.median(cps),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
