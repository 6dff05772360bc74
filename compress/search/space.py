"""What the strategies may ask about a spec without training it, and the memoised cost answers behind it."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from compress.config import Targets
from compress.devices import latency, profiles, targets as device_targets
from compress.models.cost import spec_cost
from compress.models.families import family_children
from compress.models.reductions import Reduction, reductions
from compress.models.widening import widenings


@dataclass
class Space:
    """What the strategies may ask about a spec without training it."""
    children: Callable  # spec -> list[Reduction]
    flops: Callable  # spec -> float
    fits: Callable  # spec -> bool: every device target passes
    budget_flops: float
    widenings: Callable = lambda spec: ()  # spec -> [(label, child)]: larger children that still fit



class Costing:
    """Cost-only questions about specs, memoised: the search asks them many times per node."""

    def __init__(self, targets: Targets, families: bool = False):
        self.targets, self.families = targets, families  # the search's children include family moves (--families)
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
                                    latency_model=self.targets.latency_model, calibration=self.calibration,
                                    geometry=latency.spec_geometry(spec))

    def fits(self, spec) -> bool:
        return all(c.passed for c in self.checks(spec))

    @functools.lru_cache(maxsize=None)
    def children(self, spec):
        """The reductions of spec, then its family moves (a new trunk that fits, at each width x resolution pair)."""
        found = reductions(spec, flops=self.flops)
        seen, flops = {r.spec.key for r in found}, self.flops(spec)
        for label, child in family_children(spec, self.fits) if self.families else ():
            child = child.replace(name=spec.name)
            if child.key not in seen and self.flops(child) < flops:
                seen.add(child.key)
                found.append(Reduction(label, child, family=True))
        return tuple(found)

    def latency_s(self, spec) -> float:
        return latency.latency_s(self.cost(spec), self.device, model=self.targets.latency_model,
                                 kernels=self.targets.kernels, calibration=self.calibration,
                                 geometry=latency.spec_geometry(spec))

    @property
    def budget_flops(self) -> float:
        """The FLOPs budget, or (--budget-flops none) the most FLOPs a model meeting the latency limit can have."""
        if self.targets.budget_flops is not None:
            return self.targets.budget_flops
        return latency.flops_within(latency.latency_limit_s(self.targets, self.device, self.calibration),
                                    self.device, self.targets.latency_model, self.targets.kernels, self.calibration)

    def widenings(self, spec, baseline) -> tuple:
        """Widening moves from spec toward the baseline that keep every device target (the anytime search's)."""
        return tuple((label, child) for label, child in widenings(spec, baseline, self.flops) if self.fits(child))

    def space(self, baseline=None) -> Space:
        """The questions the strategies may ask; with a baseline, goals may also be widened toward it."""
        if baseline is None:
            return Space(self.children, self.flops, self.fits, self.budget_flops)
        return Space(self.children, self.flops, self.fits, self.budget_flops,
                     lambda spec: self.widenings(spec, baseline))
