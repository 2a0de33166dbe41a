"""The inputs and outputs tables of docs/action.md, generated from action.yml.

Regenerate: `python -m tests.helpers.action_docs` and paste over the tables in docs/action.md;
tests/test_docs.py fails while they differ.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def action_tables() -> str:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    rows = ["| input | default | description |", "| --- | --- | --- |"]
    for name, spec in action["inputs"].items():
        default = spec.get("default", "")
        shown = f"`{default}`" if default != "" else "(empty)"
        rows.append(f"| `{name}` | {shown} | {spec['description']} |")
    rows += ["", "| output | description |", "| --- | --- |"]
    for name, spec in action["outputs"].items():
        rows.append(f"| `{name}` | {spec['description']} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(action_tables(), end="")
