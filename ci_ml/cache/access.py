"""Open the cache store a command should use, with its trust level decided once, here."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from ci_ml.cache.layout import Trust
from ci_ml.cache.local import LocalStore
from ci_ml.cache.signing import signing_store
from ci_ml.cache.store import CacheStore, is_local_url, open_store
from ci_ml.cache.trust import decide_trust
from ci_ml.config import Settings
from ci_ml.errors import CacheConfigError
from ci_ml.github import gha
from ci_ml.plan import Project
from ci_ml.state import STATE_DIR, remove_stale_temps

log = logging.getLogger("ci_ml")


def open_cache(
    project: Project, settings: Settings, env: Mapping[str, str], *, reading_only: bool = False
) -> CacheStore:
    url = _cache_url(settings, env)
    trust = decide_trust(
        explicit=settings.trust,
        env=env,
        event=gha.load_event(env),
        trusted_refs=settings.trusted_refs,
        local_cache=not settings.cache or settings.cache == LOCAL,
        checkout_sha=project.git.head_sha(),
    )
    if reading_only and trust is Trust.UNTRUSTED:
        trust = Trust.READ_ONLY
    store = open_store(
        url,
        trust=trust,
        root=project.root,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        addressing_style=settings.s3_addressing_style,
    )
    _sweep(project.root, store)
    store = signing_store(
        store, private_key=settings.signing_key, public_keys=settings.trusted_public_keys
    )
    log.debug("cache %s (%s)", store.url, trust.value)
    return store


LOCAL = "local"  # CI_ML_CACHE=local: a per-job cache in the runner's temp directory, on purpose


def _cache_url(settings: Settings, env: Mapping[str, str]) -> str | None:
    """On Actions, never a cache inside the workspace (a PR can commit files there) and never
    silently a per-job one; elsewhere the configured URL as it is."""
    url = settings.cache
    if not gha.is_actions(env):
        return None if url == LOCAL else url
    if not url or url == LOCAL:
        if not url:
            gha.annotate(
                "error",
                "ci-ml: no shared cache is configured, so this job starts with an empty cache, "
                "restores nothing that another job or run computed, and recomputes every stage "
                "it needs. Set the repository variable CI_ML_CACHE to s3://bucket/prefix (see "
                "docs/cache.md), or CI_ML_CACHE=local to keep a per-job cache on purpose.",
                env,
            )
        # Every runner sets RUNNER_TEMP and empties it per job; without it (not a real
        # runner) the project's own `.ci-ml/cache`, never a temp dir other runs share.
        runner_temp = env.get("RUNNER_TEMP")
        return str(Path(runner_temp) / "ci-ml-cache") if runner_temp else None
    if is_local_url(url) and not settings.allow_local_cache:
        raise CacheConfigError(
            f"the cache {url!r} is a directory on the runner. On a runner that outlives the job "
            "(self-hosted, not ephemeral), pull-request stages run as the same user as trusted "
            "runs and can write that directory, so they could plant entries that main then "
            "restores. Use an S3 cache with separate roles (docs/cache.md), or, on ephemeral "
            "runners only, set CI_ML_ALLOW_LOCAL_CACHE=true in the workflow to accept it."
        )
    return url


def _sweep(root: Path, store: CacheStore) -> None:
    """Remove what killed runs left half-written: in `.ci-ml/` every time (it is small), in a
    local cache directory once a day (a walk of every object; the default one is in `.ci-ml/`)."""
    now = time.time()
    state = root / STATE_DIR
    cache = store.path if isinstance(store, LocalStore) else None
    cache_in_state = cache is not None and cache.is_relative_to(state)
    if state.is_dir():
        remove_stale_temps(state, now=now, every_s=DAY_S if cache_in_state else 0)
    if cache is not None and not cache_in_state and cache.is_dir():
        remove_stale_temps(cache, now=now, every_s=DAY_S)


DAY_S = 24 * 3600
