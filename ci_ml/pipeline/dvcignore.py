"""`.dvcignore` matching (gitignore syntax), used when collecting pipeline files and the
files of directory deps. [pure]

Supported: blank lines and `#` comments, `!` negation, a trailing `/` for directories only,
a leading or inner `/` anchoring the pattern to the .dvcignore's directory, `*`, `?`, `[...]`
and `**`. The last matching pattern wins, as in git.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Rule:
    base: str  # directory of the .dvcignore, project-relative ('' for the root)
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


class IgnoreRules:
    def __init__(self, files: Iterable[tuple[str, str]]) -> None:
        """`files` are (project-relative path of a .dvcignore, its text)."""
        self._rules: list[_Rule] = []
        for path, text in sorted(files):
            base = posixpath.dirname(path)
            self._rules.extend(_parse(base, text))

    def __bool__(self) -> bool:
        return bool(self._rules)

    def is_ignored(self, path: str) -> bool:
        """True when `path` (a file) or any directory above it is ignored."""
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            if self._matches("/".join(parts[:depth]), is_dir=depth < len(parts)):
                return True
        return False

    def _matches(self, path: str, *, is_dir: bool) -> bool:
        ignored = False
        for rule in self._rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.base and not path.startswith(rule.base + "/"):
                continue
            rel = path[len(rule.base) + 1 :] if rule.base else path
            if rule.regex.fullmatch(rel):
                ignored = not rule.negate
        return ignored


def _parse(base: str, text: str) -> list[_Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        pattern = _translate(line)
        if not anchored:
            pattern = f"(?:.*/)?{pattern}"
        rules.append(_Rule(base, re.compile(pattern), negate, dir_only))
    return rules


def _translate(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 1 :]:
            end = glob.index("]", i + 1)
            out.append("[" + glob[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)
