"""Analytic cost of a network (MACs, FLOPs, params, int8 flash, arena) from a spec, a Keras model or a .tflite file."""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, replace
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
        return tflite_cost(source) if suffix == ".tflite" else keras_cost(load_keras(source))
    from compress import zoo

    return spec_cost(zoo.load_spec(source, input_shape, classes))


# --- Keras models -----------------------------------------------------------------------------------------------------
def keras_cost(model) -> ModelCost:
    """Cost of a built tf_keras model (Sequential or functional); CompressError for a layer we cannot cost."""
    import tf_keras as keras

    handlers = _keras_handlers(keras)
    nodes = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        handler = handlers.get(type(layer))
        if handler is None:
            raise CompressError(f"layer {layer.name!r}: cannot cost a {type(layer).__name__} layer "
                                f"(supported: {', '.join(sorted(c.__name__ for c in handlers))})")
        ins, out = _keras_io(layer)
        in_shapes = [_fixed_shape(layer, t) for t in ins]
        nodes.append((handler(layer, in_shapes, _fixed_shape(layer, out)), tuple(id(t) for t in ins), id(out)))
    inputs = {id(t): _prod(_fixed_shape(model, t)) for t in model.inputs}
    return _model_cost(model.name, "keras", nodes, inputs, [id(t) for t in model.outputs])


def _keras_io(layer):
    try:
        ins, out = layer.input, layer.output
    except (AttributeError, RuntimeError, ValueError) as exc:  # unbuilt, or shared by several calls
        raise CompressError(f"layer {layer.name!r}: cannot read its inputs and output: {exc}") from None
    return (list(ins) if isinstance(ins, (list, tuple)) else [ins]), out


def _fixed_shape(layer, tensor) -> tuple:
    shape = tuple(tensor.shape[1:])
    if any(d is None for d in shape):
        raise CompressError(f"layer {layer.name!r}: shape {shape} is not fixed; cost needs a fixed input size")
    return shape


def _keras_handlers(keras) -> dict:
    L = keras.layers
    return {
        L.Conv2D: lambda l, i, o: _conv(l.name, i[0], o, *_conv_kernel(l), l.use_bias, _act(l)),
        L.DepthwiseConv2D: lambda l, i, o: _dwconv(l.name, i[0], o, *_conv_kernel(l), l.use_bias, _act(l)),
        L.SeparableConv2D: lambda l, i, o: _sepconv(l.name, i[0], o, *_conv_kernel(l), l.depth_multiplier,
                                                    l.use_bias, _act(l)),
        L.Dense: lambda l, i, o: _dense(l.name, i[0], o, l.use_bias, _act(l)),
        L.MaxPooling2D: lambda l, i, o: _pool(l.name, "maxpool", o, *l.pool_size),
        L.AveragePooling2D: lambda l, i, o: _pool(l.name, "avgpool", o, *l.pool_size),
        L.GlobalAveragePooling2D: lambda l, i, o: _row(l.name, "gap", o, flops=_prod(i[0])),
        L.BatchNormalization: _keras_bn,
        L.ReLU: _keras_relu,
        L.Activation: _keras_activation,
        L.Softmax: lambda l, i, o: _row(l.name, "softmax", o, flops=5 * _prod(o)),
        L.Add: lambda l, i, o: _row(l.name, "add", o, flops=(len(i) - 1) * _prod(o)),
        L.Dropout: lambda l, i, o: _row(l.name, "dropout", o),
        L.Flatten: lambda l, i, o: _row(l.name, "flatten", o),
        L.Reshape: lambda l, i, o: _row(l.name, "reshape", o),
        L.Concatenate: lambda l, i, o: _row(l.name, "concat", o),
    }


def _conv_kernel(layer) -> tuple[int, int]:
    """Kernel size; dilated, grouped and channels-first convolutions are refused (the profiler sees other ops)."""
    if layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1) or getattr(layer, "groups", 1) != 1:
        raise CompressError(f"layer {layer.name!r}: only channels-last, undilated, ungrouped convolutions are costed")
    return tuple(layer.kernel_size)


def _act(layer) -> int:
    """FLOPs per output element of a layer's own activation (Conv2D(activation=...), Dense, Activation)."""
    name = getattr(layer.activation, "__name__", str(layer.activation))
    if name not in ACTIVATION_FLOPS:
        raise CompressError(f"layer {layer.name!r}: cannot cost activation {name!r} "
                            f"(supported: {', '.join(ACTIVATION_FLOPS)})")
    return ACTIVATION_FLOPS[name]


