"""Arduino sketch for TensorFlow Lite Micro from an int8 .tflite: exact op resolver, measured arena, self-test image."""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from compress import CompressError, __version__
from compress.deploy import c_arrays, export
from compress.deploy.tflm import ARENA_ALIGN, measure_arena_bytes, run_tflm
from compress.devices import profiles
from compress.models.tflite_io import tflite_info


@dataclass(frozen=True)
class Board:
    title: str
    device: str  # compress.devices profile: flash and RAM limits, runtime allowances
    fqbns: tuple[tuple[str, str], ...]  # (board, FQBN), the default first
    baud: int = 115200


# FQBNs: the board ids of the SparkFun Arduino_Apollo3 core v2.x boards.txt (vendor SparkFun, architecture apollo3).
BOARDS = {
    "apollo3": Board(
        title="SparkFun Apollo3 (Edge, Artemis)", device="apollo3",
        fqbns=(("SparkFun Edge", "SparkFun:apollo3:sfe_edge"),
               ("SparkFun Edge 2", "SparkFun:apollo3:sfe_edge2"),
               ("RedBoard Artemis", "SparkFun:apollo3:sfe_artemis"),
               ("RedBoard Artemis Nano", "SparkFun:apollo3:sfe_artemis_nano"),
               ("RedBoard Artemis ATP", "SparkFun:apollo3:sfe_artemis_atp"),
               ("Artemis Thing Plus", "SparkFun:apollo3:sfe_artemis_thing_plus"),
               ("Artemis Module", "SparkFun:apollo3:sfe_artemis_module"),
               ("Artemis Dev Kit", "SparkFun:apollo3:sfe_artemis_dk"))),
}

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
_SKETCH_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")  # Arduino sketch specification


def resolver_method(op: str) -> str:
    """`CONV_2D` -> `AddConv2D`: the MicroMutableOpResolver method that registers a builtin op."""
    if op in _METHOD_EXCEPTIONS:
        return _METHOD_EXCEPTIONS[op]
    return "Add" + "".join(p.upper() if p[0].isdigit() else p.capitalize() for p in op.split("_"))


def resolver_lines(ops: list[str]) -> str:
    return "\n".join(f"  ops_ok &= resolver.{resolver_method(op)}() == kTfLiteOk;" for op in ops)


def check_deployable(info: dict) -> None:
    """CompressError unless the model is full-integer int8 and every op has a TFLM kernel."""
    dtypes = (info["input"]["dtype"], info["output"]["dtype"])
    if dtypes != ("int8", "int8"):
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


# --- the sketch ----------------------------------------------------------------------------------------

def _template(name: str) -> Template:
    return Template((resources.files("compress.deploy") / "templates" / name).read_text())


def _c_string(text: str) -> str:
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in str(text))
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int_rows(values: np.ndarray, per_row: int = 16) -> str:
    flat = [int(v) for v in values.reshape(-1)]
    return "\n".join("  " + ", ".join(f"{v:4d}" for v in flat[i:i + per_row]) + ","
                     for i in range(0, len(flat), per_row))


def _test_image(image, info: dict) -> tuple[np.ndarray, str]:
    """The built-in image as int8 of the model's input size: given int8, quantized float, or real zeros."""
    inp = info["input"]
    size = int(np.prod(inp["shape"][1:]))
    if image is None:
        return np.full(size, inp["zero_point"], dtype=np.int8), "an all-zero image (no test_input.npz was given)"
    image = np.asarray(image)
    if image.size != size:
        raise CompressError(f"test image has {image.size} values; the model's input has {size}")
    if image.dtype == np.int8:
        return image.reshape(-1), "an int8 test image"
    if not np.issubdtype(image.dtype, np.floating):
        raise CompressError(f"test image must be int8 (quantized) or float in [0, 1], not {image.dtype}")
    q = export.quantize(image.reshape(-1).astype(np.float32), inp["scale"], inp["zero_point"])
    return q, "a float test image quantized with the model's input scale and zero point"


def _checks(board: Board, model_bytes: int, arena_bytes: int) -> list[dict]:
    """DESIGN.md's flash and arena targets with the measured figures: model (arena) + runtime allowance <= limit."""
    device = profiles.get(board.device)
    rows = [("flash", "model bytes", model_bytes, device.runtime_flash_bytes, device.flash_bytes),
            ("arena", "tensor arena", arena_bytes, device.runtime_ram_bytes, device.ram_bytes)]
    return [{"target": target, "what": f"{what} + runtime allowance", "measured": figure, "allowance": allowance,
             "figure": figure + allowance, "limit": limit, "unit": "bytes", "passed": figure + allowance <= limit,
             "source": f"compress.devices {device.name!r}"} for target, what, figure, allowance, limit in rows]


