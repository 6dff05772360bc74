"""Run an int8 .tflite in the real TFLite Micro runtime on an emulated Cortex-M core (QEMU mps2-an386 for the
Cortex-M4F by default; the machine of each core: compress.devices.cores).

One runner program per kernel set (compress/deploy/runner/runner.cc, built by tflm_build) reads the model and its
inputs from the host through semihosting, so a new model needs no relink. It reports the outputs (every output
tensor: a multi-task model has one per task), the arena TFLM used and the instructions of every op (QEMU -icount
shift=0: instructions, not cycles).
"""
from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.console import ms, plural
from compress.deploy import tflm_build
from compress.deploy.outputs import output_tensors, quantize, run_tflite_outputs
from compress.deploy.test_input import TEST_INPUT_FILE, read_inputs
from compress.devices import cores
from compress.models import isolated
from compress.models.tflite_io import parse, tflite_cost, tflite_info

QEMU_FLAGS = ["-nographic", "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native",
              "-icount", "shift=0"]
QEMU_TIMEOUT_S = 300  # the default model runs in about a second; a hang (a fault loop) ends here
RUNNER_VERSION = "1"  # printed by runner.cc; bump both when the output format changes


@dataclass(frozen=True)
class OpRun:
    index: int
    op: str  # TFLM's name of the op, e.g. DEPTHWISE_CONV_2D
    output_shape: tuple
    macs: int
    instructions: int


@dataclass(frozen=True)
class EmulatedRun:
    model: str
    kernels: str  # cmsis-nn or reference
    instructions: int  # the whole Invoke() of the first sample, interpreter overhead included
    ops: tuple[OpRun, ...]
    arena_bytes: int  # MicroInterpreter::arena_used_bytes() on the core (32-bit, this kernel set's scratch)
    outputs: np.ndarray = field(repr=False)  # int8 outputs of the first output tensor, one row per sample
    outputs_match: bool | None = None  # every output equal to the TFLite interpreter's, element by element
    samples: int = 1
    max_abs_diff: int | None = None  # largest difference from the TFLite interpreter's int8 outputs (any output)
    reference_match: bool | None = None  # equal to TFLite's reference kernels (compared only when not to the above)
    output_list: tuple = field(default=(), repr=False)  # every output tensor's rows, by TFLite output index
    core: str = tflm_build.DEFAULT_CORE  # the emulated core (compress.devices.cores) and its QEMU machine
    machine: str = "mps2-an386"

    @property
    def agrees(self) -> bool:
        """Exact to the TFLite interpreter, or (its optimized ADD rounds differently) to its reference kernels."""
        return bool(self.outputs_match or self.reference_match)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def all_outputs(self) -> tuple:
        """Every output tensor's int8 rows, by TFLite output index (a one-output model: (outputs,))."""
        return self.output_list or (self.outputs,)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "output_list"}
        d |= {"macs": self.macs, "outputs": self.outputs.tolist()}
        if len(self.all_outputs) > 1:  # a multi-output model: every output, by TFLite output index
            d["all_outputs"] = [o.tolist() for o in self.all_outputs]
        d["ops"] = [asdict(op) | {"output_shape": list(op.output_shape)} for op in self.ops]
        return d


def runner(kernels: str = "cmsis-nn", folder=None, ops=tflm_build.RUNNER_OPS, core: str = tflm_build.DEFAULT_CORE
           ) -> Path:
    """The runner program for this kernel set, op list and core, built (once, cached) when missing; the cache key
    holds the runner's own sources, so an edited runner.cc is rebuilt."""
    chain = tflm_build.Toolchain(kernels, folder, core=core)
    ops = tuple(sorted(set(ops)))
    digest = hashlib.sha256(" ".join(ops).encode())
    for name in ("runner.cc", "startup.c", "timer.h"):
        digest.update(tflm_build.runner_file(name).read_bytes())
    elf = chain.dir / f"runner-{RUNNER_VERSION}-{digest.hexdigest()[:12]}.elf"
    if elf.exists():
        return elf
    library = chain.library(ops)
    with tempfile.TemporaryDirectory(prefix="compress-runner-") as tmp:
        tmp = Path(tmp)
        (tmp / "runner_ops.h").write_text(_ops_header(ops))
        include = [f"-I{tmp}", f"-I{tflm_build.runner_file('')}"]
        own = [chain.compile_own(tflm_build.runner_file("startup.c"), tmp),
               chain.compile_own(tflm_build.runner_file("runner.cc"), tmp, include)]
        return chain.link(elf, own, library)


