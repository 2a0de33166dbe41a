from __future__ import annotations

import pytest

from ci_ml.report import markdown as md

HOSTILE = [
    "a|b",
    "line\nbreak",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "@octocat please look",
    "fixes #123",
    "GH-42",
    "[click](https://evil.example)",
    "**bold** _it_ ~~gone~~",
    "`code` and ```fence```",
    "https://evil.example/path",
    "\u202eevil",
    "see www.evil.example now",
    "mark\u200eed and \u200fflipped\u061c",
    "line\u2028separator",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_is_inert(value: str) -> None:
    out = md.text(value)
    assert "\n" not in out
    assert "<" not in out
    assert ">" not in out
    assert "|" not in out.replace("\\|", "")
    assert "@octocat" not in out
    assert "#123" not in out
    assert "GH-42" not in out
    assert "](" not in out.replace("\\](", "")
    assert "://" not in out
    assert "\u202e" not in out
    assert "www." not in out.lower()
    assert not {"\u200e", "\u200f", "\u061c", "\u2028"} & set(out)


@pytest.mark.parametrize("value", HOSTILE)
def test_code_span_cannot_be_closed_or_break_a_table(value: str) -> None:
    out = md.code(value)
    fence = out[: len(out) - len(out.lstrip("`"))]
    inner = out[len(fence) : -len(fence)]
    assert fence not in inner
    assert "|" not in inner.replace("\\|", "")
    assert "\n" not in out


def test_text_is_bounded() -> None:
    assert len(md.text("x" * 10_000, limit=100)) == 100


def test_code_block_fence_outlasts_the_content() -> None:
    block = md.code_block(["```", "````", "fine"])
    first = block.splitlines()[0]
    assert first == "`````text"
    assert block.splitlines()[-1] == "`````"
