"""Latency estimates: seconds per inference of a costed model on a device, from FLOPs, per-op cycle tables, or
instructions per op fitted to TFLite Micro runs on an emulated Cortex-M4 (latency_table.json)."""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from compress import CompressError, files
from compress.config import Targets
from compress.devices.profiles import Device
from compress.models.formulas import FUSED_KINDS  # folded by the converter: no op, no per-op cycles

LATENCY_MODELS = ("flops", "ops", "emulated")

# latency_model="ops": cycles per MAC by kernel library and op kind, plus cycles per FLOP of MAC-free ops (pooling,
# add, softmax) and a fixed cost per op (dispatch, requantisation setup). Sources (DESIGN.md "Apollo3 profile"):
#   reference conv/dwconv 180: person_detection on STM32F413 (M4), 13,005 ms reference vs 386.6 ms CMSIS-NN,
#     ~180 vs ~5.4 cycles/MAC (Samsung/ONE issue #7598); DESIGN.md's range 150-180.
#   reference dense 10: DESIGN.md's range 5-15 (a plain dot-product loop), midpoint.
#   cmsis-nn conv 4, dwconv 9, dense 3: midpoints of DESIGN.md's ranges 3-5, 6-12, 2-4; consistent with MLPerf
#     Tiny v0.5 TFLM + CMSIS-NN on Cortex-M4F, 4.6-9.6 cycles/MAC over whole models; SMLAD floor is 0.5.
#   other, per_op: guesses (a loop of loads/compares per element; "a few thousand cycles per op").
# Uncalibrated: --calibration FILE replaces any of them with figures measured on a board.
CYCLES = {
    "reference": {"conv": 180.0, "dwconv": 180.0, "dense": 10.0, "other": 10.0, "per_op": 3000.0},
    "cmsis-nn": {"conv": 4.0, "dwconv": 9.0, "dense": 3.0, "other": 3.0, "per_op": 3000.0},
}
# LayerCost.kind -> CYCLES key; a separable conv is charged at the conv rate (its pointwise part dominates)
OP_KIND = {"conv": "conv", "sepconv": "conv", "dwconv": "dwconv", "dense": "dense"}


# latency_model="emulated": instructions of an op = sum of coefficient x term, per kernel set and op kind, fitted by
# scripts/fit_latency.py to TFLM runs in QEMU (compress.deploy.emulator) and stored in latency_table.json. Terms:
#   ops 1; outputs: output elements; pixels: output positions (H x W); macs; taps: output positions x kernel area
#   (convs, pools: per-position loop work that does not shrink with the channels); columns (conv): macs / output
#   channels = im2col bytes; odd_macs: columns x (output channels mod 4) (CMSIS-NN's matrix kernels take 4 output
#   channels at a time); out_taps (conv): output elements x kernel area; padded_macs, leftover_macs
#   (depthwise): MACs with the channels rounded up to 4, MACs of the channels past a multiple of 4 (CMSIS-NN takes
#   4 channels at a time, the rest one by one); inside_macs: MACs whose input tap lies inside the image ('same'
#   padding: the reference kernels skip the others); inputs (dense: input features; mean: input elements);
#   window (pools): outputs x pool area.
# CMSIS-NN runs a 3x3 depthwise conv (padding <= 1) in a kernel of its own: kind dwconv3.
TERMS = {"conv": ("ops", "outputs", "pixels", "macs", "columns", "odd_macs", "taps", "out_taps", "inside_macs"),
         "pwconv": ("ops", "outputs", "pixels", "macs", "columns", "odd_macs"),
         "dwconv": ("ops", "outputs", "pixels", "macs", "taps", "padded_macs", "leftover_macs", "inside_macs"),
         "dwconv3": ("ops", "outputs", "pixels", "macs", "padded_macs", "leftover_macs", "inside_macs"),
         "dense": ("ops", "outputs", "inputs", "macs"),
         "maxpool": ("ops", "outputs", "pixels", "window", "taps"),
         "avgpool": ("ops", "outputs", "pixels", "window", "taps"),
         "mean": ("ops", "outputs", "inputs"), "add": ("ops", "outputs"), "softmax": ("ops", "outputs"),
         "reshape": ("ops", "outputs")}
