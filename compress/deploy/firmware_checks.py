"""What firmware asks of a model and a device: full-integer int8, a TFLM kernel for every op (and the resolver call
that registers it), a tensor arena with a margin, and the device's flash and RAM limits.

Apart from compress.deploy.firmware (which generates the files) so that the renderer, the emulator and the
multi-task measurement apply the same rules without importing the generator."""
from __future__ import annotations

import hashlib

import math

from compress import CompressError
from compress.deploy.tflm import ARENA_ALIGN
from compress.devices import profiles

# Builtin ops that TFLM's MicroMutableOpResolver can register (tflite-micro micro_mutable_op_resolver.h;
# each has a kernel in the tflite-micro runtime used here). The method is the CamelCase name, except below.
TFLM_OPS = frozenset("""
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND BROADCAST_ARGS
BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE
DIV ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND
GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND
LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK
PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND
SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE
TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
""".split())
_METHOD_EXCEPTIONS = {"BATCH_MATMUL": "AddBatchMatMul", "CUMSUM": "AddCumSum", "PADV2": "AddPadV2",
                      "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM"}

# Tensor arena = measured + max(2 KiB, 20 %), rounded up to 16 bytes. The measurement runs on a 64-bit host with
# reference kernels; on the board pointers are half as wide (fewer bytes) but CMSIS-NN kernels ask for
# scratch buffers (im2col, a few hundred bytes for small convs), and TFLM versions differ in bookkeeping.
ARENA_MARGIN_FRACTION = 0.20
ARENA_MARGIN_MIN_BYTES = 2048


def resolver_method(op: str) -> str:
    """`CONV_2D` -> `AddConv2D`: the MicroMutableOpResolver method that registers a builtin op."""
    if op in _METHOD_EXCEPTIONS:
        return _METHOD_EXCEPTIONS[op]
    return "Add" + "".join(p.upper() if p[0].isdigit() else p.capitalize() for p in op.split("_"))


def resolver_lines(ops: list[str]) -> str:
    return "\n".join(f"  ops_ok &= resolver.{resolver_method(op)}() == kTfLiteOk;" for op in ops)


def check_deployable(info: dict, outputs: list[dict] | None = None) -> None:
    """CompressError unless the model is full-integer int8 and every op has a TFLM kernel. outputs: every output
    tensor (outputs.output_tensors) of a multi-output model, each of which must be int8 too."""
    dtypes = (info["input"]["dtype"], info["output"]["dtype"])
    others = sorted({t["dtype"] for t in outputs or []} - {"int8"})
    if dtypes != ("int8", "int8") or others:
        dtypes = (dtypes[0], "/".join([dtypes[1], *others]) if others else dtypes[1])
        raise CompressError(f"the model's input/output are {dtypes[0]}/{dtypes[1]}: firmware needs a full-integer "
                            "int8 model; make one with `python -m compress export MODEL.keras`")
    missing = [op for op in info["ops"] if op not in TFLM_OPS]
    if missing:
        raise CompressError(f"TensorFlow Lite Micro has no kernel for {', '.join(missing)}; change the model so "
                            "that it uses only ops TFLM supports")
    if info["subgraphs"] != 1:
        raise CompressError(f"the model has {info['subgraphs']} subgraphs; the sketch supports one")


def arena_with_margin(measured_bytes: int) -> int:
    margin = max(ARENA_MARGIN_MIN_BYTES, math.ceil(measured_bytes * ARENA_MARGIN_FRACTION))
    return -(-(measured_bytes + margin) // ARENA_ALIGN) * ARENA_ALIGN


def device_checks(device_name: str, model_bytes: int, arena_bytes: int) -> list[dict]:
    """DESIGN.md's flash and arena targets with the measured figures: model (arena) + runtime allowance <= limit."""
    device = profiles.get(device_name)
    rows = [("flash", "model bytes", model_bytes, device.runtime_flash_bytes, device.flash_bytes),
            ("arena", "tensor arena", arena_bytes, device.runtime_ram_bytes, device.ram_bytes)]
    return [{"target": target, "what": f"{what} + runtime allowance", "measured": figure, "allowance": allowance,
             "figure": figure + allowance, "limit": limit, "unit": "bytes", "passed": figure + allowance <= limit,
             "source": f"compress.devices {device.name!r}"} for target, what, figure, allowance, limit in rows]


def measured_figures(tflite_bytes: bytes, info: dict, device: str) -> tuple[dict, list[dict]]:
    """(what every sketch's firmware.json opens with: size, ops, the arena measured in tflite-micro and the margin
    added to it, input and output; the device's flash and arena checks on those figures)."""
    from compress.deploy.tflm import measure_arena_bytes

    measured = measure_arena_bytes(tflite_bytes)
    arena = arena_with_margin(measured)
    head = {"model_bytes": len(tflite_bytes), "sha256": hashlib.sha256(tflite_bytes).hexdigest(), "ops": info["ops"],
            "resolver_size": len(info["ops"]), "arena_measured_bytes": measured, "arena_bytes": arena,
            "arena_margin_bytes": arena - measured, "input": info["input"], "output": info["output"]}
    return head, device_checks(device, len(tflite_bytes), arena)


def verdict(checks: list[dict], expected_latency_s) -> dict:
    """What every sketch's firmware.json closes with: the checks and whether all passed."""
    return {"expected_latency_s": expected_latency_s, "checks": checks, "passed": all(c["passed"] for c in checks),
            "files": []}
