"""ci-ml's side of the transfer benchmark, run in a child process (`python transfer_child.py
push|nochange|recheck|pull ...`): one cache operation through ci-ml's cache API, its phases
timed from inside. Run as a script of its own, so the child imports nothing of the harness
(which cost 0.08 s of every ci-ml run when the child was `transfer.py _child`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transfer_model import Case


def stage_key(case: Case) -> str:
    return hashlib.sha256(f"transfer-benchmark {case.name}".encode()).hexdigest()


def child_main(argv: Sequence[str]) -> int:
    """`transfer_child.py push|nochange|recheck|pull ...`: one ci-ml cache operation, timed inside.

    Prints {"phases": {name: seconds}} on stdout. The import of ci-ml counts as a phase; the
    interpreter's own start does not (the parent's wall time has it).
    """
    parser = argparse.ArgumentParser(prog="transfer_child.py")
    parser.add_argument("op", choices=("push", "nochange", "recheck", "pull"))
    for name in ("--root", "--out", "--url", "--key"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    phases: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(now - clock[0], 4)
        clock[0] = now

    from ci_ml.cache import Trust, open_store  # imported here: the import is measured

    root = Path(args.root)
    store = open_store(args.url, trust=Trust.TRUSTED, root=root)
    lap("import")
    # Private, and only to split the timings: making the boto3 client (importing boto3,
    # loading botocore's S3 model) is a fixed cost per process that the first request pays.
    store._client()  # type: ignore[attr-defined]  # S3Store, not in the CacheStore Protocol
    lap("s3_client")
    children = {
        "push": _child_push,
        "nochange": _child_nochange,
        "recheck": _child_recheck,
        "pull": _child_pull,
    }
    children[args.op](store, root, args.out, args.key, lap)
    print(json.dumps({"phases": phases}))
    return 0


def _child_push(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    """What the executor does after a stage ran (`push_manifest`): the objects the store
    lacks, many small files in packs, then the manifest."""
    from ci_ml.cache import Manifest, RunFacts
    from ci_ml.cache.outputs import snapshot
    from ci_ml.run import push_manifest

    entries, files = snapshot(root, [out])
    lap("snapshot")
    facts = RunFacts(
        commit="0" * 40,
        ref="refs/heads/main",
        started_at="2024-01-01T00:00:00+00:00",
        finished_at="2024-01-01T00:00:01+00:00",
        duration_s=1.0,
        runner="benchmark",
        ci_ml_version="benchmark",
    )
    manifest = Manifest(key=key, stage="bench", outputs=tuple(entries), run=facts)
    push_manifest(store, manifest, files, {})
    lap("push")


def _child_nochange(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    """The executor's answer to "push this again": its manifest is there, so nothing to do.
    The same request is timed again once the client has its connection."""
    if store.get_manifest(key) is None:
        raise SystemExit(f"no manifest under {key}: the push before this one did not land")
    lap("get_manifest")
    store.get_manifest(key)
    lap("get_manifest_again")


def _child_recheck(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    """What a push that did not trust the manifest would add: are all its objects there?
    (One LIST per fan-out directory.) Comparable to what `sync` does; ci-ml does not do it."""
    hit = store.get_manifest(key)
    lap("get_manifest")
    if hit is None:
        raise SystemExit(f"no manifest under {key}: the push before this one did not land")
    if missing := store.missing_objects(hit.manifest.digests()):
        raise SystemExit(f"{len(missing)} objects of manifest {key} are missing")
    lap("missing_objects")


def _child_pull(store: Any, root: Path, out: str, key: str, lap: Callable[[str], None]) -> None:
    from ci_ml.cache.outputs import restore

    hit = store.get_manifest(key)
    lap("get_manifest")
    if hit is None:
        raise SystemExit(f"no manifest under {key}: the push did not land")
    restore(hit, store, root, [out])
    lap("restore")


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