# LayerCost kinds with no grid of their own, charged as the measured kind they resemble (elementwise loops)
SIMILAR_KIND = {"flatten": "reshape", "concat": "add", "zeropad": "add", "pad": "add",
                "rescale": "add", "relu": "add", "relu6": "add", "gap": "mean", "gmp": "mean", "mul": "add",
                "sub": "add", "maximum": "add", "minimum": "add", "logistic": "softmax", "tanh": "softmax",
                "quantize": "add", "dequantize": "add"}
DEFAULT_KERNEL = 3  # a conv whose kernel size is unknown (a Keras file): the common case
# Fewest instructions per FLOP of any op measured (CMSIS-NN's large pointwise convs and dense layers: ~1.5-1.9
# instructions per MAC, i.e. ~0.8 per FLOP), rounded down: bounds the FLOPs a latency limit allows.
MIN_CYCLES_PER_FLOP = 0.5


def calibration_schema():
    """What a calibration file may hold: every figure finite, within a range a board can have (rates > 0)."""
    from compress import validate as v

    kinds = tuple(CYCLES["reference"])  # the op kinds a table may replace
    table = v.mapping(v.number(low=0, high=1e7), keys=kinds)  # 0: no per-op overhead
    return v.record(optional_fields={"cycles": v.mapping(table, keys=tuple(CYCLES)),
                                     "flops_per_s": v.number(above=0, high=1e15),
                                     "cycles_per_instruction": v.mapping(v.number(above=0, high=1000),
                                                                         keys=tuple(CYCLES))})


def load_calibration(path) -> dict:
    """A JSON file {"cycles": {"cmsis-nn": {"conv": 3.2, ...}}, "flops_per_s": 0.5e6, "cycles_per_instruction":
    {"cmsis-nn": 1.3}}; every key optional (README "Calibration": how to measure them on a board). One line
    naming the file and the field when a figure is missing its meaning (a list, 0, negative, NaN, nested)."""
    return files.read_json(path, calibration_schema(), what="calibration file")


def latency_s(cost, device: Device, model: str = "flops", kernels: str | None = None,
              calibration: dict | None = None, geometry: dict | None = None) -> float:
    """Estimated seconds per inference: 'flops' = FLOPs / device FLOP/s; 'ops' = per-op cycles / clock;
    'emulated' = instructions from the fitted table x cycles per instruction / clock (geometry: kernel, stride and
    padding by layer name, see spec_geometry and tflite_geometry)."""
    calibration = calibration or {}
    if model == "flops":
        return cost.flops / calibration.get("flops_per_s", device.flops_per_s)
    if model == "emulated":
        library = kernels or "cmsis-nn"
        return instructions(cost, library, geometry) * cycles_per_instruction(device, library, calibration) \
            / device.clock_hz
    if model != "ops":
        raise CompressError(f"unknown latency model {model!r}; choose one of: {', '.join(LATENCY_MODELS)}")
    library = kernels or device.kernels
    if library not in CYCLES:
        raise CompressError(f"unknown kernel library {library!r}; choose one of: {', '.join(CYCLES)}")
    table = CYCLES[library] | calibration.get("cycles", {}).get(library, {})
    cycles = 0.0
    for layer in cost.layers:
        if layer.kind in FUSED_KINDS:
            continue
        kind = OP_KIND.get(layer.kind)
        cycles += table["per_op"] + (layer.macs * table[kind] if kind else layer.flops * table["other"])
    return cycles / device.clock_hz


def latency_limit_s(targets: Targets, device: Device, calibration: dict | None = None) -> float:
    """targets.latency_s, or the time the FLOPs budget takes on the device, so --budget-flops moves both."""
    if targets.latency_s is not None:
        return targets.latency_s
    if targets.budget_flops is None:
        return math.inf
    return targets.budget_flops / (calibration or {}).get("flops_per_s", device.flops_per_s)


