"""The path checks a manifest must pass before anything is built from it: every path stays
inside the directory it is relative to, and no symlink leads out of its output. [pure]"""

from __future__ import annotations

import posixpath
import re

_DRIVE = re.compile(r"[A-Za-z]:")


class Invalid(ValueError):
    """A check failed; manifest.py turns it into a CacheError naming the key."""


def check_path(path: str, what: str) -> str:
    """A normalised relative POSIX path that cannot leave the directory it is relative to.

    Raises ValueError saying what is wrong, like `check_link_target`.
    """
    if not isinstance(path, str) or not path:
        raise Invalid(f"{what} path {path!r} is empty or not a string")
    if "\\" in path or "\0" in path or _DRIVE.match(path):
        raise Invalid(f"{what} path {path!r} has a backslash, NUL or drive letter")
    if path.startswith("/"):
        raise Invalid(f"{what} path {path!r} is absolute")
    parts = path.split("/")
    if ".." in parts:
        raise Invalid(f"{what} path {path!r} goes up with '..'")
    if posixpath.normpath(path) != path or path == ".":
        raise Invalid(f"{what} path {path!r} is not normalised")
    # Writing into a .git directory could plant hooks or config that git later runs.
    if any(part.lower() == ".git" for part in parts):
        raise Invalid(f"{what} path {path!r} is inside a .git directory")
    return path


def check_link_target(link: str, target: str) -> None:
    """A symlink's target must be relative and, resolved from the link, stay inside the output."""
    if not isinstance(target, str) or not target:
        raise Invalid(f"symlink {link!r} has an empty target")
    if "\\" in target or "\0" in target or target.startswith("/") or _DRIVE.match(target):
        raise Invalid(f"symlink {link!r} has an absolute or malformed target {target!r}")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        raise Invalid(f"symlink {link!r} points outside its output: {target!r}")
    if any(part.lower() == ".git" for part in resolved.split("/")):
        raise Invalid(f"symlink {link!r} points into a .git directory")