def _expected_output(sketch, model_bytes, classes, arena, names, scores, expected) -> str:
    best = int(np.argmax(scores))
    lines = [f"compress sketch {sketch}: {model_bytes}-byte model, {classes} classes, arena {arena} bytes",
             f"arena used: <the arena TFLM really used> of {arena} bytes"]
    lines += [f"score {name}: {score:.4f}" for name, score in zip(names, scores)]
    lines += [f"predicted: {names[best]}  expected: {names[expected]}  {'PASS' if best == expected else 'FAIL'}",
              "latency_us: <measured on the board>"]
    return "\n".join(lines)


def generate_sketch(tflite_path, out_dir, *, board: str = "apollo3", test_image=None, expected_class=None,
                    class_names=None, expected_latency_s: float | None = None) -> dict:
    """Write a complete Arduino sketch for the int8 model into out_dir (named after the folder); return its figures.

    Raises CompressError before writing anything for a float model, an op TFLM lacks, an unknown board or a
    folder name Arduino refuses. A model whose arena exceeds the board's SRAM still gets its sketch, reported
    as FAIL in the returned checks, firmware.json and README.md.
    """
    tflite_path, out_dir = Path(tflite_path), Path(out_dir)
    tflite_bytes, info, names = _validate(tflite_path, out_dir, board, class_names)
    image, image_source = _test_image(test_image, info)
    result = {"sketch": out_dir.name, "sketch_dir": str(out_dir), "board": board, "model_file": tflite_path.name,
              **_measure(tflite_bytes, info, board, names, image, expected_class, expected_latency_s)}
    files = _render(tflite_bytes, info, result, image, image_source)
    _write(out_dir, files, result)
    return result


def _validate(tflite_path: Path, out_dir: Path, board: str, class_names) -> tuple[bytes, dict, list[str]]:
    """The model's bytes, its info and class names, or CompressError before anything is written."""
    if board not in BOARDS:
        raise CompressError(f"unknown board {board!r}; supported: {', '.join(BOARDS)}")
    sketch = out_dir.name
    if not _SKETCH_NAME.match(sketch) or sketch.endswith("."):
        raise CompressError(f"{sketch!r} cannot be an Arduino sketch name (letters, digits, _ . -; at most 63); "
                            "choose another --out folder")
    tflite_bytes = tflite_path.read_bytes()
    info = tflite_info(tflite_bytes, str(tflite_path))
    check_deployable(info)
    classes = int(np.prod(info["output"]["shape"][1:]))
    names = list(class_names) if class_names is not None else [f"class{i}" for i in range(classes)]
    if len(names) != classes:
        raise CompressError(f"{len(names)} class names for a model with {classes} outputs")
    return tflite_bytes, info, names


def _measure(tflite_bytes: bytes, info: dict, board: str, names: list[str], image: np.ndarray, expected_class,
             expected_latency_s) -> dict:
    """Run the built-in test image in the tflite-micro runtime and measure the arena: the sketch's figures."""
    classes = len(names)
    q_scores = run_tflm(tflite_bytes, image)[0]
    predicted = int(np.argmax(q_scores))
    expected = predicted if expected_class is None else int(expected_class)
    if not 0 <= expected < classes:
        raise CompressError(f"expected class {expected} is not one of the model's {classes} classes")
    scores = export.dequantize(q_scores, info["output"]["scale"], info["output"]["zero_point"])
    measured = measure_arena_bytes(tflite_bytes)
    arena = arena_with_margin(measured)
    checks = _checks(BOARDS[board], len(tflite_bytes), arena)
    return {
        "model_bytes": len(tflite_bytes), "sha256": hashlib.sha256(tflite_bytes).hexdigest(), "ops": info["ops"],
        "resolver_size": len(info["ops"]), "arena_measured_bytes": measured, "arena_bytes": arena,
        "arena_margin_bytes": arena - measured, "input": info["input"], "output": info["output"],
        "class_names": names, "expected_class": expected, "tflm_predicted_class": predicted,
        "tflm_scores": [float(s) for s in scores], "self_test_passed": predicted == expected,
        "expected_latency_s": expected_latency_s, "checks": checks, "passed": all(c["passed"] for c in checks),
        "files": [],
    }


