"""GitHub: the REST client (comments, checks, images), the Actions runner protocol (gha),
the base ref of a pull request, and the action's entry point (`python -m ci_ml.github.action`)."""

from __future__ import annotations

from ci_ml.github.client import (
    GitHub,
    GitHubError,
    GitHubPermissionError,
    conclusion_of,
    repo_context,
)
from ci_ml.github.refs import Base, resolve_base

__all__ = [
    "Base",
    "GitHub",
    "GitHubError",
    "GitHubPermissionError",
    "conclusion_of",
    "repo_context",
    "resolve_base",
]