def _ops_header(ops) -> str:
    from compress.deploy.firmware_checks import resolver_method

    calls = " ".join(f"ok &= r.{resolver_method(op)}() == kTfLiteOk;" for op in ops)
    return f"// written by compress.deploy.emulator\n#define COMPRESS_OP_COUNT {len(ops)}\n" \
           f"#define COMPRESS_REGISTER_OPS(r, ok) {calls}\n"


def qemu(elf: Path, workdir: Path, timeout: float = QEMU_TIMEOUT_S, core: str = tflm_build.DEFAULT_CORE) -> str:
    """Run a program linked for the core's QEMU machine with workdir as its semihosting folder; its printed
    output."""
    machine = cores.get(core).machine
    cmd = [tflm_build.tool("qemu-system-arm"), "-machine", machine.name, "-cpu", machine.cpu, *QEMU_FLAGS, "-kernel",
           str(elf)]
    try:
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CompressError(f"QEMU: the emulated program gave no result within {timeout:.0f} s") from None
    if "fault:" in proc.stdout or proc.returncode != 0:
        last = (proc.stdout.strip().splitlines() or [""])[-1]
        raise CompressError(f"QEMU: the emulated program failed (exit {proc.returncode}): "
                            f"{last or proc.stderr.strip()[-300:] or 'no output'}")
    return proc.stdout


def model_inputs(tflite_path: Path, info: dict, inputs=None) -> np.ndarray:
    """int8 samples for the model's input: an .npz ('x', int8 or float in [0, 1]), else test_input.npz beside
    the model, else a deterministic pseudo-random image (seed 0)."""
    path = Path(inputs) if inputs else tflite_path.parent / TEST_INPUT_FILE
    inp = info["input"]
    shape = tuple(inp["shape"][1:])
    if not path.exists():
        if inputs:
            raise CompressError(f"{path}: no such file")
        return np.random.default_rng(0).integers(-128, 128, size=(1, *shape), dtype=np.int8)
    x = read_inputs(path)
    if x.size % int(np.prod(shape)):
        raise CompressError(f"{path}: 'x' has {x.size} values, not a multiple of the model's input {shape}")
    if x.dtype != np.int8:
        if not np.issubdtype(x.dtype, np.floating):
            raise CompressError(f"{path}: 'x' must be int8 (quantized) or float in [0, 1], not {x.dtype}")
        x = quantize(x.astype(np.float32), inp["scale"], inp["zero_point"])
    return x.reshape((-1, *shape))


