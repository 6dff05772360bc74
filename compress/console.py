"""The jobs' console: messages on stderr, and the search's progress kept on one live line on a terminal."""
from __future__ import annotations

import shutil
import sys


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
