"""Compile generated firmware for an emulated core (default the Cortex-M4F in QEMU mps2-an386; each core's machine:
compress.devices.cores) against the TFLM tree and run it in QEMU: an Arduino sketch
(.ino, model_data, platform hooks, test image as they are) with a minimal Arduino shim, setup() then one loop();
or the generic C++ library with its example program selftest_main.cc."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from compress import CompressError, files
from compress.deploy import tflm_build
from compress.deploy.emulator import qemu
from compress.devices import cores

SKETCH_TIMEOUT_S = 300
GENERIC_DEBUG_LOG = "tensorflow/lite/micro/cortex_m_generic/debug_log.cc"  # RegisterDebugLogCallback's port
_VERDICT = re.compile(r"^predicted: (.*?)  expected: (.*?)  (PASS|FAIL)\s*$", re.M)
# a multi-task firmware's lines: one per task, then the whole self-test's verdict
_TASK_VERDICT = re.compile(r"^([A-Za-z]\w*): (.*?) \(([-+0-9.naif]+)\)  expected: (.*?)  (PASS|FAIL)\s*$", re.M)
_SELF_TEST = re.compile(r"^self-test: (\d+) of (\d+) tasks as expected  (PASS|FAIL)\s*$", re.M)


def sketch_sources(sketch_dir: Path) -> list[Path]:
    """The sketch's .ino and .cpp files; CompressError when the folder holds no sketch."""
    ino = sketch_dir / f"{sketch_dir.name}.ino"
    if not ino.is_file():
        raise CompressError(f"{sketch_dir}: no {ino.name} (an Arduino sketch is named after its folder)")
    return [ino, *sorted(sketch_dir.glob("*.cpp"))]


