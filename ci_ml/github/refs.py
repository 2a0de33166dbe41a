"""Which commit is the base: a flag, the pull request event, or the default branch."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ci_ml.errors import GitRefError
from ci_ml.git import Git, require_commit

log = logging.getLogger("ci_ml")


@dataclass(frozen=True, slots=True)
class Base:
    label: str  # what the user would call it: `main`, `HEAD~1`, `origin/main`
    sha: str  # the commit compared against: the merge base with head, when git can find it


def resolve_base(
    git: Git,
    *,
    explicit: str | None,
    env: Mapping[str, str],
    event: Mapping[str, Any],
    base_branch: str | None,
    head: str = "HEAD",
) -> Base:
    """The base commit, measured from the merge base so that what landed on the base branch
    after the PR branched off is not mistaken for the PR's own change."""
    label, tip = _base_tip(git, explicit=explicit, env=env, event=event, base_branch=base_branch)
    merge_base = git.merge_base(tip, head)
    if merge_base is None:
        log.warning(
            "no merge base of %s and %s (shallow clone?); comparing with %s itself. "
            "Fetch more history (`fetch-depth: 0`) for an exact comparison.",
            label,
            head,
            label,
        )
        return Base(label, tip)
    return Base(label, merge_base)


def _base_tip(
    git: Git,
    *,
    explicit: str | None,
    env: Mapping[str, str],
    event: Mapping[str, Any],
    base_branch: str | None,
) -> tuple[str, str]:
    if explicit:
        return explicit, require_commit(git, explicit, what="base")
    pull = event.get("pull_request")
    if isinstance(pull, Mapping) and isinstance(pull.get("base"), Mapping):
        sha, ref = pull["base"].get("sha"), pull["base"].get("ref", "base")
        if isinstance(sha, str):
            return str(ref), require_commit(git, sha, what=f"pull request base ({ref})")
    if env.get("GITHUB_BASE_REF"):
        ref = f"origin/{env['GITHUB_BASE_REF']}"
        return ref, require_commit(git, ref, what="base")
    for candidate in _branch_candidates(git, base_branch):
        sha = git.resolve(candidate)
        if sha is not None:
            return candidate, sha
    raise GitRefError(
        "cannot tell which commit to compare with: no --base, no pull request event, and no "
        f"{base_branch or 'main/master'} branch in this clone. Pass --base REF or set "
        "`base-branch:` in ci-ml.yaml."
    )


def _branch_candidates(git: Git, base_branch: str | None) -> list[str]:
    if base_branch:
        return [f"origin/{base_branch}", base_branch]
    default = git.remote_default_branch()
    return [c for c in (default, "origin/main", "main", "origin/master", "master") if c]
