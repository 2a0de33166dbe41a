from __future__ import annotations

from pathlib import Path

from tests.helpers.action_docs import action_tables

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_action_doc_embeds_the_inputs_and_outputs_of_action_yml() -> None:
    assert action_tables() in (DOCS / "action.md").read_text(encoding="utf-8")


def test_every_doc_linked_from_the_readme_exists() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    for line in readme.splitlines():
        if "](docs/" in line:
            target = line.split("](docs/", 1)[1].split(")", 1)[0]
            assert (DOCS / target).is_file(), target
