"""What every data set is (Dataset and the facts it declares) and where generated data is cached (one cache key).

A data set declares what it is instead of being sniffed: callers read `data.tasks`, `data.subjects`,
`data.augmentable`, `data.rate_hz` and call `data.at_input(...)` whatever the kind. The defaults describe an image
data set with one label per image; sensor windows (wearable_data, multitask) override them.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from compress import CompressError
from compress.data.images import SPLITS, resize_batch


@dataclass
class Dataset:
    """Train / val / test arrays and what they are; every kind of source gives one (or a subclass)."""
    name: str
    class_names: tuple[str, ...]  # binary tasks: ("not-happy", "happy"): the positive class is index 1
    x_train: np.ndarray  # float32 in [0, 1], NHWC
    y_train: np.ndarray  # int64 class indices; multi-task data: (N, K), column k = task k
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    _resized: dict = field(default_factory=dict, repr=False, compare=False)
    tasks: tuple[str, ...] = ()  # one head per task (y is (N, K)); single-label data: empty
    subjects: tuple[str, ...] = ()  # every subject, in order (the LOSO folds); empty: not split by subject
    holdout: str = ""  # the held-out (test) subject, where one was held out
    rate_hz: float | None = None  # sensor windows: samples per second; images: None
    channel_names: tuple[str, ...] = ()  # sensor windows: the channels of the last axis, in order
    augmentable: ClassVar[bool] = True  # the image augmentations (warps, blur, clipping to [0, 1]) apply

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {name!r}")
        return {"train": (self.x_train, self.y_train), "val": (self.x_val, self.y_val),
                "test": (self.x_test, self.y_test)}[name]

    def at_input(self, input_shape, rate_divisor: int = 1) -> "Dataset":
        """The data as a model with this (H, W, C) input needs it: a reduced-resolution model gets resized images
        (rate_divisor: sensor windows only, signals.windows_at)."""
        h, w, c = (int(d) for d in input_shape)
        if (h, w, c) == self.input_shape:
            return self
        if h != w or c != self.input_shape[2]:
            raise CompressError(f"model input {h}x{w}x{c} does not fit data {self.name} of {self.input_shape}")
        return self.resized(h)

    def resized(self, size: int) -> "Dataset":
        """All splits at size x size; memoised because the search asks for the same few sizes again and again."""
        if size == self.input_shape[0]:
            return self
        if size not in self._resized:
            xs = {f"x_{s}": resize_batch(self.split(s)[0], size) for s in SPLITS}
            ys = {f"y_{s}": self.split(s)[1] for s in SPLITS}
            self._resized[size] = Dataset(f"{self.name}@{size}", self.class_names, **xs, **ys)
        return self._resized[size]

    def class_counts(self) -> dict:
        return {s: {c: int(np.sum(self.split(s)[1] == i)) for i, c in enumerate(self.class_names)} for s in SPLITS}


def cache_root(cache_dir=None) -> Path:
    """Where generated data is kept: cache_dir, else $COMPRESS_CACHE, else ~/.cache/compress."""
    return Path(cache_dir or os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compress")


def cache_key(params: dict) -> str:
    """16 hex digits naming one parameter set: the same parameters find the same file in every run."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(kind: str, params: dict, cache_dir=None) -> Path:
    """The .npz of one generated data set: <cache root>/<kind>-<cache_key(params)>.npz."""
    return cache_root(cache_dir) / f"{kind}-{cache_key(params)}.npz"
