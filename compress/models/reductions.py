"""The moves of the search: pure functions from a spec (chain or DAG) to smaller valid specs, each labelled for people.

On a graph the moves respect its structure: layers whose outputs meet in an Add are thinned together (an Add's
inputs keep equal channels), a residual block (everything between a fork and the Add that closes it) is removed as
one unit, and so is one branch of a Concatenate. The class layer of a headless spec keeps its width.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from compress.models import graph
from compress.models.spec import CONV_KINDS, INPUT_NAME, Layer, ModelSpec

KERNEL_STEPS = (7, 5, 3)  # 11 -> 7 -> 5 -> 3, as AlexNet's kernels shrink in the seed
INPUT_STEPS = (40, 32, 24)  # 48 -> 40 -> 32 -> 24; the data pipeline resizes to match
WINDOW_SHARE = 0.75  # a shorter sensor window keeps its most recent three quarters


@dataclass(frozen=True)
class Reduction:
    label: str  # e.g. "conv3 filters 152->76"
    spec: ModelSpec
    family: bool = False  # the whole trunk replaced (models/families.py): one step to the budget, trained afresh


def _with_layer(spec: ModelSpec, i: int, layer: Layer) -> ModelSpec:
    return spec.replace(layers=spec.layers[:i] + (layer,) + spec.layers[i + 1:])


def halve_width(spec: ModelSpec):
    """Halve a layer's filters (units), or those of every layer meeting it in an Add, together."""
    by_name = {layer.name: layer for layer in spec.layers}
    for group in graph.width_groups(spec):
        layers = [by_name[n] for n in group]
        if min(layer.units for layer in layers) < 2:
            continue
        new = {n: replace(by_name[n], units=by_name[n].units // 2) for n in group}
        what = "units" if layers[0].kind in ("dense", "lstm") else "filters"
        label = f"{'+'.join(group)} {what} {layers[0].units}\u2192{layers[0].units // 2}"
        yield label, spec.replace(layers=tuple(new.get(layer.name, layer) for layer in spec.layers))


def remove_layer(spec: ModelSpec):
    """Drop a conv (with its BN / ReLU / dropout) or a hidden dense layer; the last convolution always stays.

    A net without convolutions is a pixel-level linear model, not a smaller version of the baseline. Readers of the
    removed block read its input instead; where that breaks an Add's equal shapes the child is invalid and dropped.
    """
    convs = sum(layer.kind in CONV_KINDS for layer in spec.layers)
    keep, sources = graph.class_layer(spec), dict(zip((l.name for l in spec.layers), spec.inputs()))
    for layer in spec.layers:
        if ((layer.kind in CONV_KINDS and convs > 1) or layer.kind == "dense") and layer.name != keep:
            end = graph.block_end(spec, layer.name)
            block = graph.ancestors(spec, end) - graph.ancestors(spec, sources[layer.name][0])
            yield f"remove {layer.name}", graph.remove(spec, block, {end: sources[layer.name][0]})


def remove_residual_block(spec: ModelSpec):
    """Drop everything between a fork and the Add that joins its paths again: the block becomes the identity."""
    readers = graph.consumers(spec)
    for layer, sources in zip(spec.layers, spec.inputs()):
        if layer.kind != "add":
            continue
        fork, body = _fork(spec, sources)
        if fork is not None and all(set(readers[n]) <= body | {layer.name} for n in body):
            yield f"remove block {fork}\u2192{layer.name}", graph.remove(spec, body | {layer.name},
                                                                         {layer.name: fork})


def remove_branch(spec: ModelSpec):
    """Drop one input branch of a Concatenate (the layers only it uses); with one input left the concat goes too."""
    readers = graph.consumers(spec)
    for layer, sources in zip(spec.layers, spec.inputs()):
        if layer.kind != "concat":
            continue
        fork, _ = _fork(spec, sources)
        for k, source in enumerate(sources):
            others = set().union(*(graph.ancestors(spec, s) for j, s in enumerate(sources) if j != k))
            branch = graph.ancestors(spec, source) - others - graph.ancestors(spec, fork or INPUT_NAME)
            if any(not set(readers[n]) <= branch | {layer.name} for n in branch):
                continue
            rest = sources[:k] + sources[k + 1:]
            if len(rest) > 1:
                # (graph.substitute keeps the old inputs, so the concat's new inputs are set here)
                kept = graph.compact(spec, [replace(l, inputs=rest) if l.name == layer.name else l
                                            for l in graph.explicit(spec)])
                yield f"remove branch {source} of {layer.name}", graph.remove(kept, branch, {})
            else:
                yield f"remove branch {source} of {layer.name}", graph.remove(spec, branch | {layer.name},
                                                                              {layer.name: rest[0]})


def _fork(spec: ModelSpec, sources) -> tuple[str | None, set]:
    """The latest layer every source depends on, and the layers strictly between it and the sources."""
    common = set.intersection(*(graph.ancestors(spec, s) for s in sources))
    order = {INPUT_NAME: -1} | {layer.name: i for i, layer in enumerate(spec.layers)}
    fork = max(common, key=order.get, default=None)
    if fork is None:
        return None, set()
    body = set().union(*(graph.ancestors(spec, s) for s in sources)) - graph.ancestors(spec, fork)
    return fork, body


def raise_stride(spec: ModelSpec):
    for i, layer in enumerate(spec.layers):
        if layer.kind in CONV_KINDS and layer.stride == 1:
            yield f"{layer.name} stride 1\u21922", _with_layer(spec, i, replace(layer, stride=2))


def insert_pool(spec: ModelSpec):
    names = {layer.name for layer in spec.layers}
    for layer in spec.layers:
        pool_name = f"{layer.name}_pool"
        end = graph.block_end(spec, layer.name)
        if layer.kind in CONV_KINDS and pool_name not in names:
            pool = Layer("maxpool", pool_name, kernel=2, stride=2, padding="valid")
            yield f"2\u00d72 max-pool after {layer.name}", graph.insert_after(spec, end, pool)


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
    for layer in spec.layers:
        if layer.kind == "flatten":
            name = layer.name if layer.name != "flatten" else graph.unique_name(spec, "gap")
            yield "flatten \u2192 global average pooling", graph.substitute(spec, layer.name, Layer("gap", name))


def smaller_input(spec: ModelSpec):
    h, w, c = spec.input_shape
    smaller = [s for s in INPUT_STEPS if s < min(h, w)]
    if h == w and smaller:
        yield f"input {h}\u2192{smaller[0]}", spec.replace(input_shape=(smaller[0], smaller[0], c))


def shorter_window(spec: ModelSpec):
    """Sensor windows: keep the window's most recent WINDOW_SHARE, or read the same seconds at half the rate (the
    data is re-windowed to match: SignalDataset.at_input), as smaller_input does for images."""
    t, _, c = spec.input_shape
    if not spec.temporal or t < 2:
        return
    shorter = int(t * WINDOW_SHARE)
    if 1 <= shorter < t:
        yield f"window {t}\u2192{shorter} samples", spec.replace(input_shape=(shorter, 1, c))
    divisor = 2 * spec.rate_divisor
    yield (f"rate 1/{divisor} (window {t}\u2192{t // 2} samples)",
           spec.replace(input_shape=(t // 2, 1, c), rate_divisor=divisor))


MOVES = (halve_width, remove_layer, remove_residual_block, remove_branch, raise_stride, insert_pool, shrink_kernel,
         separable, global_pooling, smaller_input, shorter_window)


def reductions(spec: ModelSpec, flops=None) -> list[Reduction]:
    """Every valid child of spec with strictly fewer FLOPs, in a fixed order (the order of the cs231n study's DFS,
    Shved 2019)."""
    if flops is None:
        from compress.models.cost import spec_cost

        def flops(s):
            return spec_cost(s).flops
    parent_flops = flops(spec)
    seen, out = set(), []
    for move in MOVES:
        for label, child in move(spec):
            child = child.replace(name=spec.name)
            if child.key in seen or not graph.is_valid(child) or flops(child) >= parent_flops:
                continue
            seen.add(child.key)
            out.append(Reduction(label, child))
    return out
