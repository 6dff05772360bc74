"""Weight inheritance through the graph: a child's layer keeps parent weights only where they mean the same thing.

Every tensor of the child carries a *meaning*: (the parent tensor it corresponds to, the parent channel index of
each of its channels), or None. A weighted layer is inherited when the parent has a layer of that name and kind
and each of its inputs means the parent layer's own input; its input slices are then the channels that now feed
it. The outcome per layer is one of:
  copied         same weights, same shapes
  thinned        a subset: the output filters (units) with the largest L1 norm, the input slices that still feed
                 it, a centre crop of a shrunk kernel
  factorised     conv -> separable: per input channel c, the parent's k x k x F slice is split by an SVD into its
                 best rank-1 approximation, depthwise kernel (u * sqrt(s)) times pointwise row (v * sqrt(s)); a
                 separable conv is exactly a sum of such rank-1 terms, so this is the closest one in Frobenius norm
  widened        more output units or a larger kernel than the parent's (the anytime search's widening moves,
                 Net2Net-style, Chen et al. 2016): the parent's units are kept, the new ones start from Keras'
                 initialisers, the readers of a new channel get zero weights for it and a larger kernel is the
                 parent's zero-padded -- so before training the child computes exactly the parent's function
  reinitialised  the layer's inputs changed meaning (e.g. its predecessor was removed): Keras' initialisers
A re-initialised layer keeps its output positions, so the layers after it still read "its channel j" where the
parent's did and keep their weights (they re-learn what those channels now mean in training). BatchNorm follows
its conv: it is sliced like its input. Channels pass unchanged through ReLU, dropout, pooling and padding.
"""
from __future__ import annotations

import numpy as np

from compress.models.graph import layer_shapes
from compress.models.spec import CONV_KINDS, INPUT_NAME, PASS_THROUGH_KINDS, ModelSpec

CHANNEL_KINDS = PASS_THROUGH_KINDS + ("gap", "gmp", "rescale")  # outputs whose channel j is input channel j
STATUSES = ("copied", "thinned", "factorised", "widened", "reinitialised")
WEIGHTED_KINDS = CONV_KINDS + ("dense", "lstm")
NEW = -1  # the meaning of a channel the parent did not have (a widened layer's extra unit)


