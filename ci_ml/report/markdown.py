"""Markdown that untrusted text cannot break out of. [pure]

Stage names, metric names and values, plot titles and log lines come from the pull request.
In a PR comment they must not close a table cell (`|`, newlines), inject HTML, format or link
text, ping people (`@name`), cross-reference issues (`#123`, `GH-1`, `owner/repo#1`), become
a link (`https://...`, `www.example.com`), or reorder what is shown around them (bidi controls,
LRM/RLM marks).
"""

from __future__ import annotations

import re

ZWSP = "\u200b"  # breaks @mentions, #references and autolinks without changing what people see
# Characters that can start emphasis, code, links, strikethrough or break a table cell.
# (`.`, `-`, `+` and `#` only matter at the start of a line, which a cell never is.)
_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_MENTION = re.compile(r"([@#])(?=\w)")
_GH_REF = re.compile(r"\b(GH)-(?=\d)", re.IGNORECASE)
_GH_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
# C0 controls, DEL, bidi embeddings/overrides/isolates, LRM/RLM/ALM, line/paragraph separators.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def text(value: object, *, limit: int = 300) -> str:
    """Untrusted text for a table cell or a paragraph: inert, single-line, bounded."""
    raw = _clean(str(value), limit)
    raw = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    raw = _PUNCTUATION.sub(r"\\\1", raw)
    raw = _MENTION.sub(lambda m: m.group(1) + ZWSP, raw)
    raw = _GH_REF.sub(lambda m: m.group(1) + ZWSP + "-", raw)
    raw = _GH_WWW.sub(lambda m: m.group(1) + ZWSP + ".", raw)
    return raw.replace("://", ":" + ZWSP + "//")


def code(value: object, *, limit: int = 120) -> str:
    """Untrusted text as an inline code span: shown verbatim, safe inside a table."""
    raw = _clean(str(value), limit)
    longest = max((len(run) for run in re.findall(r"`+", raw)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if raw.startswith("`") or raw.endswith("`") or not raw.strip() else ""
    # GFM splits table cells on `|` before it parses code spans, so escape it even here.
    return f"{fence}{pad}{raw.replace('|', chr(92) + '|')}{pad}{fence}"


def code_block(lines: list[str], *, limit_lines: int = 50, width: int = 300) -> str:
    """Untrusted log lines in a fenced block whose fence no line can close."""
    body = [_CONTROL.sub("", line)[:width] for line in lines[-limit_lines:]]
    longest = max(
        (len(run) for line in body for run in re.findall(r"`{3,}|~{3,}", line)), default=2
    )
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}text", *body, fence])


def _clean(raw: str, limit: int) -> str:
    raw = _CONTROL.sub("", raw.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"
