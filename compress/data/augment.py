"""Training-time helpers: the augmentations of the cs231n study (Shved 2019) and class balancing."""
from __future__ import annotations

import numpy as np

from compress import CompressError


def _warp(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Shift (up to 10 %) and rotate (up to 15 degrees) each image, bilinear, edges repeated."""
    n, h, w, c = x.shape
    angle = np.where(rng.uniform(size=n) < p, rng.uniform(-15, 15, n), 0.0) * np.pi / 180
    shift = np.where(rng.uniform(size=(n, 1)) < p, rng.uniform(-0.1, 0.1, (n, 2)) * (h, w), 0.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy - (h - 1) / 2, xx - (w - 1) / 2
    cos, sin = (f(angle).astype(np.float32)[:, None, None] for f in (np.cos, np.sin))  # float32 halves the time
    shift = shift.astype(np.float32)
    sy = cos * yy - sin * xx + (h - 1) / 2 - shift[:, 0, None, None]
    sx = sin * yy + cos * xx + (w - 1) / 2 - shift[:, 1, None, None]
    fy, fx = (sy - np.floor(sy))[..., None], (sx - np.floor(sx))[..., None]
    y0, x0 = np.floor(sy).astype(np.int32), np.floor(sx).astype(np.int32)
    flat, base = x.reshape(-1, c), (np.arange(n) * h * w)[:, None, None]

    def at(dy, dx):
        iy = np.clip(y0 + dy, 0, h - 1)
        ix = np.clip(x0 + dx, 0, w - 1)
        return flat[base + iy * w + ix]

    top = at(0, 0) * (1 - fx) + at(0, 1) * fx
    bottom = at(1, 0) * (1 - fx) + at(1, 1) * fx
    return top * (1 - fy) + bottom * fy


def _blur(x: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Blend each image with its 3x3 binomial blur by `amount` (0 = sharp)."""
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    rows = (pad[:, :-2] + 2 * pad[:, 1:-1] + pad[:, 2:]) / 4
    blurred = (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 4
    a = amount[:, None, None, None]
    return x * (1 - a) + blurred * a


def augment(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """The cs231n study's five augmentations, each applied to an image with probability p: shift, rotation, blur,
    noise, lighting (brightness and contrast). Training batches only; same shape, values kept in [0, 1]."""
    out = np.empty(x.shape, np.float32)
    for start in range(0, len(x), 1024):  # chunks bound the memory of the coordinate grids
        b = _warp(x[start:start + 1024].astype(np.float32), rng, p)
        n = len(b)
        on = lambda: rng.uniform(size=n) < p  # noqa: E731
        b = _blur(b, np.where(on(), rng.uniform(0.3, 1.0, n), 0.0))
        contrast = np.where(on(), rng.uniform(0.7, 1.3, n), 1.0)[:, None, None, None]
        bright = np.where(on(), rng.uniform(-0.15, 0.15, n), 0.0)[:, None, None, None]
        mean = b.mean(axis=(1, 2, 3), keepdims=True)
        b = (b - mean) * contrast + mean + bright
        sigma = np.where(on(), rng.uniform(0.0, 0.05, n), 0.0)[:, None, None, None]
        b = b + rng.standard_normal(b.shape, dtype=np.float32) * sigma
        out[start:start + n] = np.clip(b, 0.0, 1.0)
    return out


def balance(x: np.ndarray, y: np.ndarray, how: str, rng: np.random.Generator):
    """(x, y, class_weight or None): 'oversample' repeats minority images up to the largest class's count;
    'class-weight' leaves the data and weights each class by total / (classes x count); 'none' does nothing."""
    classes, counts = np.unique(y, return_counts=True)
    if how in (None, "none"):
        return x, y, None
    if how == "class-weight":
        return x, y, {int(c): float(len(y) / (len(classes) * n)) for c, n in zip(classes, counts)}
    if how == "oversample":
        idx = [np.concatenate([np.flatnonzero(y == c), rng.choice(np.flatnonzero(y == c), counts.max() - n)])
               for c, n in zip(classes, counts)]
        idx = rng.permutation(np.concatenate(idx))
        return x[idx], y[idx], None
    raise CompressError(f"balance must be oversample, class-weight or none, not {how!r}")

