"""The Cortex-M cores a device profile may name: compiler flags, TFLM's defines, and the QEMU machine that
emulates each one (None where QEMU has no machine for it, or where compress has not run TFLM on it)."""
from __future__ import annotations

from dataclasses import dataclass

from compress import CompressError


@dataclass(frozen=True)
class Machine:
    """A QEMU board compress runs TFLM on: its name, where RAM lies, and how to turn its timer into instructions.

    Memory: code at flash_origin, data and stack in 4 MiB at ram_origin, the big buffers (model, arena) in the
    16 MiB PSRAM at psram_origin. The CMSDK APB timer0 at timer_base counts down at the board's APB clock; with
    QEMU's -icount shift=0 one instruction is 1 ns, so one tick is 1e9 / clock instructions (25 MHz on MPS2: 40;
    20 MHz on the AN505's SSE-200: 50; both measured with a 2,000,000-instruction loop, README 'Devices')."""
    name: str  # qemu-system-arm -machine
    cpu: str  # qemu-system-arm -cpu
    flash_origin: int
    ram_origin: int
    psram_origin: int
    timer_base: int
    instructions_per_tick: int


@dataclass(frozen=True)
class Core:
    title: str  # as profiles name it, e.g. Cortex-M4F
    cpu_flags: tuple[str, ...]  # arm-none-eabi-gcc: -mcpu, float ABI, FPU
    cmsis_device: str  # CMSIS device header (firmware's CMake project; TFLM's cortex_m_generic makefile)
    cpu_define: str  # TFLM's CPU_<core>=1
    tflm_arch: str  # TARGET_ARCH of TFLM's create_tflm_tree.py for this core
    machine: Machine | None  # None: not emulated (latency is "estimated, not emulated")
    why_not_emulated: str = ""

    @property
    def emulated(self) -> bool:
        return self.machine is not None


_MPS2 = dict(flash_origin=0x0000_0000, ram_origin=0x2000_0000, timer_base=0x4000_0000, instructions_per_tick=40)
# QEMU 7.2 machines (qemu-system-arm -machine help); memory maps from QEMU's hw/arm/mps2.c and mps2-tz.c, each
# checked by running a program that writes PSRAM and times a loop. The AN505's Cortex-M33 starts in the secure
# state: code, RAM and timer at their secure aliases (0x10000000, 0x38000000, 0x50000000).
CORES = {c.title: c for c in (
    Core("Cortex-M0+", ("-mcpu=cortex-m0plus", "-mfloat-abi=soft", "-mthumb"), "ARMCM0plus", "CPU_M0plus=1",
         "cortex-m0plus", None, "QEMU has no MPS2/MPS3 machine with a Cortex-M0+"),
    Core("Cortex-M3", ("-mcpu=cortex-m3", "-mfloat-abi=soft", "-mthumb"), "ARMCM3", "CPU_M3=1", "cortex-m3", None,
         "QEMU's mps2-an385 would run it; TFLM has not been built and run for it here yet"),
    Core("Cortex-M4F", ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-mthumb"), "ARMCM4", "CPU_M4=1",
         "cortex-m4+fp", Machine("mps2-an386", "cortex-m4", psram_origin=0x2100_0000, **_MPS2)),
    # STM32F7x6's FPU is single precision (fpv5-sp-d16)
    Core("Cortex-M7", ("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-mthumb"), "ARMCM7_SP",
         "CPU_M7=1", "cortex-m7+fp", Machine("mps2-an500", "cortex-m7", psram_origin=0x6000_0000, **_MPS2)),
    Core("Cortex-M33", ("-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-mthumb"), "ARMCM33_DSP_FP",
         "CPU_M33=1", "cortex-m33", Machine("mps2-an505", "cortex-m33", flash_origin=0x1000_0000,
                                            ram_origin=0x3800_0000, psram_origin=0x8000_0000,
                                            timer_base=0x5000_0000, instructions_per_tick=50)),
    Core("Cortex-M55", ("-mcpu=cortex-m55", "-mfloat-abi=hard", "-mthumb"), "ARMCM55", "CPU_M55=1", "cortex-m55", None,
         "QEMU's mps3-an547 would run it; TFLM has not been built and run for it here yet"),
)}


def get(title: str) -> Core:
    if title not in CORES:
        raise CompressError(f"unknown core {title!r}; known cores: {', '.join(CORES)}")
    return CORES[title]


def firmware_fields(title: str) -> dict:
    """The generic firmware's CMake defaults for a core (compress.deploy.firmware_files)."""
    core = get(title)
    return {"cpu_flags": " ".join(core.cpu_flags), "cmsis_device": core.cmsis_device, "cpu_define": core.cpu_define,
            "tflm_arch": core.tflm_arch}


def latency_basis(title: str) -> str:
    """How a latency on this core is known: emulated in QEMU, or only estimated."""
    core = get(title)
    return f"emulated on {core.machine.name}" if core.emulated else "estimated, not emulated"
