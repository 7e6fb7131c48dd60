"""Progress of a long job (a replay, a rebuild): a live bar on a terminal, plain lines otherwise.

On a terminal one line is redrawn in place (carriage return, at most `redraw` times a
second): a bar, the percentage, what was done, the rate and the time left. Anywhere else
(a pipe, a log file, CI) redrawing would fill the log with carriage returns, so a plain line
is written every `interval` seconds instead, and one at the end either way.

Progress is measured in two counts: `position` moves towards `total` (for a topic, offsets,
which include transaction markers) and drives the bar and the time left; `items` is what the
user cares about (records, operations) and drives the rate.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "format_duration"]

_BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """`M:SS`, or `H:MM:SS` from an hour on; `?` when unknown (nothing measured yet)."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _supports(stream: TextIO, text: str) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Progress:
    """Reports `position` of `total` (and `items` done) to `stream` until `finish()`."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "records",
        stream: TextIO | None = None,
        tty: bool | None = None,
        interval: float = 5.0,
        redraw: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`tty` None asks the stream; `interval` spaces plain lines, `redraw` bar frames."""
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.redraw = redraw
        self._clock = clock
        self._started = clock()
        self._shown_at: float | None = None
        self._width = 0
        self.position = 0
        self.items = 0
        self.finished = False
        fancy = self.tty and _supports(self.stream, "█░")
        self._full, self._empty = ("█", "░") if fancy else ("#", "-")

    # -- counting ----------------------------------------------------------------------------

    def advance(self, position: int = 0, items: int = 0) -> None:
        """Add `position` towards the total and `items` to the count; show if it is time."""
        self.position += position
        self.items += items
        self._maybe_show()

    def grow(self, more: int) -> None:
        """More work appeared (e.g. a catch-up after the first target was reached)."""
        self.total += max(more, 0)

    def finish(self, summary: str | None = None) -> None:
        """The final frame or line, then `summary` (if any) on a line of its own."""
        if self.finished:
            return
        self.finished = True
        self._show(final=True)
        if summary:
            self.stream.write(summary + "\n")
        self.stream.flush()

    # -- figures -----------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return max(self._clock() - self._started, 0.0)

    @property
    def rate(self) -> float:
        """Items per second since the start (0 before any time has passed)."""
        elapsed = self.elapsed
        return self.items / elapsed if elapsed > 0 else 0.0

    @property
    def fraction(self) -> float:
        if self.total <= 0:
            return 1.0
        return min(self.position / self.total, 1.0)

    @property
    def seconds_left(self) -> float:
        """Time left at the pace so far (position per second); inf before any progress."""
        left = max(self.total - self.position, 0)
        if left == 0:
            return 0.0
        if self.position <= 0 or self.elapsed <= 0:
            return float("inf")
        return left / (self.position / self.elapsed)

    # -- output ------------------------------------------------------------------------------

    def bar_line(self) -> str:
        filled = int(self.fraction * _BAR_WIDTH)
        bar = self._full * filled + self._empty * (_BAR_WIDTH - filled)
        return (
            f"{self.label} [{bar}] {self.fraction * 100:3.0f}%  {self.items:,} {self.unit}  "
            f"{self.rate:,.0f} {self.unit}/s  {format_duration(self.seconds_left)} left"
        )

    def plain_line(self) -> str:
        return (
            f"{self.label}: {self.items} {self.unit}, {self.fraction * 100:.0f}% "
            f"({self.position} of {self.total}), {self.rate:.0f} {self.unit}/s, "
            f"{format_duration(self.seconds_left)} left"
        )

    def _maybe_show(self) -> None:
        now = self._clock()
        gap = self.redraw if self.tty else self.interval
        if self._shown_at is None and not self.tty:
            self._shown_at = now  # plain lines: the first one after `interval`, not at once
            return
        if self._shown_at is not None and now - self._shown_at < gap:
            return
        self._shown_at = now
        self._show(final=False)

    def _show(self, *, final: bool) -> None:
        if self.tty:
            line = self.bar_line()
            pad = " " * max(self._width - len(line), 0)
            self._width = len(line)
            self.stream.write("\r" + line + pad + ("\n" if final else ""))
        else:
            self.stream.write(self.plain_line() + "\n")
        self.stream.flush()
