"""Which image goes to train, val or test: stratified, leave-one-group-out, or completing a source's own split."""
from __future__ import annotations

import numpy as np

from compress import CompressError


def stratified_split(y: np.ndarray, seed: int, fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """Per image 0/1/2 (train/val/test), each class cut in the same proportions; deterministic from seed."""
    rng = np.random.default_rng([seed, 1])
    split = np.zeros(len(y), np.int64)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val, n_test = (max(1, round(f * len(idx))) if len(idx) >= 3 else 0 for f in fractions[1:])
        split[idx[:n_val]], split[idx[n_val:n_val + n_test]] = 1, 2
    return split


def group_split(groups: np.ndarray, holdout) -> np.ndarray:
    """Leave-one-group-out: `holdout` (e.g. a subject) is the test split, the next group in order is val."""
    names = sorted(set(np.asarray(groups).astype(str).tolist()))
    if str(holdout) not in names or len(names) < 3:
        raise CompressError(f"group {holdout!r} not among the groups ({', '.join(names)}), or fewer than 3 groups")
    val = names[(names.index(str(holdout)) + 1) % len(names)]
    g = np.asarray(groups).astype(str)
    return np.where(g == str(holdout), 2, np.where(g == val, 1, 0))


def complete_split(split: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """A source that gives train but no val (or no test) lends 1/9 of its train images, stratified."""
    split = split.copy()
    for s in (1, 2):
        train = np.flatnonzero(split == 0)
        if not np.any(split == s) and len(train):
            part = stratified_split(y[train], seed + s, (0.0, 1 / 9, 0.0))
            split[train[part == 1]] = s
    return split

