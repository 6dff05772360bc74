"""The cost formulas: per-layer MACs, FLOPs, params and int8 flash, and a graph of costed layers -> totals and arena.

The bottom of models/: spec costs (cost.py), Keras models (keras_io.py), .tflite files (tflite_io.py) and the
sensor-window kinds (temporal.py) all cost their layers with these, so this module imports nothing from models/.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

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

# TFLM arena = planned activations + TFLM's own allocations in the arena: interpreter, allocator and planner, per
# tensor (constants too) an eval-tensor struct, per op a node struct and op data, and per output channel of a
# conv, depthwise or dense op its requantisation multiplier and shift. Constants fitted (non-negative least
# squares) to the smallest arena of the tflite-micro runtime (compress.deploy.tflm.measure_arena_bytes, 64-bit
# host) of 41 single-op grid models (scripts/fit_latency.py) and 8 reductions of alexnet/embedded3: base 963,
# per tensor 67 (the per-op structs are folded in here), per channel 8.5; models/model_int8.tflite 33,488
# measured, 33,172 estimated. tests/devices/test_targets.py checks other candidates against the runtime.
TFLM_ALIGN = 16  # every planned tensor starts on a 16-byte boundary
TFLM_BASE_BYTES = 960
TFLM_TENSOR_BYTES = 67
TFLM_CHANNEL_BYTES = 8.5
CONST_INPUT_KINDS = frozenset({"flatten", "reshape", "gap", "mean", "gmp"})  # a shape or axis tensor

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
    inner_bytes: int = 0  # a tensor between the layer's two ops (separable conv: the depthwise output)


@dataclass(frozen=True)
class ModelCost:
    name: str
    source: str  # "spec", "keras" or "tflite"
    layers: tuple[LayerCost, ...]
    macs: int
    flops: int
    params: int
    flash_bytes: int  # estimated int8 .tflite size (a .tflite file: its size)
    arena_bytes: int  # TFLM arena estimate: planned activations (peak_live_bytes) + TFLM's own, see tflm_arena_bytes
    planned_bytes: int = 0  # the planned activations alone, as TFLM's memory planner lays them out

    def to_dict(self) -> dict:
        return asdict(self) | {"layers": [asdict(layer) for layer in self.layers]}


def prod(shape) -> int:
    return math.prod(int(d) for d in shape)


def row(name, kind, out_shape, macs=0, flops=0, params=0, weights=0, channels=0, ops=1) -> LayerCost:
    flash = weights * WEIGHT_BYTES + channels * (BIAS_BYTES + CHANNEL_QUANT_BYTES)
    flash += 0 if kind in FUSED_KINDS else ops * OP_BYTES
    out_shape = tuple(int(d) for d in out_shape)
    return LayerCost(name, kind, out_shape, int(macs), int(flops), int(params), prod(out_shape), int(flash))


# --- per-layer formulas, shared by specs and Keras models ------------------------------------------------------------
def conv(name, in_shape, out_shape, kh, kw, bias=True, act=0) -> LayerCost:
    out, cin, cout = prod(out_shape), in_shape[-1], out_shape[-1]
    macs, weights = out * kh * kw * cin, kh * kw * cin * cout
    return row(name, "conv", out_shape, macs, 2 * macs + (bias + act) * out, weights + bias * cout, weights, cout)


def dwconv(name, in_shape, out_shape, kh, kw, bias=True, act=0) -> LayerCost:
    out, cout = prod(out_shape), out_shape[-1]  # cout = channels x depth multiplier
    macs, weights = out * kh * kw, kh * kw * cout
    return row(name, "dwconv", out_shape, macs, 2 * macs + (bias + act) * out, weights + bias * cout, weights, cout)


def sepconv(name, in_shape, out_shape, kh, kw, mult=1, bias=True, act=0) -> LayerCost:
    """Depthwise (with the stride) then pointwise: two TFLite ops."""
    pixels, mid, cout = prod(out_shape[:-1]), in_shape[-1] * mult, out_shape[-1]
    macs, weights = pixels * mid * (kh * kw + cout), mid * (kh * kw + cout)
    flops = 2 * macs + (bias + act) * pixels * cout
    cost = row(name, "sepconv", out_shape, macs, flops, weights + bias * cout, weights, mid + cout, ops=2)
    return replace(cost, inner_bytes=pixels * mid)


def dense(name, in_shape, out_shape, bias=True, act=0) -> LayerCost:
    out, cin, cout = prod(out_shape), in_shape[-1], out_shape[-1]
    macs, weights = out * cin, cin * cout
    return row(name, "dense", out_shape, macs, 2 * macs + (bias + act) * out, weights + bias * cout, weights, cout)


def pool(name, kind, out_shape, kh, kw) -> LayerCost:
    return row(name, kind, out_shape, flops=prod(out_shape) * kh * kw)


def bn(name, shape, fused, scale=True, center=True) -> LayerCost:
    """Fused (images): 0 FLOPs. Else per feature: +eps, rsqrt (2), [*gamma], mean*inv, beta-; per element: *inv, +."""
    features = shape[-1]
    flops = 0 if fused else (5 + scale) * features + 2 * prod(shape)
    return row(name, "bn", shape, flops=flops, params=(2 + scale + center) * features)


# --- a graph of costed layers -> totals and arena ---------------------------------------------------------------------
def peak_live_bytes(steps, sizes, inputs, outputs, align: int = TFLM_ALIGN) -> int:
    """Planned activation bytes, as TFLM's GreedyMemoryPlanner lays the tensors out in the arena.

    A tensor lives from the op that writes it (graph inputs: from the first op) to the last op that reads it
    (graph outputs: to the last op) and takes a multiple of `align` bytes. The planner places tensors largest
    first, each at the lowest offset that overlaps no placed tensor alive at the same time; the arena's head is
    the highest end. On a chain that is the peak of an op's input plus output; on a graph with long-lived tensors
    (a residual shortcut) it can leave gaps above that peak. Checked against the tflite-micro runtime's own
    arena on chains and residual graphs (tests/devices/test_targets.py).
    """
    sizes = {t: -(-size // align) * align for t, size in sizes.items()}
    life, readers = {t: [0, 0] for t in inputs}, {}
    for i, (ins, out) in enumerate(steps):
        life.setdefault(out, [i, i])
        for t in ins:
            life[t][1] = max(life[t][1], i)
            readers[t] = readers.get(t, 0) + 1
    for t, n in readers.items():
        if n > 1:  # read by several ops (a shortcut): TFLM keeps it one op longer (measured on residual graphs)
            life[t][1] = min(life[t][1] + 1, len(steps) - 1)
    for t in outputs:
        life[t][1] = max(len(steps) - 1, 0)
    placed, head = [], 0  # (offset, size, first, last), kept sorted by offset
    for t in sorted(life, key=lambda t: -sizes[t]):  # a stable sort: equal sizes keep their order, as TFLM's
        (first, last), size, offset = life[t], sizes[t], 0
        for other_offset, other_size, other_first, other_last in placed:
            if other_first > last or other_last < first:
                continue  # not alive at the same time
            if other_offset - offset >= size:
                break  # the gap below this tensor fits
            offset = max(offset, other_offset + other_size)
        placed.append((offset, size, first, last))
        placed.sort()
        head = max(head, offset + size)
    return head


def tflm_arena_bytes(planned: int, layers) -> int:
    """The arena TFLM needs: planned activations + its own allocations (constants above)."""
    tensors = channels = 0
    for layer in layers:
        n = 1 + (layer.inner_bytes > 0)  # a separable conv is two ops with a tensor between them
        tensors += n + 2 * n * (layer.macs > 0) + (layer.kind in CONST_INPUT_KINDS)  # + weights and bias
        if layer.macs:  # conv, depthwise, separable (both of its ops), dense
            channels += layer.output_shape[-1] + layer.inner_bytes // max(prod(layer.output_shape[:-1]), 1)
    return planned + TFLM_BASE_BYTES + TFLM_TENSOR_BYTES * tensors + round(TFLM_CHANNEL_BYTES * channels)


def model_cost(name, source, nodes, inputs: dict, outputs: list, fuse=True) -> ModelCost:
    """nodes: (LayerCost, input ids, output id) in execution order; inputs: graph input id -> bytes.

    fuse: Keras-level layers in FUSED_KINDS alias their input (a .tflite's own RELU op is a real op: fuse=False).
    """
    steps, sizes, alias, kept = [], dict(inputs), {}, []
    for cost, ins, out in nodes:
        ins = tuple(alias.get(t, t) for t in ins)
        if fuse and cost.kind in FUSED_KINDS and len(ins) == 1:
            alias[out] = ins[0]  # computed in place by (or folded into) the op that wrote its input
            continue
        if cost.inner_bytes:  # two ops: input -> inner tensor -> output
            sizes[(out, "inner")] = cost.inner_bytes
            steps.append((ins, (out, "inner")))
            ins = ((out, "inner"),)
        sizes[out] = cost.activation_bytes
        steps.append((ins, out))
        kept.append(cost)
    planned = peak_live_bytes(steps, sizes, list(inputs), [alias.get(t, t) for t in outputs])
    layers = tuple(cost for cost, _, _ in nodes)
    total = {f: sum(getattr(layer, f) for layer in layers) for f in ("macs", "flops", "params", "flash_bytes")}
    total["flash_bytes"] += MODEL_BASE_BYTES
    return ModelCost(name, source, layers, arena_bytes=tflm_arena_bytes(planned, kept), planned_bytes=planned,
                     **total)
