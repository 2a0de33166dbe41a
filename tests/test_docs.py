from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.action_docs import action_tables

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_action_doc_embeds_the_inputs_and_outputs_of_action_yml() -> None:
    assert action_tables() in (DOCS / "action.md").read_text(encoding="utf-8")


def test_every_doc_linked_from_the_readme_exists() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(docs/([^)#]+)", readme)
    assert len(targets) > 10
    for target in targets:
        assert (DOCS / target).is_file(), target
