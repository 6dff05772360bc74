"""The ONNX ops that onnx_import.py reads: one function per op, from a node to the spec layer it adds (through
the _Graph it is given) or the spec name its output is known by. Weights go from NCHW (O, I, kh, kw) to NHWC
(kh, kw, I, O); pads from ONNX's (top, left, bottom, right) to (top, bottom, left, right)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from compress.models.keras_import import SOFTMAX, SPEC_BN_EPSILON
from compress.models.spec import Layer

SUPPORTED_OPS = ("Conv", "Gemm", "MatMul", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool",
                 "BatchNormalization", "Add", "Concat", "Flatten", "Reshape", "Softmax", "Dropout", "Identity")
CONSTANT_VALUES = ("value", "value_float", "value_floats", "value_int", "value_ints")


def constant(node, numpy_helper) -> np.ndarray | None:
    """A Constant node's value (a tensor, or value_float(s) / value_int(s)); None for any other form."""
    found = [(k, v) for k, v in attrs(node).items() if k in CONSTANT_VALUES]
    if len(found) != 1:
        return None
    key, value = found[0]
    return numpy_helper.to_array(value) if key == "value" else np.asarray(value)


def attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def same_pads(size: int, k: int, s: int) -> tuple:
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _window(g, node, src: str, kernel) -> tuple:
    """(k, stride, pads as (top, bottom, left, right)) of a Conv or pool node; square windows only."""
    a = attrs(node)
    k, strides = list(kernel), list(a.get("strides", [1, 1]))
    if len(k) != 2 or k[0] != k[1] or strides[0] != strides[1]:
        g.refuse(node, f"only square 2-D windows and strides (kernel {k}, strides {strides})")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        g.refuse(node, "dilated windows are not supported")
    h, w, _ = g.image(node, src)
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        top, bottom = same_pads(h, k[0], strides[0])
        left, right = same_pads(w, k[0], strides[0])
        pads = (top, bottom, left, right) if auto == "SAME_UPPER" else (bottom, top, right, left)
    else:
        t, l, b, r = a.get("pads", [0, 0, 0, 0]) if auto != "VALID" else [0, 0, 0, 0]
        pads = (t, b, l, r)
    if a.get("ceil_mode", 0) and any((size + p0 + p1 - k[0]) % strides[0] for size, p0, p1 in
                                     ((h, pads[0], pads[1]), (w, pads[2], pads[3]))):
        g.refuse(node, "ceil_mode changes the output size here; export with ceil_mode=False")
    return k[0], strides[0], tuple(int(p) for p in pads)


def _conv(g, node) -> str:
    src = g.source(node)
    weight, bias = g.const(node, 1), g.const(node, 2)
    k, s, pads = _window(g, node, src, weight.shape[2:])
    group, channels = attrs(node).get("group", 1), g.image(node, src)[2]
    if group == 1:
        kind, kernel, fields = "conv", weight.transpose(2, 3, 1, 0), {"units": int(weight.shape[0])}
    elif group == channels and weight.shape[:2] == (channels, 1):
        kind, kernel, fields = "dwconv", weight.transpose(2, 3, 0, 1), {}
    else:
        g.refuse(node, f"grouped convolution (group {group}) other than depthwise with one filter per channel")
    padding, src = g.padded(node, src, pads, k, s)
    values = [kernel, bias][:1 + (bias is not None)]
    return g.add(node, kind, (src,), values, kernel=k, stride=s, padding=padding, bias=bias is not None, **fields)


def _dense(g, node, src: str, kernel: np.ndarray, bias) -> str:
    shape = g.shapes[src]
    if src in g.chw:  # rows in ONNX's C, H, W order -> the H, W, C order that the NHWC flatten gives
        h, w, c = g.chw[src]
        kernel = kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
    if len(shape) != 1 or kernel.shape[0] != shape[0]:
        g.refuse(node, f"a {kernel.shape} weight cannot read shape {shape}")
    return g.add(node, "dense", (src,), [kernel, bias][:1 + (bias is not None)], units=int(kernel.shape[1]),
                 bias=bias is not None)


def _gemm(g, node) -> str:
    a = attrs(node)
    src, weight, c = g.source(node, flat_ok=True), g.const(node, 1), g.const(node, 2)
    if a.get("transA", 0) or weight.ndim != 2:
        g.refuse(node, "only Gemm(x, W) with a 2-D constant W and no transA")
    kernel = (weight.T if a.get("transB", 0) else weight) * a.get("alpha", 1.0)
    bias = None if c is None else np.broadcast_to(np.ravel(c * a.get("beta", 1.0)), (kernel.shape[1],))
    return _dense(g, node, src, kernel, bias)