def emulate(tflite_path, kernels: str = "cmsis-nn", inputs=None, folder=None, compare: bool = True,
            timeout: float = QEMU_TIMEOUT_S, ops=tflm_build.RUNNER_OPS, core: str = tflm_build.DEFAULT_CORE
            ) -> EmulatedRun:
    """Run the model's int8 inputs in TFLM on the emulated core; compare its outputs with the TFLite interpreter's.

    The runner registers `ops` (default: every op compress's models use) plus any other op of the model."""
    machine = _machine(core)
    tflite_path = Path(tflite_path)
    if not tflite_path.is_file():
        raise CompressError(f"{tflite_path}: no such file")
    data = tflite_path.read_bytes()
    info, graph = tflite_info(data, str(tflite_path)), parse(data, str(tflite_path)).subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) == 0:
        raise CompressError(f"{tflite_path}: {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; the "
                            "emulator runs models with one input and at least one output")
    dtypes = [t["dtype"] for t in output_tensors(data, str(tflite_path))]
    if info["input"]["dtype"] != "int8" or any(d != "int8" for d in dtypes):
        raise CompressError(f"{tflite_path}: input/output are {info['input']['dtype']}/{'/'.join(dtypes)}; "
                            "the emulator runs full-integer int8 models (`python -m compress export` makes them)")
    x = model_inputs(tflite_path, info, inputs)
    elf = runner(kernels, folder, tuple(ops) + tuple(info["ops"]), core)
    with tempfile.TemporaryDirectory(prefix="compress-emulate-") as tmp:
        (Path(tmp) / "model.tflite").write_bytes(data)
        (Path(tmp) / "input.bin").write_bytes(x.tobytes())
        parsed = parse_output(qemu(elf, Path(tmp), timeout, core))
    tensors = parsed["tensors"]
    if sorted(tensors) != list(range(len(graph.outputs))):
        raise CompressError(f"{tflite_path}: the runner printed outputs {sorted(tensors)}, the model has "
                            f"{len(graph.outputs)}")
    every = tuple(tensors[t].reshape(len(x), -1) for t in range(len(graph.outputs)))
    run = EmulatedRun(tflite_path.name, kernels, parsed["invoke"], _op_runs(tflite_path, parsed["ops"]),
                      parsed["arena_used"], every[0], samples=len(x), output_list=every if len(every) > 1 else (),
                      core=core, machine=machine)
    return _compared(run, data, x, str(tflite_path)) if compare else run


def _compared(run: EmulatedRun, data: bytes, x: np.ndarray, where: str = "the model") -> EmulatedRun:
    """The run with its outputs compared to the TFLite interpreter's, and to TFLite's reference kernels when the
    default (optimized) ones differ: TFLM implements the reference arithmetic, which rounds ADD differently.
    The interpreter runs in a child process: the file is the user's, and a corrupt one may crash it."""
    expected, reference_outputs = isolated.call("compress.deploy.emulator:interpreter_outputs", (data, x),
                                                where=where, what="the TFLite interpreter")
    ran = run.all_outputs
    if len(expected) != len(ran):
        raise CompressError(f"{where}: the emulated run gave {len(ran)} outputs, the TFLite interpreter "
                            f"{len(expected)}")
    diffs = [int(np.abs(got - want.reshape(got.shape).astype(np.int64)).max()) if want.size else 0
             for got, want in zip(ran, expected)]
    diff = max(diffs)
    reference = None
    if diff:
        reference = all(np.array_equal(got, want.reshape(got.shape)) for got, want in zip(ran, reference_outputs))
    return replace(run, outputs_match=diff == 0, max_abs_diff=diff, reference_match=reference)


