"""The one .tflite reader (ops, tensors, shapes, quantization) and the cost of a .tflite file.

It reads the flatbuffer with tflite-micro's generated schema, so looking into a model never imports TensorFlow.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

from compress import CompressError
from compress.models.formulas import LayerCost, ModelCost, model_cost, prod

TFLITE_KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "FULLY_CONNECTED": "dense",
                "MAX_POOL_2D": "maxpool", "AVERAGE_POOL_2D": "avgpool", "MEAN": "gap", "SOFTMAX": "softmax",
                "ADD": "add", "CONCATENATION": "concat", "RESHAPE": "reshape", "UNIDIRECTIONAL_SEQUENCE_LSTM": "lstm"}
TFLITE_ELEMENTWISE = {"ADD": 1, "SUB": 1, "MUL": 1, "DIV": 1, "MAXIMUM": 1, "MINIMUM": 1, "SQUARED_DIFFERENCE": 2}
TFLITE_FREE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "QUANTIZE", "DEQUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1",
               "LEAKY_RELU", "LOGISTIC", "TANH", "ELU", "CONCATENATION", "PAD", "PADV2", "TRANSPOSE",
               "STRIDED_SLICE", "SHAPE", "PACK", "UNPACK", "SPLIT", "GATHER", "REDUCE_PROD"}  # the profiler skips
MAX_RANK = 8
MAX_TENSOR_ELEMENTS = 1 << 27  # 134 M elements: far above any microcontroller model, far below a fuzzed dimension
TENSOR_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1}  # TensorType: float32 f16 i32 u8 i64 bool i16 i8


def tflite_cost(path) -> ModelCost:
    """Cost of a .tflite file from its operators and tensor shapes (read with parse below).

    MACs and FLOPs follow the profiler's rules applied to TFLite ops (BN is already folded, activations fused);
    params count the constant operands of weighted ops; flash is the file size; activation bytes use each
    tensor's own type (4 bytes an element in a float model).
    """
    model = read(path)
    graph, opnames = model.subgraphs[0], op_names(model)
    tensors = graph.tensors
    for index, shape in _runtime_shapes(path, graph).items():
        tensors[index].shape = shape
    const = {i for i, t in enumerate(tensors) if model.buffers[t.buffer].data is not None}
    nodes = []
    for index, op in enumerate(graph.operators):
        ins = [i for i in op.inputs if i >= 0]
        cost = _tflite_op(f"{path}: op {index}", index, opnames[op.opcodeIndex], op, [tensors[i] for i in ins],
                          [i in const for i in ins], tensors[op.outputs[0]])
        state = {i for i in ins if tensors[i].isVariable}  # an LSTM's state: kept by the op itself, not an operand
        nodes.append((cost, tuple(i for i in ins if i not in const | state), op.outputs[0]))
    inputs = {i: _tensor_bytes(tensors[i]) for i in graph.inputs}
    cost = model_cost(Path(path).stem, "tflite", nodes, inputs, list(graph.outputs), fuse=False)
    return replace(cost, flash_bytes=Path(path).stat().st_size)


def _tflite_op(where, index, opname, op, ins, is_const, out_tensor) -> LayerCost:
    shapes = [_shape(t) for t in ins]  # with the batch axis
    out_shape, out = _shape(out_tensor)[1:], prod(_shape(out_tensor))
    macs, flops, params = 0, 0, sum(prod(s) for s, c in zip(shapes, is_const) if c)
    if opname == "CONV_2D":
        macs = out * prod(shapes[1][1:])  # filter [out, kh, kw, in]
    elif opname == "DEPTHWISE_CONV_2D":
        macs = out * prod(shapes[1][1:3])  # filter [1, kh, kw, channels x multiplier]
    elif opname == "FULLY_CONNECTED":
        macs = out * shapes[1][-1]  # weights [units, in]
    elif opname == "UNIDIRECTIONAL_SEQUENCE_LSTM":  # per step, the gates' weights [units, in] and [units, units]
        from compress.models.temporal import LSTM_EXTRA_FLOPS_PER_UNIT

        steps, units = shapes[0][1], _shape(out_tensor)[-1]
        macs = steps * sum(prod(s) for s, c in zip(shapes, is_const) if c and len(s) == 2)
        flops = steps * LSTM_EXTRA_FLOPS_PER_UNIT * units  # as temporal.lstm_cost: the profiler's unrolled count
    elif opname in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        flops = out * op.builtinOptions.filterHeight * op.builtinOptions.filterWidth
    elif opname == "MEAN":
        flops = prod(shapes[0])
    elif opname == "SOFTMAX":
        flops = 5 * out
    elif opname in TFLITE_ELEMENTWISE:
        flops = TFLITE_ELEMENTWISE[opname] * out
    elif opname not in TFLITE_FREE:
        raise CompressError(f"{where} ({opname}) is not supported by the cost model")
    if macs and opname == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        flops += 2 * macs
    elif macs:
        flops += 2 * macs + (out if len(ins) > 2 else 0)  # + BiasAdd where the op has a bias
    elif opname not in TFLITE_ELEMENTWISE:
        params = 0  # reshape's shape, mean's axes: not parameters
    flash = sum(_tensor_bytes(t) for t, c in zip(ins, is_const) if c)
    kind = TFLITE_KINDS.get(opname, opname.lower())
    return LayerCost(_op_label(index, opname, out_tensor), kind, out_shape, macs, flops, params,
                     _tensor_bytes(out_tensor), flash)


def _op_label(index, opname, tensor) -> str:
    """'3:conv2' from an output tensor named 'model/relu2/Relu;model/conv2/Conv2D'; else '3:conv_2d'."""
    name = tensor.name.decode(errors="replace") if isinstance(tensor.name, bytes) else str(tensor.name or "")
    paths = [part.split("/") for part in name.split(";")]
    layers = [p[-2] for p in paths if len(p) >= 2 and not p[-1].startswith("Relu")]
    return f"{index}:{layers[0] if layers else opname.lower()}"


def _runtime_shapes(path, graph) -> dict:
    """Tensor index -> shape, for files whose converter left shapes dynamic (shape_signature -1 past the batch axis,
    e.g. Dense on a 3-D tensor): the flatbuffer then records placeholders, so run the model once on zeros, in the
    TFLite interpreter in a child process (a corrupt file must not crash this one)."""
    if not any(t.shapeSignature is not None and min(t.shapeSignature[1:], default=0) < 0 for t in graph.tensors):
        return {}
    from compress.models import isolated

    shapes = isolated.call("compress.models.tflite_io:interpreter_shapes", (str(path),), where=str(path),
                           what="the TFLite interpreter", hint="is it a valid TFLite model?")
    return {i: shape for i, shape in shapes.items() if i < len(graph.tensors)}  # the interpreter adds scratch ones


def interpreter_shapes(path: str) -> dict:
    """_runtime_shapes' child side: every tensor's shape after one run of the TFLite interpreter on zeros."""
    import numpy as np
    import tensorflow as tf

    try:
        with warnings.catch_warnings():  # tf.lite.Interpreter's notice that it moves to LiteRT
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_path=path, experimental_op_resolver_type=(
                tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except (RuntimeError, ValueError) as exc:
        raise CompressError(f"{path}: has dynamic shapes and the TFLite interpreter cannot run it: {exc}") from None
    return {d["index"]: tuple(int(x) for x in d["shape"]) for d in interpreter.get_tensor_details()}


def _shape(tensor) -> tuple:
    return tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()


def _tensor_bytes(tensor) -> int:
    return prod(_shape(tensor)) * TENSOR_BYTES.get(tensor.type, 4)


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def parse(data: bytes, where: str = "model"):
    """The flatbuffer as the schema's object tree (ModelT); CompressError for anything that is not one."""
    if bytes(data[4:8]) != b"TFL3":
        raise CompressError(f"{where}: not a TFLite model (no TFL3 flatbuffer identifier)")
    schema = _schema()
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(data), 0))
    except Exception as exc:  # a truncated or corrupt flatbuffer fails anywhere inside the generated reader
        raise CompressError(f"{where}: cannot read the TFLite flatbuffer (truncated or corrupt: "
                            f"{type(exc).__name__}: {str(exc)[:80]})") from None
    if not model.subgraphs:
        raise CompressError(f"{where}: the TFLite model has no subgraph")
    for graph in model.subgraphs:
        _check_graph(model, graph, where)
    return model


