"""Build the TFLite Micro runtime for a Cortex-M4F with arm-none-eabi-gcc: objects cached per tree and flags.

A tree is one of the folders TFLM's create_tflm_tree.py generates (../shared/tflm/README.md says how); compress
compiles the framework and the kernels of the ops it is asked for, never the whole tree, and keeps every object
under $COMPRESS_CACHE/tflm/<key>/, key = tree path and contents + flags. The CMSIS-NN C functions those kernels
call are found by symbol (nm) and compiled on demand.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import compress
from compress import CompressError, files

KERNEL_TREES = {"cmsis-nn": "cortex_m4_cmsis_nn", "reference": "cortex_m4_reference"}
PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"
CPU_FLAGS = ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-mthumb"]
DEFINES = ["TF_LITE_STATIC_MEMORY", "NDEBUG", "TF_LITE_MCU_DEBUG_LOG", "CPU_M4=1", "ARMCM4",
           'CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMCM4.h"']
CMSIS_NN_DEFINES = ["CMSIS_NN", "ARM_NN_ENABLE_F16=0", "ARM_NN_ENABLE_F32=0"]
CXX_FLAGS = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"]
COMMON_FLAGS = ["-ffunction-sections", "-fdata-sections", "-Wno-psabi"]  # never -fno-builtin (tflm README)
CORE_OPT, KERNEL_OPT = "-Os", "-O2"  # as TFLM's own makefile: the core small, the kernels fast
INCLUDE_DIRS = ["", "third_party/gemmlowp", "third_party/flatbuffers/include", "third_party/ruy",
                "third_party/cmsis_nn", "third_party/cmsis_nn/Include", "third_party/kissfft",
                "third_party/cmsis/CMSIS/Core/Include", "third_party/cortex_dfp/ARMCM4/Include"]
LINK_FLAGS = ["-nostartfiles", "--specs=rdimon.specs", "-Wl,--gc-sections"]
COMPILE_TIMEOUT_S = 600
PCH_HEADER = "compress_tflm_pch.h"  # precompiled: what nearly every TFLM source includes
PCH_INCLUDES = ["tensorflow/lite/schema/schema_generated.h", "tensorflow/lite/micro/micro_context.h",
                "tensorflow/lite/micro/micro_interpreter.h", "tensorflow/lite/micro/kernels/kernel_util.h",
                "tensorflow/lite/kernels/internal/types.h", "tensorflow/lite/kernels/kernel_util.h"]
PCH_MIN_SOURCES = 8  # fewer C++ files to compile: precompiling (~13 s per level) does not pay

# The framework: interpreter, allocator, planner, flatbuffer parsing, shared kernel helpers.
FRAMEWORK = [
    "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc", "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
    "tensorflow/lite/core/api/flatbuffer_conversions.cc", "tensorflow/lite/core/api/tensor_utils.cc",
    "tensorflow/lite/core/c/common.cc", "tensorflow/lite/kernels/kernel_util.cc",
    "tensorflow/lite/kernels/internal/common.cc", "tensorflow/lite/kernels/internal/portable_tensor_utils.cc",
    "tensorflow/lite/kernels/internal/quantization_util.cc", "tensorflow/lite/kernels/internal/tensor_utils.cc",
    "tensorflow/lite/kernels/internal/runtime_shape.cc", "tensorflow/lite/kernels/internal/tensor_ctypes.cc",
    "tensorflow/lite/micro/arena_allocator/non_persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/linear_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/non_persistent_buffer_planner_shim.cc",
    "tensorflow/lite/micro/tflite_bridge/flatbuffer_conversions_bridge.cc",
    "tensorflow/lite/micro/tflite_bridge/micro_error_reporter.cc",
    "tensorflow/lite/micro/flatbuffer_utils.cc", "tensorflow/lite/micro/memory_helpers.cc",
    "tensorflow/lite/micro/micro_allocation_info.cc", "tensorflow/lite/micro/micro_allocator.cc",
    "tensorflow/lite/micro/micro_context.cc", "tensorflow/lite/micro/micro_interpreter.cc",
    "tensorflow/lite/micro/micro_interpreter_context.cc", "tensorflow/lite/micro/micro_interpreter_graph.cc",
    "tensorflow/lite/micro/micro_log.cc", "tensorflow/lite/micro/micro_op_resolver.cc",
    "tensorflow/lite/micro/micro_resource_variable.cc", "tensorflow/lite/micro/micro_utils.cc",
    "tensorflow/lite/micro/system_setup.cc", "tensorflow/lite/micro/kernels/kernel_util.cc",
]
# Builtin op -> kernel file stems under tensorflow/lite/micro/kernels/ (each also as <stem>_common.cc and, in a
# CMSIS-NN tree, cmsis_nn/<stem>.cc, where those exist). Ops not listed: the op's name in lower case. Depthwise
# needs conv's too: depthwise_conv_common.cc reads the tensor indices conv_common.cc defines.
OP_STEMS = {"CONV_2D": ["conv"], "DEPTHWISE_CONV_2D": ["depthwise_conv", "conv"], "MAX_POOL_2D": ["pooling"],
            "AVERAGE_POOL_2D": ["pooling"], "MEAN": ["reduce"], "SUM": ["reduce"], "REDUCE_MAX": ["reduce"],
            "RELU": ["activations"], "RELU6": ["activations"], "PADV2": ["pad"], "MAXIMUM": ["maximum_minimum"],
            "MINIMUM": ["maximum_minimum"], "ABS": ["elementwise"], "SQRT": ["elementwise"], "RSQRT": ["elementwise"],
            "SIN": ["elementwise"], "COS": ["elementwise"], "LOG": ["elementwise"], "SQUARE": ["elementwise"],
            "LOGICAL_NOT": ["elementwise"], "EQUAL": ["comparisons"], "NOT_EQUAL": ["comparisons"],
            "GREATER": ["comparisons"], "GREATER_EQUAL": ["comparisons"], "LESS": ["comparisons"],
            "LESS_EQUAL": ["comparisons"], "LOGICAL_AND": ["logical"], "LOGICAL_OR": ["logical"],
            "ARG_MAX": ["arg_min_max"], "ARG_MIN": ["arg_min_max"], "REVERSE_V2": ["reverse"],
            "SELECT_V2": ["select"], "UNIDIRECTIONAL_SEQUENCE_LSTM": ["unidirectional_sequence_lstm", "lstm_eval"]}
# What the runner registers: every op compress's models produce, so one runner binary runs them all.
RUNNER_OPS = ("ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
              "FULLY_CONNECTED", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "QUANTIZE", "RELU", "RELU6",
              "RESHAPE", "SOFTMAX", "TANH")
_C_FUNCTION = re.compile(r"^[a-z_0-9]+[ *]+(arm_\w+)\(", re.M)
# CMSIS-NN's lookup tables (arm_nntables.c: sigmoid_table_uint16, used by the int16 activations of its LSTM)
_C_TABLE = re.compile(r"^const\s+(?:u?int\d+_t|q\d+_t)\s+(\w+)\s*\[", re.M)


def tflm_dir(folder=None) -> Path:
    """--tflm-dir, else $COMPRESS_TFLM_DIR, else ../shared/tflm beside the checkout: the folder of the trees."""
    beside = Path(compress.__file__).resolve().parents[2] / "shared" / "tflm"
    chosen = folder or os.environ.get("COMPRESS_TFLM_DIR") or (beside if beside.is_dir() else None)
    if chosen is None:
        raise CompressError("no TFLite Micro tree: pass --tflm-dir or set COMPRESS_TFLM_DIR to a folder holding "
                            f"{' and '.join(KERNEL_TREES.values())} (README: 'Emulated Cortex-M4')")
    return Path(chosen)


def tree_dir(kernels: str, folder=None) -> Path:
    if kernels not in KERNEL_TREES:
        raise CompressError(f"--kernels {kernels}: choose one of {', '.join(KERNEL_TREES)}")
    tree = tflm_dir(folder) / KERNEL_TREES[kernels]
    if not (tree / "tensorflow" / "lite" / "micro" / "micro_interpreter.h").is_file():
        raise CompressError(f"{tree}: not a TFLite Micro tree (no tensorflow/lite/micro/micro_interpreter.h)")
    return tree


def tool(name: str) -> str:
    """The path of a toolchain program, or CompressError naming the Debian packages to install."""
    path = shutil.which(name)
    if path is None:
        raise CompressError(f"{name} not found: install the Debian/Ubuntu packages {PACKAGES}")
    return path


def cache_dir() -> Path:
    return Path(os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compress")


def runner_file(name: str) -> Path:
    """A source file shipped in compress/deploy/runner/ (startup code, linker script, runner, Arduino shim)."""
    return Path(str(resources.files("compress.deploy") / "runner" / name))


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """One process at a time compiles into a cache folder: another one (a second test worker, a second run) waits,
    then finds the objects made instead of compiling them again. flock dies with its process: never stale."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run(cmd: list, what: str, cwd=None, timeout: float = COMPILE_TIMEOUT_S) -> str:
    """Run a build step; CompressError with the tail of its output when it fails or times out."""
    try:
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CompressError(f"{what}: no result after {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        raise CompressError(f"{what} failed: " + " | ".join(tail))
    return proc.stdout


class Toolchain:
    """One tree with one set of flags: compiles its sources into cached objects and links programs from them."""

    def __init__(self, kernels: str = "cmsis-nn", folder=None, jobs: int | None = None):
        self.kernels, self.tree = kernels, tree_dir(kernels, folder)
        self.gcc, self.gxx = tool("arm-none-eabi-gcc"), tool("arm-none-eabi-g++")
        self.defines = DEFINES + (CMSIS_NN_DEFINES if kernels == "cmsis-nn" else [])
        self.includes = [f"-I{self.tree / d}" for d in INCLUDE_DIRS]
        self.jobs = jobs or os.cpu_count() or 1
        self.dir = cache_dir() / "tflm" / self.key()
        self._index = None

    def key(self) -> str:
        """Tree (path, file names and sizes) + compiler + flags: a changed tree or flag gets fresh objects."""
        digest = hashlib.sha256(str(self.tree.resolve()).encode())
        for path in sorted(self.tree.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(self.tree)}:{path.stat().st_size}\n".encode())
        flags = CPU_FLAGS + self.defines + CXX_FLAGS + COMMON_FLAGS + [CORE_OPT, KERNEL_OPT, self.gcc]
        digest.update(" ".join(flags).encode() + run([self.gcc, "-dumpfullversion"], "arm-none-eabi-gcc").encode())
        return f"{self.kernels}-{digest.hexdigest()[:16]}"

    @staticmethod
    def opt(source) -> str:
        kernel = "/kernels/" in str(source) or "third_party/cmsis_nn" in str(source)
        return KERNEL_OPT if kernel else CORE_OPT

    def flags(self, source, opt: str | None = None) -> list[str]:
        lang = CXX_FLAGS if str(source).endswith((".cc", ".cpp", ".h")) else ["-std=c11"]
        return CPU_FLAGS + COMMON_FLAGS + lang + [opt or self.opt(source)] + [f"-D{d}" for d in self.defines] + \
            self.includes

    def _object_path(self, source: str) -> Path:
        return self.dir / "obj" / (source.rsplit(".", 1)[0] + ".o")

    def _compile(self, source: str, pch_dirs: dict) -> Path:
        """Compile a tree source (relative path) into its cached object, with the precompiled headers if any."""
        obj = self._object_path(source)
        obj.parent.mkdir(parents=True, exist_ok=True)
        tmp = obj.with_suffix(f".{os.getpid()}.tmp")
        cxx = source.endswith((".cc", ".cpp"))
        pch = pch_dirs.get(self.opt(source)) if cxx else None
        extra = ["-I", pch, "-include", PCH_HEADER, "-Winvalid-pch"] if pch else []
        run([self.gxx if cxx else self.gcc, *self.flags(source), *extra, "-c", self.tree / source, "-o", tmp],
            f"compiling {source}")
        tmp.replace(obj)
        return obj

    def objects(self, sources) -> list[Path]:
        """The cached objects of tree sources, the missing ones compiled in parallel.

        Every TFLM source parses the same large headers (the flatbuffer schema) for ~4 s; with more than a few
        C++ files to compile, those headers are precompiled once per optimisation level (in a temporary folder:
        a precompiled header is ~250 MB). Objects are identical with or without it.
        """
        sources = list(dict.fromkeys(sources))
        with _exclusive(self.dir / ".lock"):
            missing = [s for s in sources if not self._object_path(s).exists()]
            self._compile_missing(missing)
        return [self._object_path(s) for s in sources]

    def _compile_missing(self, missing: list[str]) -> None:
        cxx = [s for s in missing if s.endswith((".cc", ".cpp"))]
        with tempfile.TemporaryDirectory(prefix="compress-pch-") as tmp, ThreadPoolExecutor(self.jobs) as pool:
            levels = sorted({self.opt(s) for s in cxx})
            pch_dirs = {}
            if len(cxx) >= PCH_MIN_SOURCES:
                pch_dirs = dict(zip(levels, pool.map(lambda level: self._pch(Path(tmp), level), levels)))
            list(pool.map(lambda s: self._compile(s, pch_dirs), missing))

    def _pch(self, tmp: Path, level: str) -> str:
        folder = tmp / level.lstrip("-")
        folder.mkdir()
        header = folder / PCH_HEADER
        header.write_text("".join(f'#include "{h}"\n' for h in PCH_INCLUDES))
        run([self.gxx, *self.flags(PCH_HEADER, level), "-x", "c++-header", header, "-o", f"{header}.gch"],
            "precompiling the TFLM headers")
        return str(folder)

    def kernel_sources(self, ops) -> list[str]:
        stems = sorted({stem for op in ops for stem in OP_STEMS.get(op, [op.lower()])})
        found = [f"tensorflow/lite/micro/kernels/{d}{stem}{suffix}.cc" for stem in stems for d in ("", "cmsis_nn/")
                 for suffix in ("", "_common")]
        return [s for s in found if (self.tree / s).is_file()]

    def library(self, ops) -> list[Path]:
        """Objects for the framework and the ops' kernels, plus the CMSIS-NN functions they call."""
        objects = self.objects(FRAMEWORK + self.kernel_sources(ops))
        return objects + self._cmsis_closure(objects)

    def _cmsis_closure(self, objects: list[Path]) -> list[Path]:
        """Compile the CMSIS-NN C files that define the arm_* functions still undefined, until none is left."""
        index, added, pending = self._cmsis_index(), [], list(objects)
        defined, needed = set(), set()
        while pending:
            for obj in pending:
                defined |= self._symbols(obj, "--defined-only")
                needed |= {s for s in self._symbols(obj, "--undefined-only") if s.startswith("arm_") or s in index}
            sources = sorted({index[s] for s in needed - defined if s in index})
            pending = [obj for obj in self.objects(sources) if obj not in added]
            added += pending
        return added

    def _cmsis_index(self) -> dict:
        """arm_* function (or lookup table) name -> the CMSIS-NN source file that defines it (empty for a reference
        tree)."""
        if self._index is None:
            self._index = {}
            for path in sorted((self.tree / "third_party" / "cmsis_nn" / "Source").rglob("*.c")):
                text = path.read_text(errors="replace")
                for name in _C_FUNCTION.findall(text) + _C_TABLE.findall(text):
                    self._index.setdefault(name, str(path.relative_to(self.tree)))
        return self._index

    def _symbols(self, obj: Path, which: str) -> set[str]:
        out = run([tool("arm-none-eabi-nm"), which, "--format=just-symbols", obj], f"nm {obj.name}")
        return set(out.split())

    def link(self, out: Path, own_objects: list[Path], library: list[Path]) -> Path:
        """Link own objects with the library objects (as an archive: only what is used) for mps2-an386."""
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="compress-link-") as tmp:
            archive = Path(tmp) / "libtflm.a"
            run([tool("arm-none-eabi-ar"), "rcs", archive, *library], "archiving the TFLM objects")
            elf = Path(tmp) / "program.elf"
            run([self.gxx, *CPU_FLAGS, *LINK_FLAGS, "-T", runner_file("mps2_an386.ld"), *own_objects, archive,
                 "-lm", "-o", elf], f"linking {out.name}")
            files.write_bytes(out, elf.read_bytes())  # all or nothing, even across file systems
        return out

    def compile_own(self, source: Path, out_dir: Path, extra: list[str] = ()) -> Path:
        """Compile a source that is not part of the tree (runner, startup, sketch) into out_dir."""
        obj = out_dir / (source.name + ".o")
        compiler = self.gxx if source.suffix in (".cc", ".cpp") else self.gcc
        run([compiler, *self.flags(source, KERNEL_OPT), *extra, "-c", source, "-o", obj],
            f"compiling {source.name}")
        return obj
