"""The GitHub Actions runner protocol: outputs, log groups, annotations, the step summary,
and the event payload. Outside Actions every function is a harmless no-op or plain output.

Workflow-command data is escaped (`%`, CR, LF) so untrusted text cannot start a new command.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO


def is_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@contextlib.contextmanager
def group(title: str, env: Mapping[str, str], stream: TextIO | None = None) -> Iterator[None]:
    """A collapsible log group on Actions; nothing elsewhere."""
    out = stream or sys.stderr
    if not is_actions(env):
        yield
        return
    print(f"::group::{escape_data(title)}", file=out, flush=True)
    try:
        yield
    finally:
        print("::endgroup::", file=out, flush=True)


def annotate(
    level: str,
    message: str,
    env: Mapping[str, str],
    *,
    file: str | None = None,
    line: int | None = None,
    stream: TextIO | None = None,
) -> None:
    """An error/warning/notice annotation on Actions (shown on the run and the PR diff)."""
    if not is_actions(env):
        return
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line:
        props.append(f"line={line}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    print(f"{head}::{escape_data(message)}", file=stream or sys.stderr, flush=True)


def set_outputs(values: Mapping[str, str], env: Mapping[str, str]) -> None:
    """Append step outputs to $GITHUB_OUTPUT, with a random heredoc delimiter per value."""
    path = env.get("GITHUB_OUTPUT")
    if not path:
        raise OSError("GITHUB_OUTPUT is not set: --github-output works only inside a workflow step")
    with Path(path).open("a", encoding="utf-8") as f:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def append_summary(markdown: str, env: Mapping[str, str]) -> bool:
    """Append to $GITHUB_STEP_SUMMARY; False when not on Actions."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(markdown.rstrip("\n") + "\n")
    return True


def load_event(env: Mapping[str, str]) -> dict[str, Any]:
    """The event payload at $GITHUB_EVENT_PATH, or {} when there is none."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    with Path(path).open(encoding="utf-8") as f:
        event = json.load(f)
    return event if isinstance(event, dict) else {}