def _check_graph(model, graph, where: str) -> None:
    """Every index and size the readers here, TFLM and the firmware trust, checked first: a corrupt file is then
    one line, not an IndexError, a crash or an array of 28 GiB (a fuzzed dimension)."""
    tensors, buffers = graph.tensors or [], model.buffers or []
    # an op's intermediates (the int8 LSTM's) may have no elements: they carry quantization parameters, never data
    scratch = {i for op in graph.operators or [] for i in (op.intermediates if op.intermediates is not None else [])}
    for i, t in enumerate(tensors):
        _check_tensor(i, t, buffers, where, empty_ok=i in scratch)
    ends = [list(getattr(graph, name) if getattr(graph, name) is not None else []) for name in ("inputs", "outputs")]
    if not all(ends) or not all(0 <= i < len(tensors) for i in ends[0] + ends[1]):
        raise CompressError(f"{where}: corrupt TFLite model: graph inputs {ends[0]} / outputs {ends[1]} are not "
                            f"tensors (it has {len(tensors)})")
    constant = {i for i, t in enumerate(tensors) if t.isVariable or (buffers and buffers[t.buffer].data is not None)}
    written = set(ends[0]) | constant  # what an op may read: graph inputs, constants, earlier ops' outputs
    for index, op in enumerate(graph.operators or []):
        ins = list(op.inputs if op.inputs is not None else [])
        outs = list(op.outputs if op.outputs is not None else [])
        if not (0 <= op.opcodeIndex < len(model.operatorCodes or [])) or not outs \
                or not all(-1 <= i < len(tensors) for i in ins) or not all(0 <= i < len(tensors) for i in outs):
            raise CompressError(f"{where}: corrupt TFLite model: op {index} names an operator or tensor it does "
                                "not have")
        if not all(i in written for i in ins if i >= 0):
            raise CompressError(f"{where}: corrupt TFLite model: op {index} reads a tensor no earlier op writes")
        written.update(outs)
        _check_op(index, op, op_names(model)[op.opcodeIndex], ins, tensors, where)
        _check_options(index, op, op_names(model)[op.opcodeIndex], where)
    if not all(i in written for i in ends[1]):
        raise CompressError(f"{where}: corrupt TFLite model: a graph output is never written")