def _metadata(sketch_dir: Path) -> tuple[str, tuple]:
    """The board and ops firmware.json records (an older or hand-made folder: apollo3, the runner's ops)."""
    path = sketch_dir / "firmware.json"
    if not path.is_file():
        return "apollo3", tflm_build.RUNNER_OPS
    try:
        meta = files.read_json(path, what="firmware.json")  # its nesting measured first
        return meta.get("board", "apollo3"), tuple(meta["ops"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CompressError(f"{path}: not the firmware.json compress writes; generate the folder again") from None


def build_sketch(sketch_dir, elf: Path, kernels: str = "cmsis-nn", folder=None, clock_mhz: float = 48.0,
                 core: str = tflm_build.DEFAULT_CORE, shim_flags=(), shim_sources=()) -> Path:
    """The firmware linked with the TFLM objects of its ops into the ELF file elf: a sketch with the Arduino shim
    (runner/arduino), or the generic library with its self-test program. A sketch's extra shims (the camera's:
    compress.deploy.camera_emulator) add shim_flags to every sketch source and shim_sources to the program."""
    sketch_dir = Path(sketch_dir)
    board, ops = _metadata(sketch_dir)
    chain = tflm_build.Toolchain(kernels, folder, core=core)
    library = chain.library(ops)
    with tempfile.TemporaryDirectory(prefix="compress-sketch-") as tmp:
        tmp = Path(tmp)
        own = [chain.compile_own(tflm_build.runner_file("startup.c"), tmp)]
        if board == "generic":  # DebugLog() from the tree's cortex_m_generic port, as on a real board
            own += [chain.compile_own(sketch_dir / name, tmp, [f"-I{sketch_dir}"])
                    for name in ("model_runner.cc", "model_data.cc", "selftest_main.cc")]
            library += chain.objects([GENERIC_DEBUG_LOG])
        else:
            own += _sketch_objects(chain, sketch_dir, tmp, clock_mhz, list(shim_flags))
            own += [chain.compile_own(Path(source), tmp, [f"-I{tflm_build.runner_file('arduino')}",
                                                          *shim_flags]) for source in shim_sources]
        return chain.link(elf, own, library)


def _sketch_objects(chain, sketch_dir: Path, tmp: Path, clock_mhz: float, shim_flags=()) -> list[Path]:
    """The sketch's own sources compiled with the Arduino shim; the library's DebugLog() if the sketch has none."""
    sources = sketch_sources(sketch_dir)
    shim = tflm_build.runner_file("arduino")
    include = [f"-I{sketch_dir}", f"-I{shim}", f"-I{tflm_build.runner_file('')}",
               f"-DCOMPRESS_CLOCK_MHZ={max(1, round(clock_mhz))}", *shim_flags]
    own = [chain.compile_own(shim / "arduino_main.cc", tmp, include)]
    if not (sketch_dir / "tflm_platform.cpp").is_file():  # Arduino_TensorFlowLite brings it on the Nano 33 BLE
        own.append(chain.compile_own(shim / "library_platform.cc", tmp, include))
    for source in sources:
        cpp = source
        if source.suffix == ".ino":  # what the Arduino builder does, less its prototype generation
            cpp = tmp / f"{source.name}.cpp"
            cpp.write_text(f'#include <Arduino.h>\n#line 1 "{source.name}"\n' + source.read_text())
        own.append(chain.compile_own(cpp, tmp, include))
    return own


def run_sketch(sketch_dir, kernels: str = "cmsis-nn", folder=None, clock_mhz: float = 48.0,
               timeout: float = SKETCH_TIMEOUT_S, core: str = tflm_build.DEFAULT_CORE) -> dict:
    """Build and run the sketch; its serial output and the verdict line it printed (None when it printed none).

    A multi-task firmware's: predicted and expected are {task: label}, `tasks` {task: {predicted, score,
    expected, passed}}, and passed needs every task's line and the self-test line to say PASS."""
    with tempfile.TemporaryDirectory(prefix="compress-sketch-run-") as tmp:
        elf = build_sketch(sketch_dir, Path(tmp) / "sketch.elf", kernels, folder, clock_mhz, core)
        text = qemu(elf, Path(tmp), timeout, core).replace("\r\n", "\n")
    latency = re.search(r"^latency_us: (\d+)", text, re.M)
    ran = {"serial": text, "kernels": kernels, "latency_us": int(latency.group(1)) if latency else None,
           "clock_mhz": clock_mhz, "core": core, "machine": cores.get(core).machine.name}
    tasks = {m.group(1): {"predicted": m.group(2), "score": float(m.group(3)), "expected": m.group(4),
                          "passed": m.group(5) == "PASS"} for m in _TASK_VERDICT.finditer(text)}
    if tasks:
        whole = _SELF_TEST.search(text)
        return {**ran, "predicted": {t: f["predicted"] for t, f in tasks.items()},
                "expected": {t: f["expected"] for t, f in tasks.items()}, "tasks": tasks,
                "passed": bool(whole and whole.group(3) == "PASS" and all(f["passed"] for f in tasks.values()))}
    found = _VERDICT.search(text)
    return {**ran, "predicted": found.group(1) if found else None, "expected": found.group(2) if found else None,
            "passed": bool(found and found.group(3) == "PASS")}


def verdict_text(ran: dict) -> str:
    """The serial output of an emulated sketch run and one line on what it means."""
    if ran["predicted"] is None:
        verdict = "the sketch printed no prediction: FAIL"
    elif isinstance(ran["predicted"], dict):
        verdict = ("the sketch predicted " + ", ".join(f"{t} {p}" for t, p in ran["predicted"].items())
                   + "; expected " + ", ".join(f"{t} {e}" for t, e in ran["expected"].items())
                   + f": {'PASS' if ran['passed'] else 'FAIL'}")
    else:
        verdict = (f"the sketch predicted {ran['predicted']}, expected {ran['expected']}: "
                   f"{'PASS' if ran['passed'] else 'FAIL'}")
    timing = "" if ran["latency_us"] is None else (
        f"; its latency_us counts emulated instructions at {ran['clock_mhz']:g} MHz, one per cycle")
    where = f"QEMU {ran.get('machine', 'mps2-an386')}, {ran.get('core', tflm_build.DEFAULT_CORE)}"
    return (f"serial output of the sketch in {where} (TFLM {ran['kernels']} kernels):\n"
            + "\n".join("  " + line for line in ran["serial"].strip("\n").splitlines()) + f"\n{verdict}{timing}")