def flops_within(limit_s: float, device: Device, model: str = "flops", kernels: str | None = None,
                 calibration: dict | None = None) -> float:
    """An upper bound on the FLOPs of any model that meets a latency limit: the search's FLOPs budget when only a
    latency target bounds it (--budget-flops none). Exact for 'flops'; for the per-op models, at the fewest
    instructions (cycles) per FLOP of any op in the tables, MIN_CYCLES_PER_FLOP."""
    if model == "flops":
        return limit_s * (calibration or {}).get("flops_per_s", device.flops_per_s)
    cpi = cycles_per_instruction(device, kernels or "cmsis-nn", calibration) if model == "emulated" else 1.0
    return limit_s * device.clock_hz / (cpi * MIN_CYCLES_PER_FLOP)


# --- the emulated model -------------------------------------------------------------------------------------------

def cycles_per_instruction(device: Device, kernels: str = "cmsis-nn", calibration: dict | None = None) -> float:
    """Cycles a device spends per emulated instruction: measured on a board (calibration), else the profile's
    figure (1.0 in the shipped ones: QEMU counts instructions; a real Cortex-M4 needs somewhat more cycles for loads,
    multiplies and taken branches)."""
    return float((calibration or {}).get("cycles_per_instruction", {}).get(kernels, device.cycles_per_instruction))


@functools.lru_cache(maxsize=None)
def table() -> dict:
    path = Path(__file__).with_name("latency_table.json")
    if not path.exists():
        raise CompressError(f"{path} is missing: regenerate it with `python scripts/fit_latency.py`")
    return json.loads(path.read_text())


