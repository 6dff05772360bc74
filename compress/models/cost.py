"""Analytic cost of a network (MACs, FLOPs, params, int8 flash, arena): the formulas, and the cost of a spec."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from compress import CompressError

# FLOPs are what TensorFlow's profiler counts (tf.compat.v1.profiler, float_operation()) on the frozen inference
# graph for one input. Its rules (tensorflow/python/profiler/internal/flops_registry.py, ops/nn_ops.py), checked by
# profiling one layer of each kind at odd shapes:
#   Conv2D, DepthwiseConv2dNative, MatMul: 2 per MAC       BiasAdd: 1 per output element
#   MaxPool, AvgPool: kernel area per output element       Mean (global average pooling): 1 per input element
#   Softmax: 5 per element                                 Add, AddV2, Sub, Mul, Neg, Maximum, Minimum, Greater: 1 each
#   Rsqrt: 2 per element                                   no statistic, so 0: Relu, Relu6, LeakyRelu, Elu, Sigmoid,
#                                                          Tanh, FusedBatchNormV3, Reshape, ConcatV2, Identity (dropout)
# Hence BatchNormalization costs 0 on images (one fused kernel) but not on flat tensors, where Keras decomposes it.
ACTIVATION_FLOPS = {"linear": 0, "relu": 0, "relu6": 0, "elu": 0, "sigmoid": 0, "tanh": 0,  # per output element
                    "softmax": 5, "swish": 2, "silu": 2, "hard_sigmoid": 4}  # swish: x * sigmoid(beta * x)

# int8 flash: what a layer adds to the .tflite flatbuffer. Fitted to int8 conversions of the four zoo models
# (tf 2.21, 11.5 KB to 5.8 MB: estimates within -2.3 % .. +1.2 %; the converter drops all-zero dense biases).
WEIGHT_BYTES = 1  # int8 weights
BIAS_BYTES = 4  # int32 biases; the converter gives every conv one, folding a following BatchNormalization into it
CHANNEL_QUANT_BYTES = 24  # per output channel: float32 scale + int64 zero point, for the weights and for the bias
OP_BYTES = 320  # per op: operator table, output tensor with name and quantisation, small constants (reshape's shape)
MODEL_BASE_BYTES = 500  # per model: header, input tensor, signature, metadata

# Layers the TFLite converter folds into the op before them (BN into conv weights, ReLU as a fused activation) or
# drops (dropout): they write no tensor of their own, so they add no op, no flash overhead and no arena.
FUSED_KINDS = frozenset({"bn", "relu", "dropout", "identity"})


@dataclass(frozen=True)
class LayerCost:
    name: str
    kind: str  # spec kinds (conv, dwconv, sepconv, dense, maxpool, bn, ...) plus add, concat, reshape, softmax, ...
    output_shape: tuple  # without the batch dimension
    macs: int
    flops: int  # as TF's profiler counts them
    params: int  # as Keras' count_params (non-trainable BN statistics included)
    activation_bytes: int  # output tensor bytes (int8: one per element)
    flash_bytes: int  # int8 weights + int32 biases + quantisation and flatbuffer overhead


@dataclass(frozen=True)
class ModelCost:
    name: str
    source: str  # "spec", "keras" or "tflite"
    layers: tuple[LayerCost, ...]
    macs: int
    flops: int
    params: int
    flash_bytes: int  # estimated int8 .tflite size (a .tflite file: its size)
    arena_bytes: int  # peak live activation bytes, see peak_live_bytes

    def to_dict(self) -> dict:
        return asdict(self) | {"layers": [asdict(layer) for layer in self.layers]}


def _prod(shape) -> int:
    return math.prod(int(d) for d in shape)


def _row(name, kind, out_shape, macs=0, flops=0, params=0, weights=0, channels=0, ops=1) -> LayerCost:
    flash = weights * WEIGHT_BYTES + channels * (BIAS_BYTES + CHANNEL_QUANT_BYTES)
    flash += 0 if kind in FUSED_KINDS else ops * OP_BYTES
    out_shape = tuple(int(d) for d in out_shape)
    return LayerCost(name, kind, out_shape, int(macs), int(flops), int(params), _prod(out_shape), int(flash))


# --- per-layer formulas, shared by specs and Keras models ------------------------------------------------------------
def _conv(name, in_shape, out_shape, kh, kw, bias=True, act=0) -> LayerCost:
    out, cin, cout = _prod(out_shape), in_shape[-1], out_shape[-1]
    macs, weights = out * kh * kw * cin, kh * kw * cin * cout
    return _row(name, "conv", out_shape, macs, 2 * macs + (bias + act) * out, weights + bias * cout, weights, cout)


def _dwconv(name, in_shape, out_shape, kh, kw, bias=True, act=0) -> LayerCost:
    out, cout = _prod(out_shape), out_shape[-1]  # cout = channels x depth multiplier
    macs, weights = out * kh * kw, kh * kw * cout
    return _row(name, "dwconv", out_shape, macs, 2 * macs + (bias + act) * out, weights + bias * cout, weights, cout)


def _sepconv(name, in_shape, out_shape, kh, kw, mult=1, bias=True, act=0) -> LayerCost:
    """Depthwise (with the stride) then pointwise: two TFLite ops."""
    pixels, mid, cout = _prod(out_shape[:-1]), in_shape[-1] * mult, out_shape[-1]
    macs, weights = pixels * mid * (kh * kw + cout), mid * (kh * kw + cout)
    flops = 2 * macs + (bias + act) * pixels * cout
    return _row(name, "sepconv", out_shape, macs, flops, weights + bias * cout, weights, mid + cout, ops=2)


def _dense(name, in_shape, out_shape, bias=True, act=0) -> LayerCost:
    out, cin, cout = _prod(out_shape), in_shape[-1], out_shape[-1]
    macs, weights = out * cin, cin * cout
    return _row(name, "dense", out_shape, macs, 2 * macs + (bias + act) * out, weights + bias * cout, weights, cout)


def _pool(name, kind, out_shape, kh, kw) -> LayerCost:
    return _row(name, kind, out_shape, flops=_prod(out_shape) * kh * kw)


def _bn(name, shape, fused, scale=True, center=True) -> LayerCost:
    """Fused (images): 0 FLOPs. Else per feature: +eps, rsqrt (2), [*gamma], mean*inv, beta-; per element: *inv, +."""
    features = shape[-1]
    flops = 0 if fused else (5 + scale) * features + 2 * _prod(shape)
    return _row(name, "bn", shape, flops=flops, params=(2 + scale + center) * features)


# --- a graph of costed layers -> totals and arena ---------------------------------------------------------------------
def peak_live_bytes(steps, sizes, inputs, outputs) -> int:
    """Arena estimate: the peak, over ops in execution order, of the bytes of live tensors.

    A tensor lives from the op that writes it (graph inputs: from the start) to the last op that reads it (graph
    outputs: to the end). So each op counts its inputs and its output plus every earlier tensor a later op still
    needs (a residual shortcut). This is a lower bound on TFLM's arena: its planner may leave gaps, and persistent
    buffers (per-channel multipliers, tensor structs) come on top -- the device's runtime allowance covers those.
    """
    born = {t: 0 for t in inputs}
    dies = {}
    for i, (ins, out) in enumerate(steps):
        born.setdefault(out, i)
        for t in ins:
            dies[t] = i
    for t in outputs:
        dies[t] = len(steps)
    peak = sum(sizes[t] for t in inputs)
    for i in range(len(steps)):
        peak = max(peak, sum(sizes[t] for t, b in born.items() if b <= i <= dies.get(t, b)))
    return peak


def _model_cost(name, source, nodes, inputs: dict, outputs: list, fuse=True) -> ModelCost:
    """nodes: (LayerCost, input ids, output id) in execution order; inputs: graph input id -> bytes.

    fuse: Keras-level layers in FUSED_KINDS alias their input (a .tflite's own RELU op is a real op: fuse=False).
    """
    steps, sizes, alias = [], dict(inputs), {}
    for cost, ins, out in nodes:
        ins = tuple(alias.get(t, t) for t in ins)
        if fuse and cost.kind in FUSED_KINDS and len(ins) == 1:
            alias[out] = ins[0]  # computed in place by (or folded into) the op that wrote its input
            continue
        sizes[out] = cost.activation_bytes
        steps.append((ins, out))
    arena = peak_live_bytes(steps, sizes, list(inputs), [alias.get(t, t) for t in outputs])
    layers = tuple(cost for cost, _, _ in nodes)
    total = {f: sum(getattr(layer, f) for layer in layers) for f in ("macs", "flops", "params", "flash_bytes")}
    total["flash_bytes"] += MODEL_BASE_BYTES
    return ModelCost(name, source, layers, arena_bytes=arena, **total)


# --- ModelSpec: pure Python, no TensorFlow ----------------------------------------------------------------------------
def spec_cost(spec) -> ModelCost:
    """Cost of a ModelSpec from its shapes alone; rows and figures equal keras_cost(spec.build())."""
    nodes, x = [], "input"
    for layer, in_shape, out_shape in spec.shapes():
        if layer.kind == "residual":
            x = _residual(nodes, layer, in_shape, out_shape, x)
            continue
        nodes.append((_spec_layer(layer, in_shape, out_shape), (x,), layer.name))
        x = layer.name
    nodes.append((_row("softmax", "softmax", (spec.classes,), flops=5 * spec.classes), (x,), "softmax"))
    return _model_cost(spec.name or "model", "spec", nodes, {"input": _prod(spec.input_shape)}, ["softmax"])


def _spec_layer(layer, i, o) -> LayerCost:
    kind, name, k = layer.kind, layer.name, layer.kernel
    if kind == "conv":
        return _conv(name, i, o, k, k)
    if kind == "dwconv":
        return _dwconv(name, i, o, k, k)
    if kind == "sepconv":
        return _sepconv(name, i, o, k, k)
    if kind == "dense":
        return _dense(name, i, o)
    if kind in ("maxpool", "avgpool"):
        return _pool(name, kind, o, k, k)
    if kind == "bn":
        return _bn(name, i, fused=len(i) == 3)  # Keras fuses BatchNormalization on 4-D (batch + image) inputs
    if kind == "gap":
        return _row(name, "gap", o, flops=_prod(i))
    return _row(name, kind, o)  # relu, dropout, flatten: nothing the profiler counts


def _residual(nodes, layer, i, o, x) -> str:
    """The block as spec.build() makes it, in the same order: conv-bn-relu-conv-bn, 1x1 projection, add, relu."""
    n, k = layer.name, layer.kernel
    rows = [(_conv(f"{n}_conv1", i, o, k, k), x), (_bn(f"{n}_bn1", o, True), f"{n}_conv1"),
            (_row(f"{n}_relu1", "relu", o), f"{n}_bn1"), (_conv(f"{n}_conv2", o, o, k, k), f"{n}_relu1"),
            (_bn(f"{n}_bn2", o, True), f"{n}_conv2"), (_conv(f"{n}_proj", i, o, 1, 1), x),
            (_row(f"{n}_add", "add", o, flops=_prod(o)), (f"{n}_bn2", f"{n}_proj")),
            (_row(f"{n}_relu2", "relu", o), f"{n}_add")]
    nodes.extend((cost, ins if isinstance(ins, tuple) else (ins,), cost.name) for cost, ins in rows)
    return f"{n}_relu2"


def cost_of(source: str, input_shape=None, classes: int | None = None) -> ModelCost:
    """The CLI's MODEL: a zoo name or spec .json (costed without TensorFlow), a .keras/.h5 file or a .tflite file."""
    suffix = Path(source).suffix.lower()
    if suffix in (".keras", ".h5", ".tflite"):
        if input_shape is not None or classes is not None:
            raise CompressError(f"{source}: --input-shape and --classes apply to zoo names and spec files only")
        if suffix == ".tflite":
            from compress.models.tflite_io import tflite_cost

            return tflite_cost(source)
        from compress.models.keras_io import keras_cost, load_keras

        return keras_cost(load_keras(source))
    from compress.models import zoo

    return spec_cost(zoo.load_spec(source, input_shape, classes))


