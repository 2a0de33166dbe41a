"""A child process that pushes one stage's outputs, for the concurrent-push test.

It lives in its own module so `multiprocessing` (spawn) can import it by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ci_ml.cache import Trust, open_store
from ci_ml.cache.outputs import snapshot
from tests.cache.conftest import make_manifest


def push(url: str, root: str, outs: list[str], barrier: Any, rounds: int) -> None:
    store = open_store(url, trust=Trust.TRUSTED, root=Path(root))
    outputs, files = snapshot(Path(root), outs)
    barrier.wait(timeout=60)  # start together, to overlap the writes as much as possible
    for _ in range(rounds):
        store.put_objects(files)  # every object, not just missing ones: maximal overlap
        store.put_manifest(make_manifest(outputs))