def interpreter_outputs(data: bytes, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """_compared's child side: the TFLite interpreter's outputs (every output tensor, TFLite order) with its
    default and its reference kernels."""
    return (run_tflite_outputs(data, x),
            [o.reshape(len(o), -1).astype(np.int64) for o in run_tflite_outputs(data, x, "reference")])


def _op_runs(tflite_path: Path, measured: list) -> tuple[OpRun, ...]:
    """The runner's per-op instructions next to each op's output shape and MACs from the cost model."""
    layers = tflite_cost(tflite_path).layers
    if len(layers) != len(measured):
        raise CompressError(f"{tflite_path}: the runner reported {len(measured)} ops, the model has {len(layers)}")
    return tuple(OpRun(i, name, tuple(layer.output_shape), layer.macs, count)
                 for i, ((name, count), layer) in enumerate(zip(measured, layers)))


def parse_output(text: str) -> dict:
    """The runner's lines (runner.cc) as {'arena_used', 'ops': [(name, instructions)], 'invoke', 'outputs' (the
    first output tensor's rows), 'tensors': {output index: rows}}."""
    found = {"ops": [], "tensors": {}}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "error":
            raise CompressError(f"the emulated TFLM runtime: {rest}")
        if word == "compress-runner" and rest != RUNNER_VERSION:
            raise CompressError(f"runner version {rest}, expected {RUNNER_VERSION}: clear $COMPRESS_CACHE/tflm")
        if word in ("arena_used", "invoke", "done"):
            found[word] = int(rest)
        elif word == "op":
            _, name, count = rest.split()
            found["ops"].append((name, int(count)))
        elif word == "output":
            sample, tensor, *values = rest.split()
            found["tensors"].setdefault(int(tensor), []).append([int(v) for v in values])
    if "done" not in found:
        raise CompressError("the emulated TFLM runtime stopped before the end: "
                            + (text.strip().splitlines() or ["no output"])[-1][:300])
    found["tensors"] = {t: np.array(rows, dtype=np.int64) for t, rows in found["tensors"].items()}
    found["outputs"] = found["tensors"].get(0, np.zeros((0, 0), np.int64))
    return found


def _machine(core: str) -> str:
    """The QEMU machine that emulates a core; CompressError saying why when none does."""
    found = cores.get(core)
    if not found.emulated:
        raise CompressError(f"{core} is not emulated: {found.why_not_emulated}")
    return found.machine.name


def toolchain_missing(core: str = tflm_build.DEFAULT_CORE) -> str | None:
    """Why the emulator cannot run this core here (not emulated, a missing program or tree), or None when it
    can."""
    try:
        _machine(core)
        for name in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm"):
            tflm_build.tool(name)
        tflm_build.tree_dir("cmsis-nn")
        proc = subprocess.run([tflm_build.tool("arm-none-eabi-g++"), *cores.get(core).cpu_flags, "-E", "-x", "c++", "-"],
                              input="#include <new>\n#include <cstdio>\n", capture_output=True, text=True, timeout=60)
    except (CompressError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode != 0:
        return f"arm-none-eabi-g++ finds no C++ standard headers: install {tflm_build.PACKAGES}"
    return None


def emulate_winner(tflite_path, kernels: str, device, cycles_per_instruction: float = 1.0,
                   estimated_arena_bytes: int | None = None, log=print) -> dict:
    """A search winner's emulated run next to the estimates, for summary.json's `emulated` (and the terminal):
    measured instructions and arena, the table's instruction estimate, time at the device clock. Where the
    toolchain or TFLM tree is missing, {'skipped': why}; an emulator failure is reported the same way."""
    from compress.devices import latency

    missing = toolchain_missing(device.core)
    if missing is None:
        try:
            run = emulate(tflite_path, kernels, core=device.core)
        except CompressError as exc:
            missing = f"the emulated run failed: {exc}"
    if missing is not None:
        log(f"winner not emulated: {missing}")
        return {"skipped": missing}
    estimate = latency.instructions(tflite_cost(tflite_path), kernels, latency.tflite_geometry(tflite_path))
    found = {"kernels": kernels, "instructions": run.instructions, "estimated_instructions": round(estimate),
             "macs": run.macs, "instructions_per_mac": run.instructions / max(run.macs, 1),
             "cycles_per_instruction": cycles_per_instruction, "core": run.core, "machine": run.machine,
             "latency_s": run.instructions * cycles_per_instruction / device.clock_hz,
             "arena_bytes": run.arena_bytes, "estimated_arena_bytes": estimated_arena_bytes,
             "outputs_match": run.outputs_match, "agrees": run.agrees,
             "ops": [{"op": op.op, "macs": op.macs, "instructions": op.instructions} for op in run.ops]}
    log(f"emulated on a {run.core} (TFLM {kernels} kernels, QEMU {run.machine}): {run.instructions:,} instructions "
        f"(estimate {estimate:,.0f}), {found['instructions_per_mac']:.1f} per MAC, {ms(found['latency_s'])} "
        f"at {device.clock_hz / 1e6:g} MHz and {plural(cycles_per_instruction, 'cycle')} per instruction; arena "
        f"{run.arena_bytes:,} bytes (estimate {estimated_arena_bytes or 0:,}); outputs equal TFLite's: "
        f"{'yes' if run.outputs_match else 'no'}")
    return found