def _render(tflite_bytes: bytes, info: dict, result: dict, image: np.ndarray, image_source: str) -> dict[str, str]:
    """The sketch's files as text, by name."""
    sketch, names, expected = result["sketch"], result["class_names"], result["expected_class"]
    fields = _fields(sketch, result["model_file"], tflite_bytes, info, BOARDS[result["board"]], names,
                     result["arena_measured_bytes"], result["arena_bytes"], result["checks"],
                     result["expected_latency_s"])
    fields.update(image_bytes=image.size, expected_class=expected, expected_name=names[expected],
                  image_rows=_int_rows(image), image_source=image_source,
                  expected_output=_expected_output(sketch, len(tflite_bytes), len(names), result["arena_bytes"],
                                                   names, result["tflm_scores"], expected))
    files = {
        f"{sketch}.ino": _template("sketch.ino.tmpl").substitute(fields),
        "tflm_platform.cpp": _template("tflm_platform.cpp.tmpl").substitute(fields),
        "test_image.h": _template("test_image.h.tmpl").substitute(fields),
        "README.md": _template("README.md.tmpl").substitute(fields),
    }
    files["model_data.h"], files["model_data.cpp"] = c_arrays.c_arrays(tflite_bytes, sketch, header="model_data.h")
    return files


def _write(out_dir: Path, files: dict[str, str], result: dict) -> None:
    """The sketch's files and firmware.json (the result without the machine's folder)."""
    result["files"] = sorted([*files, "firmware.json"])
    files["firmware.json"] = json.dumps({k: v for k, v in result.items() if k != "sketch_dir"}, indent=1) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_text(text, newline="\n")


def _fields(sketch, model_file, tflite_bytes, info, profile: Board, names, measured, arena, checks,
            expected_latency_s) -> dict:
    """Template fields shared by the .ino, tflm_platform.cpp, test_image.h and README.md."""
    inp, out = info["input"], info["output"]
    sha = hashlib.sha256(tflite_bytes).hexdigest()
    latency = ("not estimated here (the run's report has the estimate)" if expected_latency_s is None else
               f"about {expected_latency_s:.3g} s per inference (estimate from the cost model, not measured)")
    return dict(
        sketch=sketch, model_file=model_file, version=__version__, board_title=profile.title, baud=profile.baud,
        model_bytes=len(tflite_bytes), sha256=sha, sha256_short=sha[:16], array_name=c_arrays.c_array_name(sketch),
        input_desc="x".join(str(d) for d in inp["shape"][1:]), classes=len(names),
        class_names=", ".join(_c_string(n) for n in names), ops_list=", ".join(info["ops"]),
        op_count=len(info["ops"]), resolver_lines=resolver_lines(info["ops"]),
        arena_bytes=arena, arena_measured=measured, arena_margin=arena - measured,
        margin_rule=f"max({ARENA_MARGIN_MIN_BYTES} bytes, {ARENA_MARGIN_FRACTION:.0%} of the measurement), "
                    f"rounded up to {ARENA_ALIGN} bytes",
        input_scale=f"{inp['scale']:.8g}", input_zero_point=inp["zero_point"],
        output_scale=f"{out['scale']:.8g}", output_zero_point=out["zero_point"],
        output_scale_text=f"{out['scale']:.4g} in score",
        latency_text=latency,
        checks_table="\n".join(f"| {c['target']}: {c['what']} | {c['measured']:,} + {c['allowance']:,} = "
                               f"{c['figure']:,} | {c['limit']:,} | {'PASS' if c['passed'] else 'FAIL'} |"
                               for c in checks),
        fqbn_table="\n".join(f"   | {title} | `{fqbn}` |" for title, fqbn in profile.fqbns),
        fqbn_default=profile.fqbns[0][1], fqbn_edge=profile.fqbns[0][1],
    )


def summary_text(result: dict) -> str:
    lines = [f"sketch {result['sketch_dir']}: {', '.join(result['files'])}",
             f"ops ({result['resolver_size']}): {', '.join(result['ops'])}",
             f"arena {result['arena_bytes']:,} bytes = {result['arena_measured_bytes']:,} measured in tflite-micro "
             f"+ {result['arena_margin_bytes']:,} margin",
             f"built-in test image: expected {result['class_names'][result['expected_class']]}, tflite-micro says "
             f"{result['class_names'][result['tflm_predicted_class']]}"
             f" ({'PASS' if result['self_test_passed'] else 'FAIL'})"]
    lines += [f"{c['target']}: {c['what']} {c['measured']:,} + {c['allowance']:,} = {c['figure']:,} of "
              f"{c['limit']:,} {c['unit']}: {'PASS' if c['passed'] else 'FAIL'}" for c in result["checks"]]
    return "\n".join(lines)


