"""Widening moves: from a model that already fits, give back some of what the reductions took.

They undo reductions toward the baseline, one layer at a time: double a thinned layer's width (never past the
baseline's), grow a shrunk kernel one step, put a raised stride back to 1, drop an inserted pool, grow the
input one step. Used by the anytime search to spend the slack a goal leaves under the targets; the caller
keeps only the children that still fit the device.
"""
from __future__ import annotations

from dataclasses import replace

from compress.models import graph
from compress.models.spec import CONV_KINDS, ModelSpec

KERNEL_STEPS = (3, 5, 7, 11)
INPUT_STEPS = (24, 32, 40, 48, 64, 96)


def _with(spec: ModelSpec, i: int, **changes) -> ModelSpec:
    return spec.replace(layers=spec.layers[:i] + (replace(spec.layers[i], **changes),) + spec.layers[i + 1:])


def _wider(spec: ModelSpec, base: dict):
    """Double a width group (layers tied by an Add widen together), never past the baseline's width."""
    layers = {layer.name: layer for layer in spec.layers}
    for group in graph.width_groups(spec):
        if not all(name in base for name in group):
            continue
        old = layers[group[0]].units
        new = min(old * 2, *(base[name].units for name in group))
        if new > old and all(layers[name].units == old for name in group):
            what = "units" if layers[group[0]].kind == "dense" else "filters"
            child = spec.replace(layers=tuple(replace(l, units=new) if l.name in group else l for l in spec.layers))
            yield f"{'+'.join(group)} {what} {old}\u2192{new}", child


def _larger_kernel(spec: ModelSpec, base: dict):
    for i, layer in enumerate(spec.layers):
        if layer.kind in CONV_KINDS and layer.name in base:
            bigger = [k for k in KERNEL_STEPS if layer.kernel < k <= base[layer.name].kernel]
            if bigger:
                yield f"{layer.name} kernel {layer.kernel}\u2192{bigger[0]}", _with(spec, i, kernel=bigger[0])


def _smaller_stride(spec: ModelSpec, base: dict):
    for i, layer in enumerate(spec.layers):
        if layer.kind in CONV_KINDS and layer.name in base and layer.stride > base[layer.name].stride:
            yield f"{layer.name} stride {layer.stride}\u2192{base[layer.name].stride}", _with(
                spec, i, stride=base[layer.name].stride)


def _drop_inserted_pool(spec: ModelSpec, base: dict):
    for layer, sources in zip(spec.layers, spec.inputs()):
        if layer.kind == "maxpool" and layer.name not in base:
            yield f"drop {layer.name}", graph.remove(spec, {layer.name}, {layer.name: sources[0]})


def _larger_input(spec: ModelSpec, baseline: ModelSpec):
    h, w, c = spec.input_shape
    bigger = [s for s in INPUT_STEPS if h < s <= baseline.input_shape[0]]
    if h == w and bigger:
        yield f"input {h}\u2192{bigger[0]}", spec.replace(input_shape=(bigger[0], bigger[0], c))


def widenings(spec: ModelSpec, baseline: ModelSpec, flops) -> list[tuple[str, ModelSpec]]:
    """(label, child) for every valid widening of spec toward baseline with strictly more FLOPs, in a fixed order."""
    base = {layer.name: layer for layer in baseline.layers}
    parent_flops, seen, out = flops(spec), set(), []
    moves = (_wider(spec, base), _larger_kernel(spec, base), _smaller_stride(spec, base),
             _drop_inserted_pool(spec, base), _larger_input(spec, baseline))
    for move in moves:
        for label, child in move:
            child = child.replace(name=spec.name)
            if child.key in seen or not graph.is_valid(child) or flops(child) <= parent_flops:
                continue
            seen.add(child.key)
            out.append((label, child))
    return out
