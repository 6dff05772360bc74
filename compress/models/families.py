"""Textbook microcontroller CNNs sized to a budget: what an embedded engineer would build without a search, and
the family moves that let the search reach them from any node.

The DS-CNN (Zhang et al., "Hello Edge", 2017; MobileNet's blocks): a stride-2 3x3 stem, depthwise-separable
blocks with BN and ReLU after every conv, global average pooling and the dense head. `width` is the stem's
filters; the blocks double it twice (w, 2w, 4w, 8w), the first two blocks with stride 2. The inverted-residual
trunk (MobileNetV2, Sandler et al. 2018) has the same stem and pooling; each block expands 1x1, filters depthwise
and projects 1x1 without an activation, adding its input back where the shapes allow. A (T, 1, C) sensor window
gets the same blocks with k x 1 kernels (models/keras_build.py slides them along T only).

Family moves (MCUNet's TinyNAS, first step): from any node, replace the whole trunk with one of these families at
every width x resolution pair that fits the device, each at the widest width that passes every target, largest
resolution first. They cut FLOPs, so they are reductions like any other and A* reaches them as children.
"""
from __future__ import annotations

from typing import Callable

from compress.models import graph
from compress.models.spec import Layer, ModelSpec

DS_CNN_BLOCKS = ((2, 2), (4, 2), (8, 1))  # (width multiple, stride) of each separable block after the stem
IR_BLOCKS = ((2, 2, 2), (2, 4, 2), (2, 4, 1))  # (expansion, width multiple, stride); the last one adds its input
STEM_KERNEL = 3
FAMILY_KERNELS = (3, 5)  # 5 at the node's own input size only: each child is a training
SIZE_SHARES = (1, 5 / 6, 2 / 3, 1 / 2)  # image sides a family child may read (48: 48, 40, 32, 24); the data is resized
SIZE_STEP = 8  # smaller sides snap to multiples of 8, so nodes at nearby sizes share their family children
KEPT_INPUT_KINDS = ("rescale",)  # a user's input preprocessing stays in front of a new trunk


def ds_cnn(input_shape, classes: int, width: int, kernel: int = 3, name: str = "ds_cnn") -> ModelSpec:
    layers = _stem(width)
    for i, (multiple, stride) in enumerate(DS_CNN_BLOCKS, 1):
        layers += [Layer("sepconv", f"sep{i}", units=width * multiple, kernel=kernel, stride=stride),
                   Layer("bn", f"sep{i}_bn"), Layer("relu", f"sep{i}_relu")]
    return ModelSpec(tuple(input_shape), classes, tuple(layers + [Layer("gap", "gap")]), name=name)


def inverted_residual(input_shape, classes: int, width: int, kernel: int = 3, name: str = "mobilenet_v2"
                      ) -> ModelSpec:
    layers, source, channels = _stem(width), "stem_relu", width
    for i, (expansion, multiple, stride) in enumerate(IR_BLOCKS, 1):
        out = width * multiple
        layers += [Layer("conv", f"ir{i}_expand", units=channels * expansion, kernel=1),
                   Layer("bn", f"ir{i}_expand_bn"), Layer("relu6", f"ir{i}_expand_relu"),
                   Layer("dwconv", f"ir{i}_dw", kernel=kernel, stride=stride), Layer("bn", f"ir{i}_dw_bn"),
                   Layer("relu6", f"ir{i}_dw_relu"),
                   Layer("conv", f"ir{i}_project", units=out, kernel=1), Layer("bn", f"ir{i}_project_bn")]
        if stride == 1 and out == channels:
            layers.append(Layer("add", f"ir{i}_add", inputs=(source, f"ir{i}_project_bn")))
        source, channels = layers[-1].name, out
    return ModelSpec(tuple(input_shape), classes, tuple(layers + [Layer("gap", "gap")]), name=name)


def _stem(width: int) -> list[Layer]:
    return [Layer("conv", "stem", units=width, kernel=STEM_KERNEL, stride=2), Layer("bn", "stem_bn"),
            Layer("relu", "stem_relu")]


FAMILIES = {"DS-CNN": ds_cnn, "inverted-residual": inverted_residual}


def widest(make: Callable[[int], ModelSpec], fits: Callable[[ModelSpec], bool], most: int = 256) -> ModelSpec | None:
    """The widest make(width) for width in 1..most that fits (fits is monotone in width), or None if none does."""
    if not fits(make(1)):
        return None
    low, high = 1, most  # invariant: make(low) fits, make(high + 1) does not (or is past `most`)
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(make(mid)) else (low, mid - 1)
    return make(low)


def in_place_of(spec: ModelSpec, family: ModelSpec) -> ModelSpec:
    """family's trunk in place of spec's: spec's name, classes, tasks (one head each, reading the pooled
    features), rate and any input preprocessing kept."""
    kept = []
    for layer in spec.layers:
        if layer.kind not in KEPT_INPUT_KINDS or layer.inputs:
            break
        kept.append(layer)
    layers = tuple(kept) + family.layers
    last = layers[-1].name
    return spec.replace(layers=layers, head=True, heads=(last,) * len(spec.tasks))


def family_children(spec: ModelSpec, fits: Callable[[ModelSpec], bool]):
    """(label, child): spec's trunk replaced by each family at each input size it may read (kernel 5 at spec's
    own size only), each at the widest width that passes every target; the largest size first. Sensor windows
    keep their length (the window moves shorten them)."""
    h, w, c = spec.input_shape
    square = h == w and not spec.temporal
    smaller = {max(SIZE_STEP, round(h * share / SIZE_STEP) * SIZE_STEP) for share in SIZE_SHARES[1:]}
    sizes = sorted({h} | {s for s in smaller if s < h}, reverse=True) if square else [h]
    for size in sizes:
        shape = (size, size, c) if square else spec.input_shape
        for family, make in FAMILIES.items():
            for kernel in FAMILY_KERNELS if size == h else FAMILY_KERNELS[:1]:
                def child(width, make=make, kernel=kernel, shape=shape):
                    return in_place_of(spec.replace(input_shape=shape), make(shape, spec.classes, width, kernel))
                if not graph.is_valid(child(1)):  # too small an input for the stem and two stride-2 blocks
                    continue
                found = widest(child, fits)
                if found is not None:
                    where = f" @{size}\u00d7{size}" if size != h else ""
                    yield f"trunk \u2192 {family} k{kernel} width {_width(found)}{where}", found


def _width(spec: ModelSpec) -> int:
    return next(layer.units for layer in spec.layers if layer.name == "stem")
