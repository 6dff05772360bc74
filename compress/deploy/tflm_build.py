"""Build the TFLite Micro runtime for an emulated Cortex-M core with arm-none-eabi-gcc: objects cached per tree,
core and flags (the core's flags, QEMU machine and memory map: compress.devices.cores).

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
from string import Template

import compress
from compress import CompressError, files
from compress.console import Progress, plural
from compress.deploy.tflm_sources import FRAMEWORK, OP_STEMS, RUNNER_OPS  # RUNNER_OPS: callers read it here
from compress.devices import cores

KERNEL_TREES = {"cmsis-nn": "cortex_m4_cmsis_nn", "reference": "cortex_m4_reference"}
PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"
DEFAULT_CORE = "Cortex-M4F"  # the core the trees were generated for (../shared/tflm/README.md)
CPU_FLAGS = list(cores.get(DEFAULT_CORE).cpu_flags)
# The trees' sources do not depend on the core: CMSIS-NN picks its code paths from the compiler's __ARM_FEATURE_*
# macros. The CMSIS device header is only read by cortex_m_generic/micro_time.cc, which compress does not build.
DEFINES = ["TF_LITE_STATIC_MEMORY", "NDEBUG", "TF_LITE_MCU_DEBUG_LOG"]
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
PROGRESS_MIN_SOURCES = 4  # fewer files to compile: a few seconds, no progress lines

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

    def __init__(self, kernels: str = "cmsis-nn", folder=None, jobs: int | None = None, core: str = DEFAULT_CORE):
        self.core = cores.get(core)
        if not self.core.emulated:
            raise CompressError(f"{core} is not emulated: {self.core.why_not_emulated}")
        self.machine = self.core.machine
        self.kernels, self.tree = kernels, tree_dir(kernels, folder)
        self.cpu_flags = list(self.core.cpu_flags)
        self.gcc, self.gxx = tool("arm-none-eabi-gcc"), tool("arm-none-eabi-g++")
        device = self.core.cmsis_device
        self.defines = DEFINES + [self.core.cpu_define, device.split("_")[0],
                                  f'CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="{device}.h"'] + \
            (CMSIS_NN_DEFINES if kernels == "cmsis-nn" else [])
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
        flags = self.cpu_flags + self.defines + CXX_FLAGS + COMMON_FLAGS + [CORE_OPT, KERNEL_OPT, self.gcc]
        digest.update(" ".join(flags).encode() + run([self.gcc, "-dumpfullversion"], "arm-none-eabi-gcc").encode())
        core = "" if self.core.title == DEFAULT_CORE else self.machine.cpu + "-"  # the M4's cache stays where it was
        return f"{core}{self.kernels}-{digest.hexdigest()[:16]}"

    @staticmethod
    def opt(source) -> str:
        kernel = "/kernels/" in str(source) or "third_party/cmsis_nn" in str(source)
        return KERNEL_OPT if kernel else CORE_OPT

    def flags(self, source, opt: str | None = None) -> list[str]:
        lang = CXX_FLAGS if str(source).endswith((".cc", ".cpp", ".h")) else ["-std=c11"]
        return self.cpu_flags + COMMON_FLAGS + lang + [opt or self.opt(source)] + [f"-D{d}" for d in self.defines] + \
            self.includes

    def _object_path(self, source: str) -> Path:
        return self.dir / "obj" / (source.rsplit(".", 1)[0] + ".o")

    def _progress(self, missing: list[str]) -> Progress | None:
        """Progress lines for a batch large enough to take a while (a first build: ~5 min on 2 cores)."""
        if len(missing) < PROGRESS_MIN_SOURCES:
            return None
        if all("third_party/cmsis_nn" in s for s in missing):  # small C files, seconds: one line when done
            return Progress(len(missing), "TFLM build: compiled {done}/{total} CMSIS-NN files the kernels call",
                            None, lines=1)
        pch = sum(s.endswith((".cc", ".cpp")) for s in missing) >= PCH_MIN_SOURCES
        return Progress(len(missing), "TFLM build: compiled {done}/{total} files", (
            f"building TFLite Micro ({self.kernels} kernels) for the emulated {self.core.title}: {len(missing)} files of "
            f"its framework and the model's kernels on {plural(self.jobs, 'core')}"
            + ", after precompiling the headers they share" * pch
            + f"; a first build of this tree takes minutes, later runs reuse the objects cached in {self.dir}"))

    def _compile(self, source: str, pch_dirs: dict, progress: Progress | None = None) -> Path:
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
        if progress is not None:
            progress()
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
        progress = self._progress(missing)
        with tempfile.TemporaryDirectory(prefix="compress-pch-") as tmp, ThreadPoolExecutor(self.jobs) as pool:
            levels = sorted({self.opt(s) for s in cxx})
            pch_dirs = {}
            if len(cxx) >= PCH_MIN_SOURCES:
                pch_dirs = dict(zip(levels, pool.map(lambda level: self._pch(Path(tmp), level), levels)))
                if progress is not None:
                    progress.step(f"TFLM build: precompiled the shared headers ({', '.join(levels)})")
            list(pool.map(lambda s: self._compile(s, pch_dirs, progress), missing))

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
        """Link own objects with the library objects (as an archive: only what is used) for the core's machine."""
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="compress-link-") as tmp:
            archive = Path(tmp) / "libtflm.a"
            run([tool("arm-none-eabi-ar"), "rcs", archive, *library], "archiving the TFLM objects")
            elf = Path(tmp) / "program.elf"
            script = Path(tmp) / "memory.ld"
            script.write_text(Template(runner_file("mps2.ld").read_text()).substitute(
                flash=hex(self.machine.flash_origin), ram=hex(self.machine.ram_origin),
                psram=hex(self.machine.psram_origin)))
            run([self.gxx, *self.cpu_flags, *LINK_FLAGS, "-T", script, *own_objects, archive,
                 "-lm", "-o", elf], f"linking {out.name}")
            files.write_bytes(out, elf.read_bytes())  # all or nothing, even across file systems
        return out

    def compile_own(self, source: Path, out_dir: Path, extra: list[str] = ()) -> Path:
        """Compile a source that is not part of the tree (runner, startup, sketch) into out_dir, with the machine's
        timer (timer.h)."""
        obj = out_dir / (source.name + ".o")
        extra = [f"-DCOMPRESS_TIMER_BASE={self.machine.timer_base:#x}u",
                 f"-DCOMPRESS_INSTRUCTIONS_PER_TICK={self.machine.instructions_per_tick}", *extra]
        compiler = self.gxx if source.suffix in (".cc", ".cpp") else self.gcc
        run([compiler, *self.flags(source, KERNEL_OPT), *extra, "-c", source, "-o", obj],
            f"compiling {source.name}")
        return obj
