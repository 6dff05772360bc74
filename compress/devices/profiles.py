"""Device profiles, latency estimates and the target check: does a costed model fit this microcontroller in time?"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from compress import CompressError
from compress.cost import FUSED_KINDS  # folded by the converter: no op, no per-op cycles

KiB = 1024

# What the program around the model takes: Arduino core (SparkFun Apollo3 v2 and Arduino's nano33ble cores are
# built on Mbed OS), Serial, the TFLM interpreter with a handful of int8 kernels, and TFLM's persistent allocations
# that the activation-only arena estimate leaves out. TFLM alone needs "as little as 20 KB of flash and 4 KB of
# SRAM" (Warden & Situnayake, TinyML, O'Reilly 2019, ch. 17); an Mbed-based core adds several times that.
# Uncalibrated: replace with `arduino-cli compile` figures of the generated sketch once firmware.py measures them.
RUNTIME_FLASH_BYTES = 128 * KiB
RUNTIME_RAM_BYTES = 32 * KiB

# Seed 001 measured TFLM reference kernels on Apollo3 at 82.7 M FLOPs in 3 min 1 s: 0.457 MFLOP/s, rounded to
# 0.46e6 in DESIGN.md. That is ~104 cycles per FLOP at 48 MHz; other Cortex-M cores running the same kernels are
# scaled by clock (pessimistic for the dual-issue Cortex-M7).
APOLLO3_FLOPS_PER_S = 0.46e6
CYCLES_PER_FLOP = 48e6 / APOLLO3_FLOPS_PER_S

# latency_model="ops": cycles per MAC by kernel library and op kind, plus cycles per FLOP of MAC-free ops (pooling,
# add, softmax) and a fixed cost per op (dispatch, requantisation setup). Sources (DESIGN.md "Apollo3 profile"):
#   reference conv/dwconv 180: person_detection on STM32F413 (M4), 13,005 ms reference vs 386.6 ms CMSIS-NN,
#     ~180 vs ~5.4 cycles/MAC (Samsung/ONE issue #7598); DESIGN.md's range 150-180.
#   reference dense 10: DESIGN.md's range 5-15 (a plain dot-product loop), midpoint.
#   cmsis-nn conv 4, dwconv 9, dense 3: midpoints of DESIGN.md's ranges 3-5, 6-12, 2-4; consistent with MLPerf
#     Tiny v0.5 TFLM + CMSIS-NN on Cortex-M4F, 4.6-9.6 cycles/MAC over whole models; SMLAD floor is 0.5.
#   other, per_op: guesses (a loop of loads/compares per element; "a few thousand cycles per op").
# Uncalibrated: --calibration FILE replaces any of them with figures measured on a board.
CYCLES = {
    "reference": {"conv": 180.0, "dwconv": 180.0, "dense": 10.0, "other": 10.0, "per_op": 3000.0},
    "cmsis-nn": {"conv": 4.0, "dwconv": 9.0, "dense": 3.0, "other": 3.0, "per_op": 3000.0},
}
# LayerCost.kind -> CYCLES key; a separable conv is charged at the conv rate (its pointwise part dominates)
OP_KIND = {"conv": "conv", "sepconv": "conv", "dwconv": "dwconv", "dense": "dense"}


@dataclass(frozen=True)
class Device:
    name: str
    core: str
    clock_hz: float
    flash_bytes: int  # what a sketch may occupy (bootloader excluded)
    ram_bytes: int  # what a sketch may use for data
    flops_per_s: float  # latency_model="flops"
    kernels: str = "reference"  # latency_model="ops" default kernel library
    runtime_flash_bytes: int = RUNTIME_FLASH_BYTES
    runtime_ram_bytes: int = RUNTIME_RAM_BYTES

    def to_dict(self) -> dict:
        return asdict(self)


DEVICES = {
    # Ambiq Apollo3 Blue (SparkFun Edge): Cortex-M4F at 48 MHz (96 MHz TurboSPOT burst), 1 MiB flash, 384 KiB SRAM
    # (SparkFun Edge hookup guide; Ambiq Apollo3 datasheet). Usable: SparkFun Apollo3 Arduino core boards.txt,
    # upload.maximum_size=983040 (the SparkFun Variable Loader takes the first 64 KiB: tools/uploaders/svl/0x10000.ld)
    # and upload.maximum_data_size=393216.
    "apollo3": Device("apollo3", "Cortex-M4F", 48e6, 983_040, 393_216, APOLLO3_FLOPS_PER_S),
    # Nordic nRF52840 (Arduino Nano 33 BLE): Cortex-M4F at 64 MHz, 1 MiB flash, 256 KiB RAM (nRF52840 product
    # specification). Usable: arduino/ArduinoCore-mbed boards.txt, nano33ble.upload.maximum_size=983040 (64 KiB
    # bootloader) and maximum_data_size=262144.
    "nano33ble": Device("nano33ble", "Cortex-M4F", 64e6, 983_040, 262_144, 64e6 / CYCLES_PER_FLOP),
    # ST STM32F746 (NUCLEO-F746ZG, 32F746G-DISCO): Cortex-M7 at 216 MHz, 1 MiB flash, 320 KiB SRAM (ST DS10916).
    # Usable: stm32duino boards.txt, NUCLEO_F746ZG.upload.maximum_size=1048576, maximum_data_size=327680.
    "stm32f746": Device("stm32f746", "Cortex-M7", 216e6, 1_048_576, 327_680, 216e6 / CYCLES_PER_FLOP),
}


def get(name: str) -> Device:
    if name not in DEVICES:
        raise CompressError(f"unknown device {name!r}; known devices: {', '.join(DEVICES)}")
    return DEVICES[name]


@dataclass(frozen=True)
class Targets:
    budget_flops: float = 0.46e6  # FLOPs per inference (DESIGN.md default)
    # Seconds per inference. None: the time the FLOPs budget takes on the device (1 s on Apollo3 at the default),
    # so that --budget-flops alone moves both targets; with latency_model="ops" the two checks then differ.
    latency_s: float | None = None

    def latency_limit_s(self, device: "Device", calibration: dict | None = None) -> float:
        if self.latency_s is not None:
            return self.latency_s
        return self.budget_flops / (calibration or {}).get("flops_per_s", device.flops_per_s)


@dataclass(frozen=True)
class TargetCheck:
    name: str  # flops, latency, flash, arena
    figure: float
    limit: float
    unit: str
    margin: float  # (limit - figure) / limit: the fraction of the limit left; negative when over
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def load_calibration(path) -> dict:
    """A JSON file {"cycles": {"cmsis-nn": {"conv": 3.2, ...}}, "flops_per_s": 0.5e6}; every key optional."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CompressError(f"{path}: cannot read the calibration file: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"cycles", "flops_per_s"}:
        raise CompressError(f"{path}: expected keys 'cycles' and/or 'flops_per_s'")
    for library, table in data.get("cycles", {}).items():
        unknown = set(table) - set(CYCLES["reference"])
        if library not in CYCLES or unknown:
            raise CompressError(f"{path}: unknown kernel library {library!r} or op kinds {sorted(unknown)}; "
                                f"libraries: {', '.join(CYCLES)}; kinds: {', '.join(CYCLES['reference'])}")
    return data


