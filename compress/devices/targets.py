"""The target check: does a costed model fit this microcontroller, in time? Figure, limit, margin, PASS/FAIL."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from compress.config import Targets
from compress.devices.latency import latency_limit_s, latency_s
from compress.devices.profiles import Device


@dataclass(frozen=True)
class TargetCheck:
    name: str  # flops, latency, flash, arena
    figure: float
    limit: float
    unit: str
    margin: float  # (limit - figure) / limit: the fraction of the limit left; negative when over
    passed: bool
    note: str = ""  # latency on a core QEMU does not run: "estimated, not emulated"

    def to_dict(self) -> dict:
        return asdict(self)


def _check(name, figure, limit, unit) -> TargetCheck:
    return TargetCheck(name, float(figure), float(limit), unit, (limit - figure) / limit, figure <= limit)


def check(cost, device: Device, targets: Targets = Targets(), latency_model: str = "flops",
          kernels: str | None = None, calibration: dict | None = None,
          measured_arena_bytes: int | None = None, measured_model_bytes: int | None = None,
          geometry: dict | None = None) -> list[TargetCheck]:
    """Each DESIGN.md target with figure, limit and margin. Measured arena or model size replace the estimates.

    Targets.budget_flops None: no FLOPs row; the latency limit then comes from Targets.latency_s alone (no row
    when that is None too). Flash and arena limits: Targets.flash_bytes / ram_bytes, else the device's.
    geometry: kernel, stride and padding by layer name, for latency_model 'emulated' (latency.spec_geometry).
    """
    model_bytes = measured_model_bytes if measured_model_bytes is not None else cost.flash_bytes
    arena_bytes = measured_arena_bytes if measured_arena_bytes is not None else cost.arena_bytes
    rows = []
    if targets.budget_flops is not None:
        rows.append(_check("flops", cost.flops, targets.budget_flops, "FLOPs"))
    limit_s = latency_limit_s(targets, device, calibration)
    if not math.isinf(limit_s):
        figure = latency_s(cost, device, latency_model, kernels or targets.kernels, calibration, geometry)
        rows.append(replace(_check("latency", figure, limit_s, "s"), note=latency_note(device)))
    return rows + [
        _check("flash", model_bytes + device.runtime_flash_bytes, _given(targets.flash_bytes, device.flash_bytes),
               "bytes"),
        _check("arena", arena_bytes + device.runtime_ram_bytes, _given(targets.ram_bytes, device.ram_bytes), "bytes"),
    ]


def latency_note(device: Device) -> str:
    """What a latency on this device is: "" where its core runs in QEMU, else "estimated, not emulated"."""
    return "" if device.emulated else device.latency_basis


def _given(value, default):
    return default if value is None else value
