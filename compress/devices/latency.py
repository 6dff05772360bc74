"""Latency estimates: seconds per inference of a costed model on a device, from FLOPs or per-op cycle tables."""
from __future__ import annotations

import json
from pathlib import Path

from compress import CompressError
from compress.config import Targets
from compress.devices.profiles import Device
from compress.models.cost import FUSED_KINDS  # folded by the converter: no op, no per-op cycles

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




def latency_limit_s(targets: Targets, device: Device, calibration: dict | None = None) -> float:
    """targets.latency_s, or the time the FLOPs budget takes on the device, so --budget-flops moves both."""
    if targets.latency_s is not None:
        return targets.latency_s
    return targets.budget_flops / (calibration or {}).get("flops_per_s", device.flops_per_s)