def latency_s(cost, device: Device, model: str = "flops", kernels: str | None = None,
              calibration: dict | None = None) -> float:
    """Estimated seconds per inference: 'flops' = FLOPs / device FLOP/s; 'ops' = per-op cycles / clock."""
    calibration = calibration or {}
    if model == "flops":
        return cost.flops / calibration.get("flops_per_s", device.flops_per_s)
    if model != "ops":
        raise CompressError(f"unknown latency model {model!r}; choose 'flops' or 'ops'")
    library = kernels or device.kernels
    if library not in CYCLES:
        raise CompressError(f"unknown kernel library {library!r}; choose one of: {', '.join(CYCLES)}")
    table = CYCLES[library] | calibration.get("cycles", {}).get(library, {})
    cycles = 0.0
    for layer in cost.layers:
        if layer.kind in FUSED_KINDS:
            continue
        kind = OP_KIND.get(layer.kind)
        cycles += table["per_op"] + (layer.macs * table[kind] if kind else layer.flops * table["other"])
    return cycles / device.clock_hz


def _check(name, figure, limit, unit) -> TargetCheck:
    return TargetCheck(name, float(figure), float(limit), unit, (limit - figure) / limit, figure <= limit)


def check(cost, device: Device, targets: Targets = Targets(), latency_model: str = "flops",
          kernels: str | None = None, calibration: dict | None = None,
          measured_arena_bytes: int | None = None, measured_model_bytes: int | None = None) -> list[TargetCheck]:
    """Each DESIGN.md target with figure, limit and margin. Measured arena or model size replace the estimates."""
    model_bytes = measured_model_bytes if measured_model_bytes is not None else cost.flash_bytes
    arena_bytes = measured_arena_bytes if measured_arena_bytes is not None else cost.arena_bytes
    return [
        _check("flops", cost.flops, targets.budget_flops, "FLOPs"),
        _check("latency", latency_s(cost, device, latency_model, kernels, calibration),
               targets.latency_limit_s(device, calibration), "s"),
        _check("flash", model_bytes + device.runtime_flash_bytes, device.flash_bytes, "bytes"),
        _check("arena", arena_bytes + device.runtime_ram_bytes, device.ram_bytes, "bytes"),
    ]
