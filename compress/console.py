"""What people read: the jobs' console (messages on stderr, the search's progress on one live line on a terminal),
progress notes of long steps, and the one way each kind of figure is written (latency, counts, margins)."""
from __future__ import annotations

import math
import shutil
import sys
import threading


def ms(seconds: float) -> str:
    """A latency as every table and message writes it: milliseconds to 3 significant figures ("18.7 ms",
    "0.512 ms", "1,420 ms"), so figures from the estimate, the emulator and the device compare at a glance."""
    value = float(f"{seconds * 1e3:.3g}")
    if value == 0 or not math.isfinite(value):
        return f"{value:g} ms"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f} ms"


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """'1 model', '38 models', '1.6 cycles': a count with its noun in the right number."""
    number = f"{count:,}" if isinstance(count, int) else f"{count:g}"
    return f"{number} {noun if count == 1 else nouns or noun + 's'}"


def margin(fraction: float) -> str:
    """A target's margin, (limit - figure) / limit, as a percentage while it reads as one (down to -100 %: twice
    the limit); beyond that the figure as a multiple of the limit ("164x the limit"), not "-16348.0%"."""
    if fraction >= -1:
        return f"{fraction:+.1%}"
    return f"{1 - fraction:,.3g}x the limit"


def note(message: str) -> None:
    """One progress line of a long step (a first-time build, generated data) on stderr, where the jobs' messages
    go: stdout keeps only results."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class Progress:
    """A long step's progress on stderr: its heading (what it makes and why it takes a while), then a line every
    1/`lines` of the way ("  compiled 20/52 files"), never one per item; safe to call from worker threads."""

    def __init__(self, total: int, line: str, heading: str | None, lines: int = 10):
        """line: a format string of `done` and `total`; lines: at most this many of them; heading None: a
        short step that only says when it is done (lines=1)."""
        self.total, self.done, self.line, self._lock = total, 0, line, threading.Lock()
        self.every = max(-(-total // lines), 1)
        if heading is not None:
            note(heading)

    def step(self, text: str) -> None:
        """A stage of the step that is not an item (a build's shared headers), so a long wait is not silent."""
        note("  " + text)

    def __call__(self, count: int = 1) -> None:
        """`count` more items done."""
        with self._lock:
            before, self.done = self.done, min(self.done + count, self.total)
            if self.done // self.every > before // self.every or self.done == self.total > before:
                note("  " + self.line.format(done=self.done, total=self.total))


class Console:
    """The jobs' messages, one per line on stderr. On a terminal the search's progress status (`[k/max-evals]
    elapsed, ETA, best goal`) stays on one live line under them; elsewhere it is part of each plain line."""

    def __init__(self):
        self.status = ""

    def __call__(self, message: str) -> None:
        live = "\r\x1b[K" if self.status else ""
        sys.stderr.write(f"{live}{message}\n{self.status}")
        sys.stderr.flush()

    def progress(self, status: str, detail: str) -> None:
        if not sys.stderr.isatty():
            return self(f"{status}  {detail}")
        self(f"{status[:status.find(']') + 1]} {detail}")  # a permanent line above the status
        self.status = status[:shutil.get_terminal_size().columns - 1]  # a wrapped line could not be redrawn
        sys.stderr.write("\r\x1b[K" + self.status)
        sys.stderr.flush()

    def end_status(self) -> None:
        """Leave the last status on screen and write below it from now on."""
        if self.status:
            self.status = ""
            self("")