def _keras_activation(layer, i, o) -> LayerCost:
    name = getattr(layer.activation, "__name__", "")
    kind = {"relu": "relu", "relu6": "relu", "linear": "identity", "softmax": "softmax"}.get(name, name)
    return _row(layer.name, kind, o, flops=_act(layer) * _prod(o))


def _keras_bn(layer, i, o) -> LayerCost:
    if layer.axis not in ([len(o)], [-1]):
        raise CompressError(f"layer {layer.name!r}: BatchNormalization is costed on the last axis only")
    return _bn(layer.name, o, bool(getattr(layer, "fused", False)), layer.scale, layer.center)


def _keras_relu(layer, i, o) -> LayerCost:
    """Mirrors tf_keras backend.relu: plain, relu6 and leaky are single uncounted ops; the rest adds elementwise ops."""
    n, slope, top, thr = _prod(o), float(layer.negative_slope), layer.max_value, float(layer.threshold)
    if slope and top is None and not thr:
        return _row(layer.name, "leaky_relu", o)
    flops = (3 + bool(thr)) * n if slope else 0  # negative part: Neg (+ AddV2 threshold), then Mul and Sub
    flops += 2 * n if thr else 0  # x * (x > threshold): Greater and Mul
    flops += 2 * n if top is not None and (thr or float(top) != 6.0) else 0  # clip_by_value: Minimum and Maximum
    plain = not slope and not thr and top in (None, 6.0)
    return _row(layer.name, "relu" if plain else "relu_custom", o, flops=flops)


def load_keras(path) -> object:
    """A .keras or .h5 model, loaded in safe mode (no Python lambdas from the file) and without its optimizer."""
    p = Path(path)
    if p.suffix.lower() not in (".keras", ".h5"):
        raise CompressError(f"{path}: expected a .keras or .h5 file")
    if not p.is_file():
        raise CompressError(f"{path}: no such file")
    import tf_keras as keras
    from tf_keras.src.saving.serialization_lib import SafeModeScope

    try:
        with SafeModeScope(True):  # the legacy .h5 loader ignores load_model's safe_mode; the scope reaches it
            return keras.models.load_model(p, compile=False, safe_mode=True)
    except Exception as exc:  # h5py, zipfile, JSON and Keras errors alike: the user gets one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CompressError(f"{path}: cannot load the Keras model: {first}") from None


# --- .tflite files --------------------------------------------------------------------------------------------------
TFLITE_KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "FULLY_CONNECTED": "dense",
                "MAX_POOL_2D": "maxpool", "AVERAGE_POOL_2D": "avgpool", "MEAN": "gap", "SOFTMAX": "softmax",
                "ADD": "add", "CONCATENATION": "concat", "RESHAPE": "reshape"}
TFLITE_ELEMENTWISE = {"ADD": 1, "SUB": 1, "MUL": 1, "DIV": 1, "MAXIMUM": 1, "MINIMUM": 1, "SQUARED_DIFFERENCE": 2}
TFLITE_FREE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "QUANTIZE", "DEQUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1",
               "LEAKY_RELU", "LOGISTIC", "TANH", "ELU", "CONCATENATION", "PAD", "PADV2", "TRANSPOSE",
               "STRIDED_SLICE", "SHAPE", "PACK", "UNPACK", "SPLIT", "GATHER", "REDUCE_PROD"}  # the profiler skips
TENSOR_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1}  # TensorType: float32 f16 i32 u8 i64 bool i16 i8


def tflite_cost(path) -> ModelCost:
    """Cost of a .tflite file from its operators and tensor shapes (the flatbuffer, read with TF's own schema).

    MACs and FLOPs follow the profiler's rules applied to TFLite ops (BN is already folded, activations fused);
    params count the constant operands of weighted ops; flash is the file size; activation bytes use each
    tensor's own type (4 bytes an element in a float model).
    """
    model = _read_tflite(path)
    graph, opnames = model.subgraphs[0], _opcode_names(model)
    tensors = graph.tensors
    for index, shape in _runtime_shapes(path, graph).items():
        tensors[index].shape = shape
    const = {i for i, t in enumerate(tensors) if model.buffers[t.buffer].data is not None}
    nodes = []
    for index, op in enumerate(graph.operators):
        ins = [i for i in op.inputs if i >= 0]
        cost = _tflite_op(f"{path}: op {index}", index, opnames[op.opcodeIndex], op, [tensors[i] for i in ins],
                          [i in const for i in ins], tensors[op.outputs[0]])
        nodes.append((cost, tuple(i for i in ins if i not in const), op.outputs[0]))
    inputs = {i: _tensor_bytes(tensors[i]) for i in graph.inputs}
    cost = _model_cost(Path(path).stem, "tflite", nodes, inputs, list(graph.outputs), fuse=False)
    return replace(cost, flash_bytes=Path(path).stat().st_size)


