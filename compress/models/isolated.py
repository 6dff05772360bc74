"""Untrusted files parsed in a child process: a crash there (a signal) becomes one CompressError line.

The TFLite and TFLite Micro interpreters and HDF5 are C++/C code that trusts the file it reads: a corrupt model
can make them read out of bounds and die with SIGSEGV, or ask for gigabytes. So whatever runs them on a user's
file runs here, in a fresh Python (`python -c`, no fork of this process's state), with its stderr kept apart.
"""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from compress import CompressError

TIMEOUT_S = 600.0

# The child: unpickle (target, args, memory limit), call the target, pickle ("ok", result) or ("error", text).
_CHILD = r"""
import importlib, pickle, resource, sys
target, args, memory_bytes = pickle.loads(open(sys.argv[1], "rb").read())
if memory_bytes:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
module, name = target.split(":")
try:
    reply = ("ok", getattr(importlib.import_module(module), name)(*args))
except MemoryError:
    reply = ("error", f"needs more than {memory_bytes or 0:,} bytes of memory")
except Exception as exc:
    from compress import CompressError
    text = str(exc) if isinstance(exc, CompressError) else f"{type(exc).__name__}: {exc}"
    reply = ("error", " ".join(text.split())[:300])  # one line, whatever the library wrote
with open(sys.argv[2], "wb") as f:
    pickle.dump(reply, f)
"""


def call(target: str, args: tuple, *, where: str, what: str, hint: str = "is it a valid int8 model?",
         memory_bytes: int | None = None, timeout: float = TIMEOUT_S):
    """`target` ('module:function') run on `args` in a child Python; its result here, or one CompressError line.

    where: the file, for the message; what: who parses it ('TFLite Micro'); memory_bytes: an address-space limit
    for the child (a fuzzed size then fails as MemoryError instead of swapping the machine).
    """
    with tempfile.TemporaryDirectory(prefix="compress-child-") as tmp:
        request, reply = Path(tmp) / "request.pickle", Path(tmp) / "reply.pickle"
        request.write_bytes(pickle.dumps((target, args, memory_bytes)))
        try:
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(request), str(reply)], capture_output=True,
                                  timeout=timeout, env=_child_env())
        except subprocess.TimeoutExpired:
            raise CompressError(f"{where}: {what} gave no answer in {timeout:.0f} s reading this file; {hint}") \
                from None
        if proc.returncode < 0:
            raise CompressError(f"{where}: {what} crashed reading this file ({signal_name(-proc.returncode)}); "
                                f"{hint}")
        if not reply.exists():
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1][:200]
            raise CompressError(f"{where}: {what} failed reading this file (exit {proc.returncode}: {last}); {hint}")
        status, value = pickle.loads(reply.read_bytes())
    if status != "ok":
        raise CompressError(value if value.startswith(where) else f"{where}: {what}: {value}")
    return value


def _child_env() -> dict:
    """This environment, with this very `compress` first on the child's path (whatever the working folder)."""
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def signal_name(number: int) -> str:
    try:
        return f"signal {number}, {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"
