"""Which tracked files of the working tree differ from the index, exactly as `git status`
reports them. `git status` stats every file in the index (a tenth of a second at 100,000
files, benchmarks/README.md), so when a plan needs few of them, those alone are hashed and
status is asked only about the ones whose content differs or that are not plain files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from ci_ml.errors import GitError
from ci_ml.git import Git, Pending
from ci_ml.plan.entries import IndexListing
from ci_ml.plan.git_tree import worktree_mode

Changes = tuple[list[str], list[str]]  # (modified, deleted) repo-relative paths

# Rough costs, to choose the cheaper way: status stats each index entry (on another core, but
# on two cores it takes the one git's other work needs); checking a file is its lstat, a look-up
# in the listing (Python, on the plan's critical path) and hash-object opening it; then its
# bytes are hashed (SHA-1 with collision detection). Measured at 100,000 files, 2 cores.
_STAT_S = 1e-6
_START_S = 0.004
_FILE_S = 40e-6
_BYTE_S = 1 / 300e6
# Paths asked of status by name: each pathspec is matched against every index entry.
_MAX_ASKED = 32


@dataclass(frozen=True)
class WorktreeReads:
    """The working tree's two whole-index git calls, started as soon as the project is found:
    the index listing and `git status` (a tenth of a second at 100,000 files; cancelled when
    the plan needs few files, `check_files`)."""

    listing: Pending[bytes]
    changes: Pending[Changes]

    def index(self) -> IndexListing:
        return IndexListing(self.listing.result())

    def cancel(self) -> None:
        self.changes.cancel()


def start_worktree_reads(git: Git, prefix: str) -> WorktreeReads:
    """Start `WorktreeReads` for the files under `prefix` now (they need neither the settings
    nor the base), or take those that the console entry started already."""
    prestarted = git.take_prestarted_reads(prefix)
    return WorktreeReads(*prestarted) if prestarted else _start(git, prefix)


def _start(git: Git, prefix: str) -> WorktreeReads:
    listing = git.start_ls_index_records(prefix)
    # Cancelled when the files the head reads are few enough to hash (`check_files`).
    changes = git.start_worktree_changes([prefix or "."], speculative=True)
    return WorktreeReads(listing, changes)


def most_checked(entries: int) -> int:
    """The most files worth checking one by one in an index of `entries` files."""
    return max(0, int((entries * _STAT_S - _START_S) / _FILE_S))


def check_files(git: Git, index: IndexListing, paths: Iterable[str]) -> Changes | None:
    """(modified, deleted) among `paths` (tracked files, repo-relative), as `git status` would
    report them, or None when hashing them would cost more than status over the whole `index`.

    For a plain entry (`IndexListing.plain_mode`) with the file's mode, a file whose content,
    as `git add` would store it, hashes to the index's object id is one that status reports as
    unchanged. A file whose hash differs may still be unchanged to status (a stat that git
    trusts, a line-ending rule that depends on the index), and a path that is no regular file
    (missing, a directory, a link) or an entry that is not plain needs status's rules: those
    few are asked of status."""
    unique = list(dict.fromkeys(paths))
    budget = index.estimated_len() * _STAT_S - _START_S
    if len(unique) > most_checked(index.estimated_len()):
        return None
    regular: list[str] = []
    asked: list[str] = []
    size = 0
    for path in unique:
        try:
            st = os.lstat(git.root / path)
        except OSError:
            asked.append(path)
            continue
        # hash-object reads one path per line, so a name with a newline goes to status; so
        # does a file whose execute bit differs from its entry's mode (status decides whether
        # that counts, by core.fileMode).
        mode = index.plain_mode(path)
        if (
            stat.S_ISREG(st.st_mode)
            and "\n" not in path
            and not path.startswith('"')
            and mode is not None
            and worktree_mode(mode, st.st_mode) == mode
        ):
            regular.append(path)
            size += st.st_size
        else:
            asked.append(path)
    if len(regular) * _FILE_S + size * _BYTE_S > budget or len(asked) > _MAX_ASKED:
        return None
    try:
        hashed = git.hash_worktree_files(regular)
    except GitError:  # a file gone meanwhile, say: status over the whole index decides
        return None
    asked += [path for path in regular if hashed[path] != index[path]]
    if len(asked) > _MAX_ASKED:
        return None
    if not asked:
        return [], []
    return git.start_worktree_changes(sorted(asked)).result()
