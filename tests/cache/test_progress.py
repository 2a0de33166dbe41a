"""Progress: a bar on a terminal, a log line every few seconds on Actions or in a log file."""

from __future__ import annotations

import io
import logging

import pytest

from ci_ml.cache.progress import Progress, format_bytes, progress_mode


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("env", "stream", "mode"),
    [
        ({}, Terminal(), "bar"),
        ({}, io.StringIO(), "log"),
        ({"GITHUB_ACTIONS": "true"}, Terminal(), "log"),
        ({"GITHUB_ACTIONS": "false"}, Terminal(), "bar"),
    ],
)
def test_mode_is_a_bar_only_on_a_terminal_outside_actions(
    env: dict[str, str], stream: io.StringIO, mode: str
) -> None:
    assert progress_mode(env, stream) == mode


def test_log_mode_writes_a_line_every_interval_and_at_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    caplog.set_level(logging.INFO, logger="ci_ml")

    with Progress("pull train", 4 << 20, mode="log", interval_s=5, clock=lambda: now[0]) as p:
        for _ in range(4):
            now[0] += 2.5
            p.advance(1 << 20)

    assert [r.getMessage() for r in caplog.records] == [
        "pull train: 2.0 MiB of 4.0 MiB (50%), 409.6 KiB/s",
        "pull train: 4.0 MiB of 4.0 MiB (100%), 409.6 KiB/s",
    ]


def test_log_mode_always_ends_with_a_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci_ml")
    now = [0.0]
    with Progress("push", 10, mode="log", clock=lambda: now[0]) as p:
        p.advance(10)
        now[0] = 2.0
    assert [r.getMessage() for r in caplog.records] == ["push: 10 B of 10 B (100%), 5 B/s"]


def test_bar_mode_draws_with_tqdm(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("push train", 2048, mode="bar") as p:
        p.advance(2048)

    assert "push train" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 << 30, "5.0 GiB")]
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text
