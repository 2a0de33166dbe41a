"""Open the cache store a command should use, with its trust level decided once, here."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ci_ml.cache.layout import Trust
from ci_ml.cache.store import CacheStore, open_store
from ci_ml.cache.trust import decide_trust
from ci_ml.config import Settings
from ci_ml.github import gha
from ci_ml.plan import Project

log = logging.getLogger("ci_ml")


def open_cache(
    project: Project, settings: Settings, env: Mapping[str, str], *, reading_only: bool = False
) -> CacheStore:
    trust = decide_trust(
        explicit=settings.trust,
        env=env,
        event=gha.load_event(env),
        trusted_refs=settings.trusted_refs,
        local_cache=not settings.cache,
    )
    if reading_only and trust is Trust.UNTRUSTED:
        trust = Trust.READ_ONLY
    store = open_store(
        settings.cache,
        trust=trust,
        root=project.root,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        addressing_style=settings.s3_addressing_style,
    )
    log.debug("cache %s (%s)", store.url, trust.value)
    return store
