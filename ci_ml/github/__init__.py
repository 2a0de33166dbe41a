"""GitHub: the REST client (comments, checks, images), the Actions runner protocol (gha),
the base ref of a pull request, the action's entry point (`python -m ci_ml.github.action`)
and its install step (install.py, run by path before ci-ml is installed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_ml.github.client import (
    GitHub,
    GitHubError,
    GitHubPermissionError,
    conclusion_of,
    repo_context,
)
from ci_ml.github.refs import Base, resolve_base
from ci_ml.lazy_face import lazy_getattr

if TYPE_CHECKING:
    from ci_ml.github.install import missing_report_set

# install.py is the action's install step (urllib, zipfile...): loaded only for the one error
# that needs it.
__getattr__ = lazy_getattr(__name__, {"missing_report_set": "install"}, globals())

__all__ = [
    "Base",
    "GitHub",
    "GitHubError",
    "GitHubPermissionError",
    "conclusion_of",
    "missing_report_set",
    "repo_context",
    "resolve_base",
]
