"""The tflite-micro runtime on the host: run an int8 model with the real TFLM kernels, and measure its arena."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.models import isolated

ARENA_ALIGN = 16  # TFLM aligns its arena allocations to 16 bytes
CHILD_MEMORY_BYTES = 4 << 30  # address space for a TFLM child: a fuzzed size fails instead of swapping


# TFLM crashes the process (not a Python error) when the arena cannot even hold its own bookkeeping, so the
# probes run in a child process that answers 1/0 per arena size and is restarted after a crash.
_PROBE = r"""
import sys
from tflite_micro.python.tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    try:
        runtime.Interpreter.from_bytes(model, arena_size=int(line))
        ok = 1
    except RuntimeError:
        ok = 0
    print(ok, flush=True)
"""


class _Prober:
    """Asks a child tflite-micro runtime whether AllocateTensors() succeeds with a given arena size."""

    def __init__(self, tflite_bytes: bytes):
        self._dir = tempfile.TemporaryDirectory(prefix="compress-arena-")
        self._model = Path(self._dir.name) / "model.tflite"
        self._model.write_bytes(tflite_bytes)
        self._log = open(Path(self._dir.name) / "stderr.txt", "w+")
        self._proc = None
        self.died = 0  # the exit status of the last child that died (negative: the signal that killed it)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stop()
        self._log.close()
        self._dir.cleanup()

    def _stop(self):
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None

    def __call__(self, arena_bytes: int) -> bool:
        if self._proc is None:
            self._proc = subprocess.Popen([sys.executable, "-c", _PROBE, str(self._model)], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=self._log, text=True)
        try:
            self._proc.stdin.write(f"{arena_bytes}\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline().strip()
        except BrokenPipeError:
            answer = ""
        if answer not in ("0", "1"):  # the child died: TFLM overran a too-small arena
            self._proc.stdout.close()
            self.died = self._proc.wait()
            self._proc = None
            return False
        return answer == "1"

    def stderr_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return " ".join(self._log.read()[-300:].split())  # one line


def arena_allocates(tflite_bytes: bytes, arena_bytes: int) -> bool:
    """Whether the tflite-micro runtime can allocate the model's tensors in arena_bytes."""
    with _Prober(tflite_bytes) as allocates:
        return allocates(arena_bytes)


def measure_arena_bytes(tflite_bytes: bytes, *, limit_bytes: int = 64 << 20, where: str = "the model") -> int:
    """Smallest arena (a multiple of 16 bytes) for which AllocateTensors() succeeds, by doubling then bisection."""
    with _Prober(tflite_bytes) as allocates:
        if not allocates(limit_bytes):  # not the arena's fault: say why once, instead of doubling up to the limit
            if allocates.died < 0:
                raise CompressError(f"{where}: TFLite Micro crashed reading this file "
                                    f"({isolated.signal_name(-allocates.died)}); is it a valid int8 model?")
            raise CompressError(f"{where}: the tflite-micro runtime cannot allocate this model even in "
                                f"{limit_bytes:,} bytes: {allocates.stderr_tail() or 'no message'}")
        fail, ok = 0, 4096
        while not allocates(ok):
            fail, ok = ok, ok * 2
        while ok - fail > ARENA_ALIGN:
            mid = (fail + ok) // 2 // ARENA_ALIGN * ARENA_ALIGN
            fail, ok = (fail, mid) if allocates(mid) else (mid, ok)
        return ok


def run_tflm(tflite_bytes: bytes, x_int8: np.ndarray, *, arena_bytes: int = 64 << 20,
             where: str = "the model") -> np.ndarray:
    """Raw int8 outputs of the tflite-micro interpreter (the real TFLM kernels), one image at a time: the first
    output tensor's (run_tflm_outputs gives every one).

    It runs in a child process: TFLM trusts the flatbuffer, and a corrupt one can crash it (one line here)."""
    return run_tflm_outputs(tflite_bytes, x_int8, arena_bytes=arena_bytes, where=where, first_only=True)[0]


