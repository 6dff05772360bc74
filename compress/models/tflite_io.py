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
from compress.models.tflite_checks import TENSOR_BYTES, _names, _schema, check_model, op_names  # noqa: F401 (theirs)
from compress.models.tflite_checks import check_graph as _check_graph

TFLITE_KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "FULLY_CONNECTED": "dense",
                "MAX_POOL_2D": "maxpool", "AVERAGE_POOL_2D": "avgpool", "MEAN": "gap", "SOFTMAX": "softmax",
                "ADD": "add", "CONCATENATION": "concat", "RESHAPE": "reshape", "UNIDIRECTIONAL_SEQUENCE_LSTM": "lstm"}
TFLITE_ELEMENTWISE = {"ADD": 1, "SUB": 1, "MUL": 1, "DIV": 1, "MAXIMUM": 1, "MINIMUM": 1, "SQUARED_DIFFERENCE": 2}
TFLITE_FREE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "QUANTIZE", "DEQUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1",
               "LEAKY_RELU", "LOGISTIC", "TANH", "ELU", "CONCATENATION", "PAD", "PADV2", "TRANSPOSE",
               "STRIDED_SLICE", "SHAPE", "PACK", "UNPACK", "SPLIT", "GATHER", "REDUCE_PROD"}  # the profiler skips


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
    check_model(model, where)
    for graph in model.subgraphs:
        _check_graph(model, graph, where)
    return model


def read(path):
    p = Path(path)
    if not p.is_file():
        raise CompressError(f"{path}: no such file")
    return parse(p.read_bytes(), str(path))


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
