"""The target check: does a costed model fit this microcontroller, in time? Figure, limit, margin, PASS/FAIL."""
from __future__ import annotations

from dataclasses import asdict, dataclass

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

    def to_dict(self) -> dict:
        return asdict(self)


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
               latency_limit_s(targets, device, calibration), "s"),
        _check("flash", model_bytes + device.runtime_flash_bytes, device.flash_bytes, "bytes"),
        _check("arena", arena_bytes + device.runtime_ram_bytes, device.ram_bytes, "bytes"),
    ]