def _matmul(g, node) -> str:
    src, weight = g.source(node, flat_ok=True), g.const(node, 1)
    if weight.ndim != 2:
        g.refuse(node, "only MatMul(x, W) with a 2-D constant W")
    return _dense(g, node, src, weight, None)


def _add(g, node) -> str:
    constant = [i for i in (0, 1) if node.input[i] in g.consts]
    if not constant:
        return g.add(node, "add", (g.source(node, 0), g.source(node, 1)))
    src = g.source(node, 1 - constant[0])
    last = g.layers[-1] if g.layers else Layer("identity", "none")
    if (last.name, last.kind, last.bias, g.readers[node.input[1 - constant[0]]]) != (src, "dense", False, 1):
        g.refuse(node, "adds a constant; only the bias after a MatMul is supported")
    g.layers[-1] = replace(last, bias=True)
    g.weights[last.name].append(np.broadcast_to(np.ravel(g.consts[node.input[constant[0]]]), (last.units,)))
    return last.name


def _clip(g, node) -> str:
    low, high = (attrs(node).get(key) for key in ("min", "max"))
    if len(node.input) > 1:  # opset 11 and later: min and max are inputs
        low, high = (None if v is None else float(v) for v in (g.const(node, 1), g.const(node, 2)))
    if low != 0 or high not in (6, None):
        g.refuse(node, f"Clip({low}, {high}): only Clip(0, 6) (ReLU6) and Clip(0) (ReLU)")
    return g.add(node, "relu6" if high == 6 else "relu", (g.source(node),))


def _pool(kind):
    def convert(g, node) -> str:
        a = attrs(node)
        src = g.source(node)
        k, s, pads = _window(g, node, src, a.get("kernel_shape", []))
        if kind == "avgpool" and a.get("count_include_pad", 0) and any(pads):  # zeros counted: pad, then valid
            padding, src = "valid", g.add(node, "zeropad", (src,), pads=pads)
        else:  # Keras' "same" windows skip the padding, as ONNX's MaxPool and AveragePool(count_include_pad=0) do
            padding, src = g.padded(node, src, pads, k, s, zeros_ok=False)
        return g.add(node, kind, (src,), kernel=k, stride=s, padding=padding)
    return convert


def _bn(g, node) -> str:
    scale, beta, mean, var = (np.asarray(g.const(node, i), np.float64) for i in (1, 2, 3, 4))
    denominator = var + attrs(node).get("epsilon", 1e-5)
    spec_var = denominator - SPEC_BN_EPSILON  # Keras divides by sqrt(var + 1e-3): fold the file's epsilon in,
    gamma = scale * np.where(spec_var < 0, np.sqrt(SPEC_BN_EPSILON / denominator), 1.0)  # exactly even when < 0
    return g.add(node, "bn", (g.source(node),), [gamma, beta, mean, np.maximum(spec_var, 0.0)])


def _concat(g, node) -> str:
    sources = tuple(g.source(node, i) for i in range(len(node.input)))
    rank = len(g.shapes[sources[0]]) + 1
    if attrs(node).get("axis") not in (1, 1 - rank):
        g.refuse(node, "only concatenation along the channels (axis 1)")
    return g.add(node, "concat", sources)


def _flatten(g, node) -> str:
    src = g.source(node)
    shape = g.shapes[src]
    if node.op_type == "Flatten" and attrs(node).get("axis", 1) != 1:
        g.refuse(node, "only Flatten(axis=1)")
    if node.op_type == "Reshape":
        target = [int(v) for v in np.ravel(g.const(node, 1))]
        if len(target) != 2 or target[0] not in (-1, 0, 1) or target[1] not in (-1, math.prod(shape)):
            g.refuse(node, f"Reshape to {target}: only to (batch, -1), a flatten")
    if len(shape) == 1:  # already flat (after GlobalAveragePool): nothing to do
        return src
    name = g.add(node, "flatten", (src,))
    if shape[0] * shape[1] > 1:
        g.chw[name] = shape
    return name


def _softmax(g, node) -> str:
    src = g.source(node)
    if len(g.shapes[src]) != 1:
        g.refuse(node, "softmax over an image; only over the class scores at the output")
    return SOFTMAX + src


HANDLERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul, "Add": _add, "Clip": _clip, "BatchNormalization": _bn,
    "Relu": lambda g, node: g.add(node, "relu", (g.source(node),)),
    "MaxPool": _pool("maxpool"), "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": lambda g, node: g.add(node, "gap", (g.source(node),)),
    "Concat": _concat, "Flatten": _flatten, "Reshape": _flatten, "Softmax": _softmax,
}
HANDLERS["Dropout"] = HANDLERS["Identity"] = lambda g, node: g.source(node, flat_ok=True)  # no-ops in inference