def _check_tensor(i: int, t, buffers: list, where: str, empty_ok: bool = False) -> None:
    shape = [] if t.shape is None else [int(d) for d in t.shape]
    if len(shape) > MAX_RANK or min(shape, default=1) < (0 if empty_ok else 1) or prod(shape) > MAX_TENSOR_ELEMENTS:
        raise CompressError(f"{where}: corrupt TFLite model: tensor {i} has shape {shape}")
    signature = [] if t.shapeSignature is None else [int(d) for d in t.shapeSignature]
    if signature and (len(signature) != len(shape) or any(s not in (d, -1) for s, d in zip(signature, shape))):
        raise CompressError(f"{where}: corrupt TFLite model: tensor {i} has shape {shape} but signature {signature}")
    if not 0 <= t.buffer < max(len(buffers), 1):
        raise CompressError(f"{where}: corrupt TFLite model: tensor {i} names buffer {t.buffer} of {len(buffers)}")
    data = buffers[t.buffer].data if buffers else None
    if data is not None and t.type in TENSOR_BYTES and len(data) != prod(shape) * TENSOR_BYTES[t.type]:
        raise CompressError(f"{where}: corrupt TFLite model: tensor {i} of shape {shape} has {len(data)} bytes")
    _check_quantization(i, t, shape, where)


