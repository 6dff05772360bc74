"""Weight inheritance: a child starts from its parent's weights wherever a layer still corresponds to one."""
from __future__ import annotations

import numpy as np

from compress.models.spec import HEAD_NAME, PASS_THROUGH_KINDS, ModelSpec


def _top_l1(weights: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the `keep` output units (last axis) with the largest L1 norm, in their original order."""
    norms = np.abs(weights).reshape(-1, weights.shape[-1]).sum(axis=0)
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def _crop_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Centre of a larger kernel, so a shrunk kernel starts from what the parent looked at."""
    start = (kernel.shape[0] - size) // 2
    return kernel[start:start + size, start:start + size]


def _take_conv(parent_w: list, child_shapes: list, channels_in, out_idx=None):
    """Parent conv weights narrowed to the child's shapes: kernel cropped, inputs/outputs picked by index."""
    kernel, rest = parent_w[0], parent_w[1:]
    if kernel.shape[0] != child_shapes[0][0]:
        kernel = _crop_kernel(kernel, child_shapes[0][0])
    if channels_in is not None:
        kernel = kernel[:, :, channels_in, :]
    if out_idx is None:
        out_idx = _top_l1(kernel, child_shapes[0][-1])
    return [kernel[..., out_idx]] + [b[out_idx] for b in rest], out_idx


def inherit_weights(child, child_spec: ModelSpec, parent, parent_spec: ModelSpec) -> int:
    """Copy the parent's weights into every child layer that still corresponds to one; returns layers copied.

    Layers are matched by name. A thinned layer keeps the parent's filters (or units) with the largest L1 norm;
    the layers after it take the matching input channels, so a child starts close to what its parent computed.
    """
    parent_shapes = {layer.name: (i, o) for layer, i, o in parent_spec.shapes()}
    parent_kinds = {layer.name: layer.kind for layer in parent_spec.layers}
    channels = np.arange(child_spec.input_shape[2])  # parent indices of the current tensor's channels, or None
    copied = 0
    for layer, in_shape, out_shape in child_spec.shapes():
        name = layer.name
        same_kind = parent_kinds.get(name, "dense" if name == HEAD_NAME else None) == layer.kind
        if not same_kind:  # a new layer: channels survive only layers that pass them through unchanged
            if layer.kind not in PASS_THROUGH_KINDS:
                channels = None
            continue
        p_in = parent_shapes[name][0]
        try:
            channels, n = _inherit_layer(child, parent, layer, in_shape, out_shape, p_in, channels)
        except (ValueError, IndexError):
            channels, n = None, 0
        copied += n
    return copied


def _inherit_layer(child, parent, layer, in_shape, out_shape, p_in, channels):
    kind, name = layer.kind, layer.name
    if kind in PASS_THROUGH_KINDS:
        return channels, 0
    if kind == "flatten":
        if channels is None or tuple(in_shape[:2]) != tuple(p_in[:2]):
            return None, 0
        positions = np.arange(in_shape[0] * in_shape[1])[:, None] * p_in[2]
        return (positions + channels[None, :]).reshape(-1), 0
    if kind == "gap":
        return channels, 0
    if kind == "bn":
        if channels is None:
            return None, 0
        child.get_layer(name).set_weights([w[channels] for w in parent.get_layer(name).get_weights()])
        return channels, 1
    if kind == "dense":
        if channels is None:
            return None, 0
        pw = parent.get_layer(name).get_weights()
        kernel = pw[0][channels]
        idx = _top_l1(kernel, out_shape[0])
        child.get_layer(name).set_weights([kernel[:, idx], pw[1][idx]])
        return idx, 1
    if kind in ("conv", "sepconv", "dwconv"):
        return _inherit_conv(child.get_layer(name), parent.get_layer(name), kind, channels)
    if kind == "residual":
        return _inherit_residual(child, parent, name, channels)
    return None, 0


def _inherit_conv(child_layer, parent_layer, kind, channels):
    pw, cw = parent_layer.get_weights(), [w.shape for w in child_layer.get_weights()]
    if channels is None and pw[0].shape[2] != cw[0][2]:
        return None, 0
    if kind == "conv":
        weights, out_idx = _take_conv(pw, cw, channels)
    elif kind == "dwconv":  # (k, k, C, 1): channels follow the input
        kernel = _crop_kernel(pw[0], cw[0][0])
        idx = channels if channels is not None else np.arange(cw[0][2])
        weights, out_idx = [kernel[:, :, idx, :], pw[1][idx]], idx
    else:  # sepconv: depthwise (k,k,C,1), pointwise (1,1,C,F), bias (F,)
        depth = _crop_kernel(pw[0], cw[0][0])
        point = pw[1]
        if channels is not None:
            depth, point = depth[:, :, channels, :], point[:, :, channels, :]
        out_idx = _top_l1(point, cw[1][-1])
        weights = [depth, point[..., out_idx], pw[2][out_idx]]
    child_layer.set_weights(weights)
    return out_idx, 1


def _inherit_residual(child, parent, name, channels):
    get_c, get_p = child.get_layer, parent.get_layer
    conv1 = [w.shape for w in get_c(f"{name}_conv1").get_weights()]
    if channels is None and get_p(f"{name}_conv1").get_weights()[0].shape[2] != conv1[0][2]:
        return None, 0
    w1, mid = _take_conv(get_p(f"{name}_conv1").get_weights(), conv1, channels)
    get_c(f"{name}_conv1").set_weights(w1)
    get_c(f"{name}_bn1").set_weights([w[mid] for w in get_p(f"{name}_bn1").get_weights()])
    conv2 = [w.shape for w in get_c(f"{name}_conv2").get_weights()]
    w2, out = _take_conv(get_p(f"{name}_conv2").get_weights(), conv2, mid)
    get_c(f"{name}_conv2").set_weights(w2)
    get_c(f"{name}_bn2").set_weights([w[out] for w in get_p(f"{name}_bn2").get_weights()])
    proj = [w.shape for w in get_c(f"{name}_proj").get_weights()]
    wp, _ = _take_conv(get_p(f"{name}_proj").get_weights(), proj, channels, out_idx=out)
    get_c(f"{name}_proj").set_weights(wp)
    return out, 5
