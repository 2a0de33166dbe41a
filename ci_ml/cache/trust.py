"""Which cache area a run may write, decided once from the event and ref. [pure]

Pull requests run code nobody has reviewed yet. If they could write the entries that trusted
branches read, a PR could plant outputs under a key that main computes next. So trusted refs
(the default branch and tags) write the trusted area, everything else the untrusted one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from ci_ml.cache.layout import Trust
from ci_ml.errors import ConfigError

# An allow-list: any other event (pull_request*, issue_comment, repository_dispatch,
# workflow_run, merge_group, ...) can run code or take input that nobody reviewed.
TRUSTED_EVENTS = ("push", "schedule", "workflow_dispatch")


def decide_trust(
    *,
    explicit: str | None,
    env: Mapping[str, str],
    event: Mapping[str, Any],
    trusted_refs: Sequence[str],
    local_cache: bool,
    checkout_sha: str | None = None,
) -> Trust:
    """`explicit` (--trust, from the workflow) wins; on Actions a run is trusted only for an
    allowed event on a trusted ref whose checkout is the commit the event is for
    (`checkout_sha` == GITHUB_SHA: a retrain dispatched on main that checks out another ref is
    not main's code); elsewhere a local cache is the user's own (trusted) and a shared one is
    written as untrusted."""
    if explicit:
        try:
            return Trust(explicit)
        except ValueError as e:
            choices = ", ".join(t.value for t in Trust)
            raise ConfigError(f"--trust {explicit!r} is not one of {choices}.") from e
    if env.get("GITHUB_ACTIONS") != "true":
        return Trust.TRUSTED if local_cache else Trust.UNTRUSTED
    if env.get("GITHUB_EVENT_NAME", "") not in TRUSTED_EVENTS:
        return Trust.UNTRUSTED
    expected = env.get("GITHUB_SHA")
    if checkout_sha is not None and expected and checkout_sha != expected:
        return Trust.UNTRUSTED
    ref = env.get("GITHUB_REF", "")
    patterns = [_expand(p, event) for p in trusted_refs]
    return Trust.TRUSTED if any(fnmatch.fnmatchcase(ref, p) for p in patterns) else Trust.UNTRUSTED


def _expand(pattern: str, event: Mapping[str, Any]) -> str:
    """`default` stands for the repository's default branch, as the event payload names it."""
    if pattern != "default":
        return pattern
    repo = event.get("repository")
    branch = repo.get("default_branch") if isinstance(repo, Mapping) else None
    return f"refs/heads/{branch}" if isinstance(branch, str) else "refs/heads/main"
