"""Output files that cannot half-happen: written to a temporary file beside the target, then renamed over it.

A kill, a crash or a full disk leaves either the old file or the new one, never a truncated one, and no
temporary file behind. ENOSPC becomes one CompressError line naming the file.
"""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def staged_folder(target, whole: bool = False):
    """Files written into the yielded scratch folder (beside target, so renames stay on one disk) reach target only
    once the block succeeds. whole: target becomes exactly that folder (files it no longer has are gone); else each
    file replaces its namesake and the others stay. An error (a full disk) removes the scratch folder and leaves
    target as it was; ENOSPC is one CompressError line naming target."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield scratch
    except BaseException as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise CompressError(f"{target}: no space left on the device; nothing was written, the folder is as it "
                                "was") from None
        raise
    if whole and target.exists():
        old = target.with_name(f"{scratch.name}.old")
        os.replace(target, old)
        os.replace(scratch, target)
        shutil.rmtree(old, ignore_errors=True)
    elif whole:
        os.replace(scratch, target)
    else:
        target.mkdir(exist_ok=True)
        for path in scratch.iterdir():
            os.replace(path, target / path.name)
        scratch.rmdir()


def read_json(path, schema=None, what: str = "JSON file"):
    """A JSON file's content, checked (compress.validate: nesting depth, then schema); one CompressError line
    naming the file (and the field) when it is unreadable, not JSON or not what schema asks."""
    return validate.read_json(path, schema, what)


# --- what a failed command left: compared file by file with the folder before it began ----------------------------

def snapshot(folder) -> dict | None:
    """Each file under folder (relative path -> (size, mtime_ns)); None where the folder does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def left_behind(folder, before: dict | None, scratch: tuple = (".lock",), more: str = "") -> str:
    """The clause an error line ends with: what the failed command left in `folder` (snapshot `before` it began).
    A folder it created and filled with nothing but `scratch` files is removed again."""
    folder, after = Path(folder), snapshot(folder) or {}
    changed = sorted(k for k, v in after.items() if (before or {}).get(k) != v and k not in scratch)
    if before is None and not changed:
        for name in scratch:
            (folder / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()
        return "nothing was written"
    if not changed:
        return f"{folder} is left as it was"
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return f"{folder} keeps what was written before the error ({shown}){more}"
