"""What tflite_io.parse checks before anything trusts a .tflite: every index, size, quantization and option value
the readers here, TFLM and the firmware rely on, and the semantics a converter never writes (no operators, an
unknown schema version, a zero scale on a tensor an op computes, an op writing its own input). A bad file is one
line naming it.
"""
from __future__ import annotations

import math

from compress import CompressError
from compress.models.formulas import prod

SCHEMA_VERSION = 3  # the only version TFLite and TFLite Micro read
MAX_RANK = 8
MAX_TENSOR_ELEMENTS = 1 << 27  # 134 M elements: far above any microcontroller model, far below a fuzzed dimension
TENSOR_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1}  # TensorType: float32 f16 i32 u8 i64 bool i16 i8


def _shape(tensor) -> tuple:
    return tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()


def check_model(model, where: str) -> None:
    """The file as a whole: a schema version TFLite reads, and operators to run (an empty graph 'passes' a
    self-test while computing nothing)."""
    if model.version != SCHEMA_VERSION:
        raise CompressError(f"{where}: unsupported TFLite schema version {model.version} (TFLite reads version "
                            f"{SCHEMA_VERSION} only)")
    if not model.subgraphs[0].operators:
        raise CompressError(f"{where}: the TFLite model has no operators: it computes nothing")


def check_graph(model, graph, where: str) -> None:
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
    side = {i: "graph input " for i in ends[0]} | {i: "graph output " for i in ends[1]}
    for index in sorted(set(range(len(tensors))) - constant):  # activations: a constant's 0 is an all-zero channel
        q = tensors[index].quantization
        if q is not None and q.scale is not None and any(float(v) == 0 for v in q.scale):
            raise CompressError(f"{where}: corrupt TFLite model: {side.get(index, '')}tensor {index} has "
                                "quantization scale 0 (every value would map to the zero point)")
    written = _check_ops(model, graph, set(ends[0]) | constant, where)
    if not all(i in written for i in ends[1]):
        raise CompressError(f"{where}: corrupt TFLite model: a graph output is never written")


def _check_ops(model, graph, written: set, where: str) -> set:
    """Each op's indices, reads (graph inputs, constants, earlier ops' outputs) and writes (a tensor nothing else
    holds: writing its own input or an already-written tensor aliases two values); the tensors written."""
    tensors, names = graph.tensors or [], op_names(model)
    for index, op in enumerate(graph.operators or []):
        ins = list(op.inputs if op.inputs is not None else [])
        outs = list(op.outputs if op.outputs is not None else [])
        if not (0 <= op.opcodeIndex < len(model.operatorCodes or [])) or not outs \
                or not all(-1 <= i < len(tensors) for i in ins) or not all(0 <= i < len(tensors) for i in outs):
            raise CompressError(f"{where}: corrupt TFLite model: op {index} names an operator or tensor it does "
                                "not have")
        if not all(i in written for i in ins if i >= 0):
            raise CompressError(f"{where}: corrupt TFLite model: op {index} reads a tensor no earlier op writes")
        aliased = sorted(set(outs) & set(ins)) or sorted(set(outs) & written)
        if aliased or len(set(outs)) != len(outs):
            what = "its own input" if set(outs) & set(ins) else "a tensor already written"
            raise CompressError(f"{where}: corrupt TFLite model: op {index} writes {what} (tensor "
                                f"{(aliased or outs)[0]}): aliased tensors")
        written.update(outs)
        _check_op(index, op, names[op.opcodeIndex], ins, tensors, where)
        _check_options(index, op, names[op.opcodeIndex], where)
    return written


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


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


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
