"""The moves of the search: pure functions from a spec to smaller valid specs, each labelled for people."""
from __future__ import annotations

from dataclasses import dataclass, replace

from compress.models.spec import CONV_KINDS, FILTER_KINDS, FOLLOWER_KINDS, Layer, ModelSpec

KERNEL_STEPS = (7, 5, 3)  # 11 -> 7 -> 5 -> 3, as AlexNet's kernels shrink in the seed
INPUT_STEPS = (40, 32, 24)  # 48 -> 40 -> 32 -> 24; the data pipeline resizes to match


@dataclass(frozen=True)
class Reduction:
    label: str  # e.g. "conv3 filters 152->76"
    spec: ModelSpec


def _block_end(spec: ModelSpec, i: int) -> int:
    """Index one past the layer at i and the BN / ReLU / dropout layers that follow it."""
    j = i + 1
    while j < len(spec.layers) and spec.layers[j].kind in FOLLOWER_KINDS:
        j += 1
    return j


def _with_layer(spec: ModelSpec, i: int, layer: Layer) -> ModelSpec:
    return spec.replace(layers=spec.layers[:i] + (layer,) + spec.layers[i + 1:])


def halve_width(spec: ModelSpec):
    for i, layer in enumerate(spec.layers):
        hidden_dense = layer.kind == "dense"
        if (layer.kind in FILTER_KINDS or hidden_dense) and layer.units >= 2:
            what = "units" if hidden_dense else "filters"
            new = layer.units // 2
            yield f"{layer.name} {what} {layer.units}\u2192{new}", _with_layer(spec, i, replace(layer, units=new))


def remove_layer(spec: ModelSpec):
    """Drop a conv (or residual block) or a hidden dense layer; the last convolution always stays.

    A net without convolutions is a pixel-level linear model, not a smaller version of the baseline.
    """
    convs = sum(layer.kind in CONV_KINDS for layer in spec.layers)
    for i, layer in enumerate(spec.layers):
        if (layer.kind in CONV_KINDS and convs > 1) or layer.kind == "dense":
            end = _block_end(spec, i)
            yield f"remove {layer.name}", spec.replace(layers=spec.layers[:i] + spec.layers[end:])


def raise_stride(spec: ModelSpec):
    for i, layer in enumerate(spec.layers):
        if layer.kind in CONV_KINDS and layer.stride == 1:
            yield f"{layer.name} stride 1\u21922", _with_layer(spec, i, replace(layer, stride=2))


def insert_pool(spec: ModelSpec):
    names = {layer.name for layer in spec.layers}
    for i, layer in enumerate(spec.layers):
        pool_name = f"{layer.name}_pool"
        if layer.kind in CONV_KINDS and pool_name not in names:
            end = _block_end(spec, i)
            pool = Layer("maxpool", pool_name, kernel=2, stride=2, padding="valid")
            yield f"2\u00d72 max-pool after {layer.name}", spec.replace(
                layers=spec.layers[:end] + (pool,) + spec.layers[end:])


def shrink_kernel(spec: ModelSpec):
    for i, layer in enumerate(spec.layers):
        smaller = [k for k in KERNEL_STEPS if k < layer.kernel]
        if layer.kind in CONV_KINDS and smaller:
            new = smaller[0]
            yield (f"{layer.name} kernel {layer.kernel}\u2192{new}",
                   _with_layer(spec, i, replace(layer, kernel=new)))


def separable(spec: ModelSpec):
    for i, layer in enumerate(spec.layers):
        if layer.kind == "conv" and layer.kernel > 1:
            yield f"{layer.name} \u2192 separable", _with_layer(spec, i, replace(layer, kind="sepconv"))


def global_pooling(spec: ModelSpec):
    names = {layer.name for layer in spec.layers}
    for i, layer in enumerate(spec.layers):
        if layer.kind == "flatten" and "gap" not in names:
            yield "flatten \u2192 global average pooling", _with_layer(spec, i, Layer("gap", "gap"))


def smaller_input(spec: ModelSpec):
    h, w, c = spec.input_shape
    smaller = [s for s in INPUT_STEPS if s < min(h, w)]
    if h == w and smaller:
        yield f"input {h}\u2192{smaller[0]}", spec.replace(input_shape=(smaller[0], smaller[0], c))


MOVES = (halve_width, remove_layer, raise_stride, insert_pool, shrink_kernel, separable, global_pooling,
         smaller_input)


def reductions(spec: ModelSpec, flops=None) -> list[Reduction]:
    """Every valid child of spec with strictly fewer FLOPs, in a fixed order (the order seed 001's DFS uses)."""
    if flops is None:
        from compress.models.cost import spec_cost

        def flops(s):
            return spec_cost(s).flops
    parent_flops = flops(spec)
    seen, out = set(), []
    for move in MOVES:
        for label, child in move(spec):
            child = child.replace(name=spec.name)
            if child.key in seen or not child.is_valid() or flops(child) >= parent_flops:
                continue
            seen.add(child.key)
            out.append(Reduction(label, child))
    return out
