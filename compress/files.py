"""Output files that cannot half-happen: written to a temporary file beside the target, then renamed over it.

A kill, a crash or a full disk leaves either the old file or the new one, never a truncated one, and no
temporary file behind. ENOSPC becomes one CompressError line naming the file.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from compress import CompressError


def write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically (same folder temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise CompressError(f"{path}: no space left on the device; nothing was written") from exc
        raise
    return path


def write_text(path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, data) -> Path:
    return write_text(path, json.dumps(data, indent=1, default=str) + "\n")