def _tflite_op(where, index, opname, op, ins, is_const, out_tensor) -> LayerCost:
    shapes = [_shape(t) for t in ins]  # with the batch axis
    out_shape, out = _shape(out_tensor)[1:], _prod(_shape(out_tensor))
    macs, flops, params = 0, 0, sum(_prod(s) for s, c in zip(shapes, is_const) if c)
    if opname == "CONV_2D":
        macs = out * _prod(shapes[1][1:])  # filter [out, kh, kw, in]
    elif opname == "DEPTHWISE_CONV_2D":
        macs = out * _prod(shapes[1][1:3])  # filter [1, kh, kw, channels x multiplier]
    elif opname == "FULLY_CONNECTED":
        macs = out * shapes[1][-1]  # weights [units, in]
    elif opname in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        flops = out * op.builtinOptions.filterHeight * op.builtinOptions.filterWidth
    elif opname == "MEAN":
        flops = _prod(shapes[0])
    elif opname == "SOFTMAX":
        flops = 5 * out
    elif opname in TFLITE_ELEMENTWISE:
        flops = TFLITE_ELEMENTWISE[opname] * out
    elif opname not in TFLITE_FREE:
        raise CompressError(f"{where} ({opname}) is not supported by the cost model")
    if macs:
        flops += 2 * macs + (out if len(ins) > 2 else 0)  # + BiasAdd where the op has a bias
    elif opname not in TFLITE_ELEMENTWISE:
        params = 0  # reshape's shape, mean's axes: not parameters
    flash = sum(_tensor_bytes(t) for t, c in zip(ins, is_const) if c)
    kind = TFLITE_KINDS.get(opname, opname.lower())
    return LayerCost(_op_label(index, opname, out_tensor), kind, out_shape, macs, flops, params,
                     _tensor_bytes(out_tensor), flash)


def _op_label(index, opname, tensor) -> str:
    """'3:conv2' from an output tensor named 'model/relu2/Relu;model/conv2/Conv2D'; else '3:conv_2d'."""
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name or "")
    paths = [part.split("/") for part in name.split(";")]
    layers = [p[-2] for p in paths if len(p) >= 2 and not p[-1].startswith("Relu")]
    return f"{index}:{layers[0] if layers else opname.lower()}"


def _runtime_shapes(path, graph) -> dict:
    """Tensor index -> shape, for files whose converter left shapes dynamic (shape_signature -1 past the batch axis,
    e.g. Dense on a 3-D tensor): the flatbuffer then records placeholders, so run the model once on zeros."""
    if not any(t.shapeSignature is not None and min(t.shapeSignature[1:], default=0) < 0 for t in graph.tensors):
        return {}
    import numpy as np
    import tensorflow as tf

    try:
        with warnings.catch_warnings():  # tf.lite.Interpreter's notice that it moves to LiteRT
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_path=str(path), experimental_op_resolver_type=(
                tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except (RuntimeError, ValueError) as exc:
        raise CompressError(f"{path}: has dynamic shapes and the TFLite interpreter cannot run it: {exc}") from None
    return {d["index"]: tuple(int(x) for x in d["shape"]) for d in interpreter.get_tensor_details()
            if d["index"] < len(graph.tensors)}  # the interpreter appends scratch tensors of its own


def _shape(tensor) -> tuple:
    return tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()


def _tensor_bytes(tensor) -> int:
    return _prod(_shape(tensor)) * TENSOR_BYTES.get(tensor.type, 4)


def _read_tflite(path):
    p = Path(path)
    if not p.is_file():
        raise CompressError(f"{path}: no such file")
    data = p.read_bytes()
    if data[4:8] != b"TFL3":
        raise CompressError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier)")
    from tensorflow.lite.tools import flatbuffer_utils

    try:
        model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    except Exception as exc:  # a truncated or corrupt flatbuffer fails anywhere inside the generated reader
        raise CompressError(f"{path}: cannot read the TFLite flatbuffer: {type(exc).__name__}: {exc}") from None
    if not model.subgraphs:
        raise CompressError(f"{path}: the TFLite model has no subgraph")
    return model


def _opcode_names(model) -> list[str]:
    """Operator name per opcode index; newer files keep codes above 127 in builtinCode only."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for code in model.operatorCodes:
        number = max(code.builtinCode, code.deprecatedBuiltinCode)
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        out.append(f"CUSTOM:{custom}" if names.get(number) == "CUSTOM" else names.get(number, str(number)))
    return out
