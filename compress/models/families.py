"""Textbook microcontroller CNNs sized to a budget: what an embedded engineer would build without a search.

The DS-CNN (Zhang et al., "Hello Edge", 2017; MobileNet's blocks): a stride-2 3x3 stem, depthwise-separable 3x3
blocks with BN and ReLU after every conv, global average pooling and the dense head. `width` is the stem's
filters; the blocks double it twice (w, 2w, 4w, 8w), the first two blocks with stride 2. A (T, 1, C) sensor
window gets the same blocks with k x 1 kernels (models/keras_build.py slides them along T only).
"""
from __future__ import annotations

from typing import Callable

from compress.models.spec import Layer, ModelSpec

DS_CNN_BLOCKS = ((2, 2), (4, 2), (8, 1))  # (width multiple, stride) of each separable block after the stem


def ds_cnn(input_shape, classes: int, width: int, kernel: int = 3, name: str = "ds_cnn") -> ModelSpec:
    layers = [Layer("conv", "stem", units=width, kernel=kernel, stride=2), Layer("bn", "stem_bn"),
              Layer("relu", "stem_relu")]
    for i, (multiple, stride) in enumerate(DS_CNN_BLOCKS, 1):
        layers += [Layer("sepconv", f"sep{i}", units=width * multiple, kernel=kernel, stride=stride),
                   Layer("bn", f"sep{i}_bn"), Layer("relu", f"sep{i}_relu")]
    return ModelSpec(tuple(input_shape), classes, tuple(layers + [Layer("gap", "gap")]), name=name)


def widest(make: Callable[[int], ModelSpec], fits: Callable[[ModelSpec], bool], most: int = 256) -> ModelSpec | None:
    """The widest make(width) for width in 1..most that fits (fits is monotone in width), or None if none does."""
    low, high = 0, most  # invariant: make(low) fits (0: nothing checked yet), make(high + 1) does not
    if not fits(make(1)):
        return None
    low = 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(make(mid)) else (low, mid - 1)
    return make(low)
