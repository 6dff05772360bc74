"""The quality floor, measured above chance as seed 001 measures it (DESIGN.md).

An AUC of 0.5 is a coin. What a smaller model keeps of its baseline is therefore its share of the baseline's
*above-chance* AUC: ΔAUC = (AUC - 0.5) / (AUC₀ - 0.5) - 1, and the floor is β = 0.5 + ratio x (AUC₀ - 0.5).
Dividing raw AUCs instead (β = ratio x AUC₀) lets β fall below chance: a baseline at 0.554 gave β = 0.443 and a
candidate at 0.47, worse than a coin, was kept.
"""
from __future__ import annotations

CHANCE = 0.5  # the AUC of a model that ignores its input


def floor(reference: float, ratio: float) -> float:
    """β: the least AUC that keeps `ratio` of the reference's AUC above chance."""
    return CHANCE + ratio * (reference - CHANCE)


def share(auc: float, reference: float) -> float:
    """How much of the reference's above-chance AUC `auc` keeps (1 = all of it); share >= ratio <=> auc >= floor."""
    return (auc - CHANCE) / max(reference - CHANCE, 1e-9)


def delta(auc: float, reference: float) -> float:
    """ΔAUC as seed 001's tables give it: -0.2 is a fifth of the reference's above-chance AUC lost."""
    return share(auc, reference) - 1