def _top_l1(weights: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the `keep` output units (last axis) with the largest L1 norm, in their original order."""
    norms = np.abs(weights).reshape(-1, weights.shape[-1]).sum(axis=0)
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def _crop_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Centre of a larger kernel, so a shrunk kernel starts from what the parent looked at; a smaller kernel is
    zero-padded instead ('same' padding centres both alike, so the output is unchanged)."""
    if kernel.shape[1] == 1 < kernel.shape[0]:  # k x 1: a sensor-window spec's 1-D conv, cropped along T only
        pad, start = max(size - kernel.shape[0], 0) // 2, max(kernel.shape[0] - size, 0) // 2
        return np.pad(kernel, [(pad, pad)] + [(0, 0)] * (kernel.ndim - 1))[start:start + size]
    if size > kernel.shape[0]:
        pad = (size - kernel.shape[0]) // 2
        return np.pad(kernel, [(pad, pad), (pad, pad)] + [(0, 0)] * (kernel.ndim - 2))
    start = (kernel.shape[0] - size) // 2
    return kernel[start:start + size, start:start + size]


def _take_in(weights: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """The input slices `idx` along `axis`; a NEW channel gets zeros, so it adds nothing until trained."""
    out = np.take(weights, np.where(idx == NEW, 0, idx), axis=axis)
    if (idx == NEW).any():
        where = [slice(None)] * out.ndim
        where[axis] = idx == NEW
        out[tuple(where)] = 0
    return out


def _take_out(weights: np.ndarray, out_idx: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """Output units `out_idx` along the last axis; a NEW unit keeps the child's fresh initial weights."""
    out = np.take(weights, np.where(out_idx == NEW, 0, out_idx), axis=-1)
    out[..., out_idx == NEW] = fresh[..., out_idx == NEW]
    return out


def _top_or_widen(weights: np.ndarray, keep: int, forced=None) -> np.ndarray:
    """The output units a child of width `keep` takes: the strongest when thinner, all plus NEW when wider."""
    have = weights.shape[-1]
    if forced is not None:
        return forced
    if keep > have:
        return np.concatenate([np.arange(have), np.full(keep - have, NEW)])
    return _top_l1(weights, keep)


def factorise(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(depthwise (k,k,C,1), pointwise (1,1,C,F)) closest to a conv kernel (k,k,C,F): rank-1 SVD per input channel."""
    kh, kw, channels, filters = kernel.shape
    depth, point = np.zeros((kh, kw, channels, 1), kernel.dtype), np.zeros((1, 1, channels, filters), kernel.dtype)
    for c in range(channels):
        u, s, vt = np.linalg.svd(kernel[:, :, c, :].reshape(kh * kw, filters), full_matrices=False)
        depth[:, :, c, 0] = (u[:, 0] * np.sqrt(s[0])).reshape(kh, kw)
        point[0, 0, c, :] = vt[0] * np.sqrt(s[0])
    return depth, point


def _graph(spec: ModelSpec) -> dict:
    """name -> (layer, resolved input names), with the head(s) (each reading its layer) included."""
    out = {layer.name: (layer, sources) for layer, sources in zip(spec.layers, spec.inputs())}
    heads = layer_shapes(spec)[len(spec.layers):]
    for (head, _, _), (name, source) in zip(heads, spec.outputs()):
        out[name] = (head, (source,))
    return out


def shares_weights(child_spec: ModelSpec, parent_spec: ModelSpec) -> bool:
    """Whether any weighted layer of the child may inherit: the parent has a layer of its name and kind. A family
    move's new trunk has none (its head alone would only learn a new readout of random features)."""
    parents = {(layer.name, layer.kind) for layer in parent_spec.layers}
    return any((layer.name, layer.kind) in parents for layer in child_spec.layers if layer.kind in WEIGHTED_KINDS)


def inherit_weights(child, child_spec: ModelSpec, parent, parent_spec: ModelSpec) -> dict[str, str]:
    """Copy the parent's weights into the child wherever they mean the same; returns {layer: status} (see above)."""
    parents, children = _graph(parent_spec), _graph(child_spec)
    same_input = child_spec.input_shape[2] == parent_spec.input_shape[2]
    meaning = {INPUT_NAME: (INPUT_NAME, np.arange(child_spec.input_shape[2])) if same_input else None}
    status, forced = {}, _joint_choices(child_spec, parent, parents)
    for name, (layer, sources) in children.items():
        p_layer, p_sources = parents.get(name, (None, ()))
        ins = [meaning.get(s) for s in sources]
        if len(ins) == len(p_sources):
            ins = [_lift(m, p, parents, parent) for m, p in zip(ins, p_sources)]
        matched = p_layer is not None and len(ins) == len(p_sources) and all(
            m is not None and m[0] == p for m, p in zip(ins, p_sources))
        meaning[name] = _inherit(child, parent, layer, p_layer, ins, p_sources, matched, status, forced.get(name))
    return status


def _lift(m, p_source: str, parents: dict, parent):
    """A child tensor that is one input of a concat the parent had here (a branch was removed) means a slice of it."""
    if m is None or m[0] == p_source or parents.get(p_source, (None,))[0] is None:
        return m
    p_layer, p_inputs = parents[p_source]
    if p_layer.kind != "concat" or m[0] not in p_inputs:
        return m
    widths = [int(t.shape[-1]) for t in parent.get_layer(p_source).input]
    return p_source, np.where(m[1] == NEW, NEW, sum(widths[:p_inputs.index(m[0])]) + m[1])


def _joint_choices(child_spec: ModelSpec, parent, parents: dict) -> dict[str, np.ndarray]:
    """Layers thinned together (they meet in an Add) keep the same channels: the largest summed, normalised L1."""
    from compress.models.graph import width_groups

    out = {}
    for group in width_groups(child_spec):
        if len(group) < 2 or any(n not in parents for n in group):
            continue
        keep = child_spec.layers[child_spec.index(group[0])].units
        total = 0.0
        for n in group:
            kind = parents[n][0].kind
            weights = parent.get_layer(f"{n}_conv2" if kind == "residual" else n).get_weights()
            kernel = weights[1] if kind == "sepconv" else weights[0]
            norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
            total = total + norms / max(norms.sum(), 1e-12)
        if len(total) > keep:
            out.update({n: np.sort(np.argsort(-total, kind="stable")[:keep]) for n in group})
    return out


def _inherit(child, parent, layer, p_layer, ins, p_sources, matched, status, forced=None):
    """Inherit one layer; returns the meaning of its output."""
    kind, name = layer.kind, layer.name
    same_kind = p_layer is not None and p_layer.kind == kind
    if kind in CHANNEL_KINDS:  # no weights (rescale: constants in the spec)
        if same_kind and matched:
            return name, ins[0][1]
        return ins[0] if p_layer is None else None  # a new pool (or padding) passes the meaning through
    if kind == "select":  # no weights: the same channels of an unchanged input mean the same
        same = same_kind and matched and p_layer.pads == layer.pads
        return (name, np.arange(layer.pads[1] - layer.pads[0])) if same else None
    if kind in ("flatten", "add", "concat", "identity"):
        if not same_kind or any(m is None for m in ins):
            return None
        return _merge(child, parent, layer, ins, p_sources, matched)
    if p_layer is None or not (same_kind or (p_layer.kind, kind) == ("conv", "sepconv")):
        status[name] = "reinitialised"
        return None
    if not matched:
        status[name] = "reinitialised"
        return name, np.arange(_width(child, layer))
    try:
        status[name], out_idx = _take(child, parent, layer, p_layer, ins[0][1], forced)
    except (ValueError, IndexError):  # shapes that do not line up: start fresh rather than guess
        status[name], out_idx = "reinitialised", np.arange(_width(child, layer))
    return name, out_idx


def _width(child, layer) -> int:
    return int(child.get_layer(layer.name if layer.kind != "residual" else f"{layer.name}_relu2").output.shape[-1])


def _merge(child, parent, layer, ins, p_sources, matched):
    """identity / add / flatten / concat: the output's meaning from the inputs' meanings (or None)."""
    kind, name = layer.kind, layer.name
    if kind in ("identity", "add"):
        same = all(np.array_equal(m[1], ins[0][1]) for m in ins)
        return (name, ins[0][1]) if matched and same else None
    if kind == "flatten":
        c_in, p_in = child.get_layer(name).input.shape, parent.get_layer(name).input.shape
        if not matched or tuple(c_in[1:3]) != tuple(p_in[1:3]):
            return None  # other positions (a smaller input, a new pool): the flat features mean something else
        positions = np.arange(int(c_in[1]) * int(c_in[2]))[:, None] * int(p_in[3])
        flat = positions + ins[0][1][None, :]
        return name, np.where(ins[0][1][None, :] == NEW, NEW, flat).reshape(-1)
    p_inputs = parent.get_layer(name).input  # concat: find each input among the parent's, with its offset
    offsets = np.cumsum([0] + [int(t.shape[-1]) for t in p_inputs])
    if any(m[0] not in p_sources for m in ins):
        return None
    return name, np.concatenate([np.where(m[1] == NEW, NEW, offsets[p_sources.index(m[0])] + m[1]) for m in ins])


def _take(child, parent, layer, p_layer, idx, forced=None):
    """Slice, crop, pad or factorise the parent's weights into one child layer; (status, output channel indices).

    forced: the output channels to keep (chosen jointly for layers meeting in an Add), else the largest L1.
    """
    kind, name = layer.kind, layer.name
    if kind == "residual":
        return _residual(child, parent, name, idx, forced)
    c_layer, pw = child.get_layer(name), parent.get_layer(name).get_weights()
    fresh = c_layer.get_weights()
    size = fresh[0].shape[0]

    def outputs(kernel, first_fresh, rest):
        out_idx = _top_or_widen(kernel, first_fresh.shape[-1], forced)
        return [_take_out(kernel, out_idx, first_fresh)] + [_take_out(b, out_idx, f) for b, f in rest], out_idx

    if kind == "bn":
        weights, out_idx = [_take_out(w, idx, f) for w, f in zip(pw, fresh)], idx
    elif kind == "dense":
        weights, out_idx = outputs(_take_in(pw[0], idx, 0), fresh[0], zip(pw[1:], fresh[1:]))
    elif kind == "dwconv":  # channel c in, channel c out: a NEW channel keeps its fresh kernel
        kernel = np.moveaxis(_crop_kernel(pw[0], size), 2, -1)
        weights = [np.moveaxis(_take_out(kernel, idx, np.moveaxis(fresh[0], 2, -1)), -1, 2)]
        m = pw[0].shape[-1]  # depth multiplier: input channel c feeds outputs c*m .. c*m + m - 1
        out_idx = np.where(idx[:, None] == NEW, NEW, idx[:, None] * m + np.arange(m)).reshape(-1)
        weights = weights + [_take_out(b, out_idx, f) for b, f in zip(pw[1:], fresh[1:])]
    elif kind == "sepconv" and p_layer.kind == "conv":
        depth, point = factorise(_take_in(_crop_kernel(pw[0], size), idx, 2))
        point, out_idx = outputs(point, fresh[1], zip(pw[1:], fresh[2:]))
        c_layer.set_weights([depth] + point)
        return "factorised", out_idx
    elif kind == "sepconv":
        depth = np.moveaxis(_crop_kernel(pw[0], size), 2, -1)
        depth = np.moveaxis(_take_out(depth, idx, np.moveaxis(fresh[0], 2, -1)), -1, 2)
        point, out_idx = outputs(_take_in(pw[1], idx, 2), fresh[1], zip(pw[2:], fresh[2:]))
        weights = [depth] + point
    elif kind == "lstm":
        weights, out_idx = _lstm(pw, idx, fresh[1].shape[0], forced)
    else:  # conv
        weights, out_idx = outputs(_take_in(_crop_kernel(pw[0], size), idx, 2), fresh[0], zip(pw[1:], fresh[1:]))
    c_layer.set_weights(weights)
    if any(np.greater(a.shape, b.shape).any() for a, b in zip(weights, pw) if a.ndim == b.ndim):
        return "widened", out_idx
    return ("copied" if all(a.shape == b.shape for a, b in zip(weights, pw)) else "thinned"), out_idx


def _residual(child, parent, name, idx, forced=None):
    """The zoo's residual block as one unit: conv1 and the projection read idx; conv2 reads conv1's kept filters."""
    get_c, get_p = child.get_layer, parent.get_layer

    def conv(part, channels, out_idx=None):
        pw = get_p(f"{name}_{part}").get_weights()
        shapes = [w.shape for w in get_c(f"{name}_{part}").get_weights()]
        kernel = _crop_kernel(pw[0], shapes[0][0])[:, :, channels, :]
        out_idx = _top_l1(kernel, shapes[0][-1]) if out_idx is None else out_idx
        get_c(f"{name}_{part}").set_weights([kernel[..., out_idx], pw[1][out_idx]])
        return out_idx, pw[0].shape != kernel[..., out_idx].shape

    mid, cut1 = conv("conv1", idx)
    get_c(f"{name}_bn1").set_weights([w[mid] for w in get_p(f"{name}_bn1").get_weights()])
    out, cut2 = conv("conv2", mid, forced)
    get_c(f"{name}_bn2").set_weights([w[out] for w in get_p(f"{name}_bn2").get_weights()])
    _, cut3 = conv("proj", idx, out)
    return ("thinned" if cut1 or cut2 or cut3 else "copied"), out


def _lstm(pw, idx, units: int, forced=None):
    """Keras LSTM weights (kernel (C, 4U), recurrent (U, 4U), bias (4U); gates i, f, c, o): the units with the
    largest L1 norm over all four gates, the same units in every gate and in the recurrent rows."""
    kernel, recurrent, bias = pw
    old = recurrent.shape[0]
    norms = sum(np.abs(w[:, g * old:(g + 1) * old]).sum(axis=0) for w in (kernel, recurrent) for g in range(4))
    out_idx = forced if forced is not None else np.sort(np.argsort(-norms, kind="stable")[:units])
    cols = np.concatenate([g * old + out_idx for g in range(4)])
    return [kernel[idx][:, cols], recurrent[out_idx][:, cols], bias[cols]], out_idx
