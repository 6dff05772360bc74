"""One search per run folder: a lock file in it, held with flock, names the pid of the process that holds it.

flock locks die with their process (even on SIGKILL), so a killed run never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from compress import CompressError

LOCK_FILE = ".lock"


class RunLock:
    """`with RunLock(folder):` only one process at a time works in `folder`; a second one gets one line."""

    def __init__(self, folder):
        self.folder, self.fd = Path(folder), None

    def __enter__(self) -> "RunLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: another process holds it
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise CompressError(f"{self.folder}: in use by another compress process (pid {holder}); wait for it "
                                "to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
