"""A spec as a small DAG: shape inference, who reads whom, and edits that keep the wiring consistent."""
from __future__ import annotations

import math
from dataclasses import replace

from compress.models.spec import (FILTER_KINDS, FOLLOWER_KINDS, HEAD_NAME, INPUT_NAME, MERGE_KINDS, POOL_KINDS, Layer,
                                  ModelSpec, SpecError)
from compress.models.temporal import sequence_shape

# kinds whose output channels are their input's (a width decided upstream passes straight through them; dwconv's
# are its input's times its depth multiplier)
SAME_CHANNELS = ("bn", "relu", "relu6", "dropout", "identity", "zeropad", "rescale", "dwconv", "flatten", "gap",
                 "gmp") + POOL_KINDS


def _spatial(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


def output_shape(layer: Layer, shapes: list[tuple], temporal: bool = False) -> tuple:
    """The output shape of one layer from its input shapes; SpecError if they do not fit it.

    temporal (a (T, 1, C) spec, ModelSpec.temporal): windows slide along the height only (k x 1, stride s x 1).
    """
    kind, name = layer.kind, layer.name
    if kind in MERGE_KINDS:
        return _merge_shape(layer, shapes)
    if len(shapes) != 1:
        raise SpecError(f"layer {name!r}: {kind} takes one input, got {len(shapes)}")
    shape = shapes[0]
    if kind in ("bn", "relu", "relu6", "dropout", "identity"):
        return shape
    if kind in ("lstm", "select"):
        return sequence_shape(layer, shape)
    if kind == "dense":
        if layer.units < 1 or len(shape) != 1:
            raise SpecError(f"layer {name!r}: dense needs at least one unit and a flat input, got {shape}")
        return (layer.units,)
    if len(shape) != 3:
        raise SpecError(f"layer {name!r}: {kind} needs an image input, got {shape}")
    h, w, c = shape
    if kind == "flatten":
        return (h * w * c,)
    if kind in ("gap", "gmp"):
        return (c,)
    if kind == "zeropad":
        top, bottom, left, right = layer.pads
        return (h + top + bottom, w + left + right, c)
    if kind == "rescale":
        if len(layer.scale) not in (1, c) or len(layer.offset) not in (1, c):
            raise SpecError(f"layer {name!r}: rescale needs one value or one per channel ({c})")
        return shape
    return _window_shape(layer, h, w, c, temporal)


def _window_shape(layer: Layer, h: int, w: int, c: int, temporal: bool = False) -> tuple:
    kind, name, stride = layer.kind, layer.name, layer.stride
    padding = "same" if kind == "residual" else layer.padding
    kernel_w, stride_w = (1, 1) if temporal else (layer.kernel, stride)
    if layer.kernel < 1 or stride < 1:
        raise SpecError(f"layer {name!r}: kernel and stride must be >= 1")
    if padding == "valid" and (layer.kernel > h or kernel_w > w):
        raise SpecError(f"layer {name!r}: kernel {layer.kernel} larger than its {h}x{w} input")
    oh, ow = _spatial(h, layer.kernel, stride, padding), _spatial(w, kernel_w, stride_w, padding)
    if oh < 1 or ow < 1:
        raise SpecError(f"layer {name!r}: output would be {oh}x{ow}")
    if kind in POOL_KINDS:
        return (oh, ow, c)
    if kind == "dwconv":  # units: the depth multiplier (0 = 1), filters per input channel
        return (oh, ow, c * max(layer.units, 1))
    if layer.units < 1:
        raise SpecError(f"layer {name!r}: needs at least one filter")
    return (oh, ow, layer.units)


def _merge_shape(layer: Layer, shapes: list[tuple]) -> tuple:
    if len(shapes) < 2:
        raise SpecError(f"layer {layer.name!r}: {layer.kind} needs at least two inputs")
    if layer.kind == "add":
        if len(set(shapes)) != 1:
            raise SpecError(f"layer {layer.name!r}: add needs equal input shapes, got {shapes}")
        return shapes[0]
    if len({s[:-1] for s in shapes}) != 1:
        raise SpecError(f"layer {layer.name!r}: concat needs equal sizes but the last axis, got {shapes}")
    return shapes[0][:-1] + (sum(s[-1] for s in shapes),)


def tensor_shapes(spec: ModelSpec) -> dict[str, tuple]:
    """Output shape of every layer (and INPUT_NAME), checking that every layer reads earlier ones and is read."""
    shapes, read = {INPUT_NAME: spec.input_shape}, set()
    for layer, sources in zip(spec.layers, spec.inputs()):
        missing = [s for s in sources if s not in shapes]
        if missing:
            raise SpecError(f"layer {layer.name!r}: reads {missing}, which are not earlier layers")
        shapes[layer.name] = output_shape(layer, [shapes[s] for s in sources], spec.temporal)
        read.update(sources)
    outputs = {source for _, source in spec.outputs()}
    dead = [layer.name for layer in spec.layers if layer.name not in read | outputs]
    if dead:
        raise SpecError(f"spec {spec.name!r}: layers {dead} feed nothing")
    return shapes


def layer_shapes(spec: ModelSpec) -> list[tuple[Layer, tuple, tuple]]:
    """(layer, first input's shape, output shape) per layer and the head row last; SpecError if the spec is invalid."""
    shapes = tensor_shapes(spec)
    out = [(layer, shapes[sources[0]], shapes[layer.name]) for layer, sources in zip(spec.layers, spec.inputs())]
    if spec.tasks:  # one Dense(classes) head per task
        for head, source in spec.outputs():
            if len(shapes[source]) != 1:
                raise SpecError(f"spec {spec.name!r}: {head} needs a flat input; add flatten or gap after {source!r}")
            out.append((Layer("dense", head, units=spec.classes), shapes[source], (spec.classes,)))
        return out
    last = shapes[spec.layers[-1].name] if spec.layers else spec.input_shape
    if len(last) != 1:
        raise SpecError(f"spec {spec.name!r}: the head needs a flat input; add flatten or gap (got {last})")
    if spec.head:
        out.append((Layer("dense", HEAD_NAME, units=spec.classes), last, (spec.classes,)))
    elif last != (spec.classes,):
        raise SpecError(f"spec {spec.name!r}: without a head the last layer must output {spec.classes} classes, "
                        f"not {last}")
    else:
        out.append((Layer("identity", HEAD_NAME), last, last))
    return out


def is_valid(spec: ModelSpec) -> bool:
    """Whether the spec's shapes fit together (layer_shapes raises no SpecError)."""
    try:
        layer_shapes(spec)
    except SpecError:
        return False
    return True


# --- who reads whom ----------------------------------------------------------------------------------------------
def consumers(spec: ModelSpec) -> dict[str, list[str]]:
    """Who reads each layer; a multi-task spec's heads count as readers (a single head reads the last layer)."""
    out = {INPUT_NAME: []} | {layer.name: [] for layer in spec.layers}
    for layer, sources in zip(spec.layers, spec.inputs()):
        for s in sources:
            out.setdefault(s, []).append(layer.name)
    for head, source in spec.outputs() if spec.tasks else ():
        out[source].append(head)
    return out


def ancestors(spec: ModelSpec, name: str) -> set[str]:
    """name and every layer (and INPUT_NAME) it depends on."""
    sources = dict(zip((layer.name for layer in spec.layers), spec.inputs()))
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(sources.get(n, ()))
    return seen


def block_end(spec: ModelSpec, name: str) -> str:
    """The last of the BN / ReLU / dropout layers that follow `name` alone (name itself if none)."""
    readers, kinds = consumers(spec), {layer.name: layer.kind for layer in spec.layers}
    end = name
    while len(readers[end]) == 1 and kinds.get(readers[end][0]) in FOLLOWER_KINDS and len(readers[readers[end][0]]) <= 1:
        end = readers[end][0]
    return end


def class_layer(spec: ModelSpec) -> str | None:
    """Without a head: the layer whose width is the number of classes (it cannot be thinned or removed)."""
    if spec.head or not spec.layers:
        return None
    kinds, sources = {l.name: l.kind for l in spec.layers}, dict(zip((l.name for l in spec.layers), spec.inputs()))
    name = spec.layers[-1].name
    while name in kinds and kinds[name] in SAME_CHANNELS:
        name = sources[name][0]
    return name


def width_groups(spec: ModelSpec) -> list[list[str]]:
    """Layers whose widths must change together (an add's inputs keep equal channels), in layer order.

    A group reaching the model input or the class layer is left out: its width is not ours to change.
    """
    parent = {}

    def find(n):
        while parent.setdefault(n, n) != n:
            n = parent[n]
        return n

    source = {INPUT_NAME: INPUT_NAME}
    for layer, sources in zip(spec.layers, spec.inputs()):
        if layer.kind in FILTER_KINDS or layer.kind == "dense":
            source[layer.name] = layer.name
        elif layer.kind in SAME_CHANNELS:
            source[layer.name] = source.get(sources[0])
        elif layer.kind == "add":
            roots = [find(source[s]) for s in sources if source.get(s)]
            for r in roots[1:]:
                parent[r] = roots[0]
            source[layer.name] = roots[0] if roots else None
    fixed = {find(INPUT_NAME)} | ({find(class_layer(spec))} if class_layer(spec) else set())
    groups: dict[str, list[str]] = {}
    for layer in spec.layers:
        if layer.kind in FILTER_KINDS or layer.kind == "dense":
            groups.setdefault(find(layer.name), []).append(layer.name)
    return [members for root, members in groups.items() if root not in fixed]


# --- edits: every one returns a new spec with its wiring made compact again -------------------------------------------
def explicit(spec: ModelSpec) -> list[Layer]:
    return [replace(layer, inputs=sources) for layer, sources in zip(spec.layers, spec.inputs())]


def compact(spec: ModelSpec, layers: list[Layer], heads: tuple | None = None) -> ModelSpec:
    """Drop `inputs` where a layer reads just the layer listed before it (so chains stay plain lists); heads: the
    layers a multi-task spec's heads read now (default: unchanged)."""
    out, previous = [], INPUT_NAME
    for layer in layers:
        out.append(replace(layer, inputs=() if layer.inputs == (previous,) else layer.inputs))
        previous = layer.name
    return spec.replace(layers=tuple(out), heads=spec.heads if heads is None else tuple(heads))


def remove(spec: ModelSpec, names, reroute: dict[str, str]) -> ModelSpec:
    """Without the layers `names`; a reader of a removed layer reads reroute[it] instead (followed to the end)."""
    def target(n):
        while n in reroute:
            n = reroute[n]
        return n

    layers = [replace(l, inputs=tuple(target(s) for s in l.inputs)) for l in explicit(spec) if l.name not in names]
    return compact(spec, layers, tuple(target(h) for h in spec.heads))


def insert_after(spec: ModelSpec, name: str, new: Layer) -> ModelSpec:
    """new reads `name`; everything that read `name` reads new instead."""
    layers = []
    for layer in explicit(spec):
        layers.append(replace(layer, inputs=tuple(new.name if s == name else s for s in layer.inputs)))
        if layer.name == name:
            layers.append(replace(new, inputs=(name,)))
    if name == INPUT_NAME:
        layers.insert(0, replace(new, inputs=(INPUT_NAME,)))
    return compact(spec, layers, tuple(new.name if h == name else h for h in spec.heads))


def substitute(spec: ModelSpec, name: str, new: Layer) -> ModelSpec:
    """Layer `name` replaced by new (which may have another name: its readers follow)."""
    layers = []
    for layer in explicit(spec):
        if layer.name == name:
            layer = replace(new, inputs=layer.inputs)
        layers.append(replace(layer, inputs=tuple(new.name if s == name else s for s in layer.inputs)))
    return compact(spec, layers, tuple(new.name if h == name else h for h in spec.heads))


def unique_name(spec: ModelSpec, stem: str) -> str:
    names, i = {layer.name for layer in spec.layers} | {INPUT_NAME, HEAD_NAME} | {h for h, _ in spec.outputs()}, 1
    name = stem
    while name in names:
        i += 1
        name = f"{stem}{i}"
    return name
