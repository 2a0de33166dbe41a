"""The operation handlers, one module per group of resources.

Importing this package registers every handler in `operations.OPERATIONS`.
"""

from __future__ import annotations

from tests.helpers.github_server.routes import actions, checks, git_data, issues, pulls

__all__ = ["actions", "checks", "git_data", "issues", "pulls"]
