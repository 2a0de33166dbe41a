"""Progress of long transfers, on stderr: a tqdm bar on a terminal, else a log line every ~5 s.

GitHub Actions logs are not a terminal and keep every carriage return, so there a bar would be
thousands of lines; a periodic log line reads well in both the live view and the saved log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Literal, Protocol

log = logging.getLogger("ci_ml")

ProgressMode = Literal["bar", "log"]


class _Bar(Protocol):
    def update(self, n: int) -> object: ...
    def close(self) -> None: ...


class _Stream(Protocol):
    def isatty(self) -> bool: ...


def progress_mode(env: Mapping[str, str], stream: _Stream) -> ProgressMode:
    """A bar only on an interactive terminal that is not an Actions log."""
    if env.get("GITHUB_ACTIONS") == "true":
        return "log"
    return "bar" if stream.isatty() else "log"


class Progress:
    """Bytes done out of a known total. `advance` may be called from many threads."""

    def __init__(
        self,
        description: str,
        total: int,
        *,
        mode: ProgressMode,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._last_log = self._started
        self._logged_done = -1
        self._bar: _Bar | None = None
        if mode == "bar":
            # Imported here: only terminals need it. No stubs in the dev deps (types-tqdm).
            from tqdm import tqdm  # type: ignore[import-untyped]

            self._bar = tqdm(
                total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024
            )

    def advance(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)
                return
            now = self._clock()
            if now - self._last_log >= self._interval_s:
                self._last_log = now
                self._log_line(now)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self._logged_done != self.done:  # no repeat of the last line
                self._log_line(self._clock())

    def _log_line(self, now: float) -> None:
        self._logged_done = self.done
        elapsed = max(now - self._started, 1e-9)
        percent = 100.0 * self.done / self.total if self.total else 100.0
        log.info(
            "%s: %s of %s (%.0f%%), %s/s",
            self.description,
            format_bytes(self.done),
            format_bytes(self.total),
            percent,
            format_bytes(int(self.done / elapsed)),
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def format_bytes(n: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    size, unit = float(n), 0
    while size >= 1024 and unit < len(units) - 1:
        size, unit = size / 1024, unit + 1
    return f"{n} B" if unit == 0 else f"{size:.1f} {units[unit]}"
