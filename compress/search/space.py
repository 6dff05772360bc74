"""What the strategies may ask about a spec without training it, and the memoised cost answers behind it."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from compress.config import Targets
from compress.devices import latency, profiles, targets as device_targets
from compress.models.cost import spec_cost
from compress.models.reductions import reductions


@dataclass
class Space:
    """What the strategies may ask about a spec without training it."""
    children: Callable  # spec -> list[Reduction]
    flops: Callable  # spec -> float
    fits: Callable  # spec -> bool: every device target passes
    budget_flops: float



class Costing:
    """Cost-only questions about specs, memoised: the search asks them many times per node."""

    def __init__(self, targets: Targets):
        self.targets = targets
        self.device = profiles.get(targets.device)
        # measured cycles per MAC (--calibration), or None for the defaults
        self.calibration = latency.load_calibration(targets.calibration) if targets.calibration else None

    @functools.lru_cache(maxsize=None)
    def cost(self, spec):
        return spec_cost(spec)

    def flops(self, spec) -> float:
        return self.cost(spec).flops

    def checks(self, spec, cost=None):
        return device_targets.check(cost or self.cost(spec), self.device, self.targets,
                                    latency_model=self.targets.latency_model, calibration=self.calibration)

    def fits(self, spec) -> bool:
        return all(c.passed for c in self.checks(spec))

    @functools.lru_cache(maxsize=None)
    def children(self, spec):
        return tuple(reductions(spec, flops=self.flops))

    def latency_s(self, spec) -> float:
        return latency.latency_s(self.cost(spec), self.device, model=self.targets.latency_model,
                                 calibration=self.calibration)

    def space(self) -> Space:
        return Space(self.children, self.flops, self.fits, self.targets.budget_flops)