def op_terms(layer, geometry: tuple | None = None) -> list[tuple[str, dict]]:
    """The TFLite ops a costed layer becomes, each as (table kind, terms); [] for a layer the converter folds.

    geometry: (kernel, stride, padding) of a conv or pool, where known; else a 3x3 'same' conv, stride 1."""
    kind, shape = layer.kind, tuple(layer.output_shape)
    if kind in FUSED_KINDS:
        return []
    k, stride, padding = geometry or (DEFAULT_KERNEL, 1, "same")
    outputs = math.prod(shape) if shape else 1
    channels = max(shape[-1] if shape else 1, 1)
    pixels = outputs // channels
    base = {"ops": 1, "outputs": outputs, "pixels": pixels, "macs": layer.macs}
    if kind in ("conv", "dwconv", "sepconv"):
        inside = _inside(shape, k, stride, padding) if len(shape) == 3 else 1.0
    if kind == "conv":
        columns = layer.macs // channels
        odd = {"columns": columns, "odd_macs": columns * (channels % 4)}
        return [("pwconv", base | odd) if k == 1 else ("conv", base | odd | {
            "taps": pixels * k * k, "out_taps": outputs * k * k * inside, "inside_macs": layer.macs * inside})]
    if kind == "dwconv":
        return [_depthwise(pixels, channels, round(math.sqrt(layer.macs / outputs)), inside)]
    if kind == "sepconv":  # depthwise k x k on `mid` channels, then pointwise to `channels`
        mid = round(layer.macs / (pixels * (k * k + channels)))
        pointwise = base | {"macs": pixels * mid * channels, "columns": pixels * mid,
                            "odd_macs": pixels * mid * (channels % 4)}
        return [_depthwise(pixels, mid, k, inside), ("pwconv", pointwise)]
    if kind == "dense":
        return [("dense", base | {"inputs": layer.macs // outputs})]
    if kind in ("maxpool", "avgpool"):
        return [(kind, base | {"window": layer.flops, "taps": layer.flops // channels})]
    kind = SIMILAR_KIND.get(kind, kind if kind in TERMS else "add")
    return [(kind, base | {"inputs": layer.flops or outputs})]


def _inside(shape: tuple, k: int, stride: int, padding: str) -> float:
    """The share of a conv's kernel taps that fall inside the image (reference kernels skip the others)."""
    if padding != "same" or k == 1:
        return 1.0
    fractions = []
    for out in shape[:2]:
        size = out * stride  # 'same': out = ceil(in / stride)
        pad = max((out - 1) * stride + k - size, 0) // 2
        inside = sum(min(size, i * stride - pad + k) - max(0, i * stride - pad) for i in range(out))
        fractions.append(inside / (out * k))
    return fractions[0] * fractions[1]


def _depthwise(pixels: int, channels: int, k: int, inside: float = 1.0) -> tuple[str, dict]:
    macs = pixels * channels * k * k
    return ("dwconv3" if k == 3 else "dwconv", {
        "ops": 1, "outputs": pixels * channels, "pixels": pixels, "macs": macs, "taps": pixels * k * k,
        "padded_macs": pixels * 4 * math.ceil(channels / 4) * k * k, "leftover_macs": pixels * (channels % 4) * k * k,
        "inside_macs": macs * inside})


def op_instructions(kind: str, terms: dict, kernels: str = "cmsis-nn") -> float:
    entry = table()["kernels"][kernels].get(kind) or table()["kernels"][kernels]["add"]
    return sum(c * terms.get(name, 0) for name, c in entry["coefficients"].items())


def instructions(cost, kernels: str = "cmsis-nn", geometry: dict | None = None) -> float:
    """Instructions per inference the fitted table predicts for a costed model (sum over its ops)."""
    if kernels not in table()["kernels"]:
        raise CompressError(f"unknown kernel set {kernels!r}; choose one of: {', '.join(table()['kernels'])}")
    geometry = geometry or {}
    ops = [op for layer in cost.layers for op in op_terms(layer, geometry.get(layer.name))]
    return sum(op_instructions(kind, terms, kernels) for kind, terms in ops) + \
        len(ops) * table()["kernels"][kernels]["between_ops"]


def spec_geometry(spec) -> dict:
    """(kernel, stride, padding) by layer name (LayerCost names) for a ModelSpec's convs and pools."""
    found = {}
    for layer in spec.layers:
        found[layer.name] = (layer.kernel, layer.stride, layer.padding)
        if layer.kind == "residual":  # as cost._residual costs it
            found |= {f"{layer.name}_conv1": (layer.kernel, layer.stride, "same"),
                      f"{layer.name}_conv2": (layer.kernel, 1, "same"), f"{layer.name}_proj": (1, layer.stride, "same")}
    return found


def tflite_geometry(path) -> dict:
    """(kernel, stride, padding) by layer name (tflite_cost's names) for the convs and pools of a .tflite."""
    from compress.models.tflite_io import op_names, read, tflite_cost

    model = read(path)
    graph, names = model.subgraphs[0], op_names(model)
    found = {}
    for layer, op in zip(tflite_cost(path).layers, graph.operators):
        options, name = op.builtinOptions, names[op.opcodeIndex]
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            k = int(graph.tensors[op.inputs[1]].shape[2])  # filter [out, kh, kw, in] or [1, kh, kw, channels]
        elif name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            k = int(options.filterWidth)
        else:
            continue
        found[layer.name] = (k, int(options.strideW), "same" if options.padding == 0 else "valid")  # Padding.SAME
    return found


def per_kernel_set(cost, device: Device, calibration: dict | None = None, geometry: dict | None = None) -> dict:
    """Seconds per inference with each kernel set of the emulated table."""
    return {k: latency_s(cost, device, "emulated", k, calibration, geometry) for k in table()["kernels"]}


def geometry_of(source: str, input_shape=None, classes: int | None = None) -> dict | None:
    """The geometry of the CLI's MODEL: a .tflite's, a zoo name's or spec file's; None for a Keras or ONNX file."""
    suffix = Path(source).suffix.lower()
    if suffix == ".tflite":
        return tflite_geometry(source)
    if suffix in (".keras", ".h5", ".hdf5", ".onnx"):
        return None
    from compress.models import zoo

    return spec_geometry(zoo.load_spec(source, input_shape, classes))