def _check_quantization(i: int, t, shape: list, where: str) -> None:
    """Scales finite, zero points in their type's range, one of each per channel along a dimension the tensor
    has (TFLM indexes the shape with quantized_dimension: a fuzzed one made it crash)."""
    q = t.quantization
    scales = [] if q is None or q.scale is None else [float(v) for v in q.scale]
    zeros = [] if q is None or q.zeroPoint is None else [int(v) for v in q.zeroPoint]
    limit = 255 if t.type in (3, 9) else 1 << 31  # uint8 and int8: one byte; wider types: int32
    per_channel = len(scales) > 1 or len(zeros) > 1
    ok = all(math.isfinite(v) and v >= 0 for v in scales) and all(abs(z) <= limit for z in zeros)
    ok = ok and (not zeros or not scales or len(zeros) == len(scales))
    ok = ok and (not per_channel or (0 <= q.quantizedDimension < len(shape)
                                     and shape[q.quantizedDimension] == max(len(scales), len(zeros))))
    if not ok:
        raise CompressError(f"{where}: corrupt TFLite model: tensor {i} has impossible quantization (scales "
                            f"{scales[:3]}, zero points {zeros[:3]}, dimension {q.quantizedDimension})")


# operator -> (inputs that must be tensors, the rank of input 1, option fields read); what the readers rely on
_OP_NEEDS = {"CONV_2D": (2, 4, ("strideW", "strideH", "padding")),
             "DEPTHWISE_CONV_2D": (2, 4, ("strideW", "strideH", "padding")),
             "FULLY_CONNECTED": (2, None, ()),
             "MAX_POOL_2D": (1, None, ("strideW", "padding", "filterWidth", "filterHeight")),
             "AVERAGE_POOL_2D": (1, None, ("strideW", "padding", "filterWidth", "filterHeight"))}


def _check_op(index: int, op, name: str, ins: list, tensors: list, where: str) -> None:
    if name not in _OP_NEEDS:
        return
    inputs, rank, fields = _OP_NEEDS[name]
    ok = len(ins) >= inputs and all(i >= 0 for i in ins[:inputs])
    ok = ok and (rank is None or len(_shape(tensors[ins[1]])) == rank)
    ok = ok and (inputs < 2 or len(_shape(tensors[ins[1]])) >= 1)
    if not ok or not all(hasattr(op.builtinOptions, f) for f in fields):
        raise CompressError(f"{where}: corrupt TFLite model: op {index} ({name}) lacks the inputs or options it needs")


def _check_options(index: int, op, name: str, where: str) -> None:
    """Option values TFLM divides by or asserts on (a softmax beta of 0 made it abort)."""
    options = op.builtinOptions
    numbers = [getattr(options, f) for f in ("strideW", "strideH", "filterWidth", "filterHeight",
                                             "dilationWFactor", "dilationHFactor")
               if hasattr(options, f)]
    beta = getattr(options, "beta", 1.0) if name == "SOFTMAX" else 1.0
    if any(n < 1 for n in numbers) or not (math.isfinite(beta) and beta > 0):
        raise CompressError(f"{where}: corrupt TFLite model: op {index} ({name}) has an impossible option value")


def read(path):
    p = Path(path)
    if not p.is_file():
        raise CompressError(f"{path}: no such file")
    return parse(p.read_bytes(), str(path))


def _names(enum_class) -> dict:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


def op_names(model) -> list[str]:
    """Operator name per opcode index; newer files keep codes above 127 in builtinCode only."""
    names = _names(_schema().BuiltinOperator)
    out = []
    for code in model.operatorCodes or []:
        number = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = names.get(number, f"BUILTIN_{number}")
        if name == "CUSTOM":
            custom = code.customCode or b"?"
            name = f"CUSTOM:{custom.decode(errors='replace') if isinstance(custom, bytes) else custom}"
        out.append(name)
    return out


def tflite_info(tflite_bytes: bytes, where: str = "model") -> dict:
    """Ops (in the model's own order), and input/output dtype, shape, scale and zero point."""
    model = parse(tflite_bytes, where)
    graph, type_names = model.subgraphs[0], _names(_schema().TensorType)

    def tensor(index: int) -> dict:
        t = graph.tensors[index]
        q = t.quantization
        scale = [float(s) for s in (q.scale if q is not None and q.scale is not None else [])]
        zero = [int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else [])]
        return {"dtype": type_names.get(t.type, str(t.type)).lower(), "shape": [int(d) for d in t.shape],
                "scale": scale[0] if scale else None, "zero_point": zero[0] if zero else None}

    return {"ops": op_names(model), "input": tensor(graph.inputs[0]), "output": tensor(graph.outputs[0]),
            "subgraphs": len(model.subgraphs), "bytes": len(tflite_bytes)}