def run_tflm_outputs(tflite_bytes: bytes, x_int8: np.ndarray, *, arena_bytes: int = 64 << 20,
                     where: str = "the model", first_only: bool = False) -> list[np.ndarray]:
    """run_tflm for every output tensor, in the model's output order (TFLite index): each (samples, values)."""
    x = np.asarray(x_int8)
    if x.dtype != np.int8:
        raise CompressError(f"run_tflm takes int8 input, got {x.dtype}")
    found = isolated.call("compress.deploy.tflm:run_tflm_here", (bytes(tflite_bytes), x, arena_bytes, not first_only),
                          where=where, what="TFLite Micro", memory_bytes=CHILD_MEMORY_BYTES)
    return found if isinstance(found, list) else [found]


def compare_with_tflite(tflite_bytes: bytes, x_int8: np.ndarray, *, where: str = "the model") -> dict:
    """Every output of the tflite-micro runtime against tf.lite.Interpreter's on the same int8 inputs:
    {"outputs": K, "max_abs_diff": [per output, TFLite index], "match": all exactly equal, "tflm": [arrays],
    "tflite": [arrays]}. The interpreter runs in a child process too (a corrupt file may crash it)."""
    x = np.asarray(x_int8)
    micro = run_tflm_outputs(tflite_bytes, x, where=where)
    lite = isolated.call("compress.deploy.outputs:run_tflite_outputs", (bytes(tflite_bytes), x), where=where,
                         what="the TFLite interpreter")
    if len(micro) != len(lite):
        raise CompressError(f"{where}: TFLite Micro gave {len(micro)} outputs, the TFLite interpreter {len(lite)}")
    diffs = [int(np.abs(m.astype(np.int64) - t.reshape(m.shape).astype(np.int64)).max()) if m.size else 0
             for m, t in zip(micro, lite)]
    return {"outputs": len(micro), "max_abs_diff": diffs, "match": not any(diffs), "tflm": micro,
            "tflite": [t.reshape(m.shape) for m, t in zip(micro, lite)]}


def check_runs(path) -> None:
    """Refuse, in one line naming the file, a .tflite that TFLite Micro cannot load and run on zeros (or that
    crashes it), before anything trusts it."""
    data = Path(path).read_bytes()
    isolated.call("compress.deploy.tflm:run_tflm_here", (data, None, 64 << 20), where=str(path),
                  what="TFLite Micro", memory_bytes=CHILD_MEMORY_BYTES)


def run_tflm_here(tflite_bytes: bytes, x_int8: np.ndarray | None, arena_bytes: int,
                  all_outputs: bool = False) -> np.ndarray | list[np.ndarray]:
    """run_tflm in this process (the child's side); x None: one all-zero input. all_outputs: a list with every
    output tensor's rows (TFLite output order), else the first output's rows."""
    from tflite_micro.python.tflite_micro import runtime

    from compress.models.tflite_io import parse

    try:
        interpreter = runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=arena_bytes)
    except RuntimeError as exc:
        raise CompressError(f"the tflite-micro runtime cannot load this model: {exc}") from None
    detail = interpreter.get_input_details(0)
    shape = detail["shape"]
    x = np.zeros((1, *shape[1:]), detail["dtype"]) if x_int8 is None else x_int8
    count = len(parse(bytes(tflite_bytes)).subgraphs[0].outputs) if all_outputs else 1
    rows = [[] for _ in range(count)]
    for image in x.reshape((-1, *shape[1:])):
        interpreter.reset()  # variable tensors (an LSTM's state) back to zero: every sample on its own, as in Keras
        interpreter.set_input(image[None], 0)
        interpreter.invoke()
        for index, found in enumerate(rows):
            found.append(np.array(interpreter.get_output(index)).reshape(-1))
    return [np.stack(found) for found in rows] if all_outputs else np.stack(rows[0])
