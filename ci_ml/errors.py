"""The CiMlError hierarchy. Each class carries the exit code that `cli.main` returns for it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CiMlError(Exception):
    """A failure the user should see as one clean message (exit code 1)."""

    exit_code = 1


class UserError(CiMlError):
    """Something the user can fix: bad input, bad configuration (exit code 2)."""

    exit_code = 2


class PipelineError(UserError):
    """A problem in dvc.yaml, ci-ml.yaml or a params file."""


class ConfigError(UserError):
    """A problem in ci-ml's own settings (file, env or flags)."""


class GitError(CiMlError):
    """git failed, or the repository lacks what a command needs."""


class NotInRepositoryError(GitError):
    """The pipeline is not inside a git repository: the user's to fix."""

    exit_code = 2


class GitRefError(UserError):
    """A ref the user named (or the event implied) cannot be resolved."""


class StageFailed(CiMlError):
    """A stage's command failed."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class CacheError(CiMlError):
    """The cache failed: unreachable, refused a request, or holds something unusable."""


class CorruptObjectError(CacheError):
    """Objects a manifest names are missing or fail their digest check.

    The executor runs the stage again instead of restoring it. `digests` lists the objects.
    """

    def __init__(self, message: str, *, digests: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.digests = tuple(sorted(digests))


class CacheConfigError(UserError):
    """A cache URL or cache option the user gave cannot be used."""
