"""Output files that cannot half-happen: written to a temporary file beside the target, then renamed over it.

A kill, a crash or a full disk leaves either the old file or the new one, never a truncated one, and no
temporary file behind. ENOSPC becomes one CompressError line naming the file.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from compress import CompressError, validate


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


def write_with(path, write: Callable[[Path], object], size_hint: int = 0) -> Path:
    """For writers that only take a path (Keras, h5py): `write` fills a file of the same name in a scratch folder
    with room for size_hint bytes (h5py must never meet a full disk: it prints errors and can crash), then its
    bytes go to `path` through write_bytes, so the target is all or nothing too."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="compress-", dir=_scratch_root(path, size_hint)) as scratch:
        staged = Path(scratch) / path.name  # the same name: Keras picks the format from the suffix
        try:
            write(staged)
            data = staged.read_bytes()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise CompressError(f"{path}: no space left on the device for its temporary copy in {scratch}; "
                                    "nothing was written") from exc
            raise
    return write_bytes(path, data)


def _scratch_root(path: Path, size_hint: int) -> str:
    """Memory-backed /dev/shm when it has room (no disk to fill), else the temporary folder; with room for
    twice size_hint, or one CompressError line before anything starts writing."""
    need = 2 * size_hint + (1 << 20)
    for root in ("/dev/shm", tempfile.gettempdir()):
        try:
            if os.path.isdir(root) and os.access(root, os.W_OK) and shutil.disk_usage(root).free >= need:
                return root
        except OSError:
            continue
    raise CompressError(f"{path}: no space left for its temporary copy ({need:,} bytes needed in "
                        f"{tempfile.gettempdir()}); nothing was written")


def read_json(path, schema=None, what: str = "JSON file"):
    """A JSON file's content, checked (compress.validate: nesting depth, then schema); one CompressError line
    naming the file (and the field) when it is unreadable, not JSON or not what schema asks."""
    return validate.read_json(path, schema, what)
