"""Arduino sketch for TensorFlow Lite Micro from an int8 .tflite: exact op resolver, measured arena, self-test image."""
from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from compress import CompressError, __version__
from compress import export


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
ARENA_ALIGN = 16
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


# --- the tflite-micro runtime on the host -------------------------------------------------------------

# TFLM crashes the process (not a Python error) when the arena cannot even hold its own bookkeeping, so the
# probes run in a child process that answers 1/0 per arena size and is restarted after a crash.
_PROBE = r"""
import sys
from tflite_micro.python.tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    try:
        runtime.Interpreter.from_bytes(model, arena_size=int(line))
        ok = 1
    except RuntimeError:
        ok = 0
    print(ok, flush=True)
"""


class _Prober:
    """Asks a child tflite-micro runtime whether AllocateTensors() succeeds with a given arena size."""

    def __init__(self, tflite_bytes: bytes):
        self._dir = tempfile.TemporaryDirectory(prefix="compress-arena-")
        self._model = Path(self._dir.name) / "model.tflite"
        self._model.write_bytes(tflite_bytes)
        self._log = open(Path(self._dir.name) / "stderr.txt", "w+")
        self._proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stop()
        self._log.close()
        self._dir.cleanup()

    def _stop(self):
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None

    def __call__(self, arena_bytes: int) -> bool:
        if self._proc is None:
            self._proc = subprocess.Popen([sys.executable, "-c", _PROBE, str(self._model)], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=self._log, text=True)
        try:
            self._proc.stdin.write(f"{arena_bytes}\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline().strip()
        except BrokenPipeError:
            answer = ""
        if answer not in ("0", "1"):  # the child died: TFLM overran a too-small arena
            self._proc.stdout.close()
            self._proc.wait()
            self._proc = None
            return False
        return answer == "1"

    def stderr_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-300:].strip()


def arena_allocates(tflite_bytes: bytes, arena_bytes: int) -> bool:
    """Whether the tflite-micro runtime can allocate the model's tensors in arena_bytes."""
    with _Prober(tflite_bytes) as allocates:
        return allocates(arena_bytes)


def measure_arena_bytes(tflite_bytes: bytes, *, limit_bytes: int = 64 << 20) -> int:
    """Smallest arena (a multiple of 16 bytes) for which AllocateTensors() succeeds, by doubling then bisection."""
    with _Prober(tflite_bytes) as allocates:
        fail, ok = 0, 4096
        while not allocates(ok):
            if ok >= limit_bytes:
                raise CompressError(f"the tflite-micro runtime cannot allocate this model even in {limit_bytes:,} "
                                    f"bytes: {allocates.stderr_tail() or 'no message'}")
            fail, ok = ok, ok * 2
        while ok - fail > ARENA_ALIGN:
            mid = (fail + ok) // 2 // ARENA_ALIGN * ARENA_ALIGN
            fail, ok = (fail, mid) if allocates(mid) else (mid, ok)
        return ok


def arena_with_margin(measured_bytes: int) -> int:
    margin = max(ARENA_MARGIN_MIN_BYTES, math.ceil(measured_bytes * ARENA_MARGIN_FRACTION))
    return -(-(measured_bytes + margin) // ARENA_ALIGN) * ARENA_ALIGN


def run_tflm(tflite_bytes: bytes, x_int8: np.ndarray, *, arena_bytes: int = 64 << 20) -> np.ndarray:
    """Raw int8 outputs of the tflite-micro interpreter (the real TFLM kernels), one image at a time."""
    from tflite_micro.python.tflite_micro import runtime

    try:
        interpreter = runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=arena_bytes)
    except RuntimeError as exc:
        raise CompressError(f"the tflite-micro runtime cannot load this model: {exc}") from None
    shape = interpreter.get_input_details(0)["shape"]
    x = np.asarray(x_int8)
    if x.dtype != np.int8:
        raise CompressError(f"run_tflm takes int8 input, got {x.dtype}")
    rows = []
    for image in x.reshape((-1, *shape[1:])):
        interpreter.set_input(image[None], 0)
        interpreter.invoke()
        rows.append(np.array(interpreter.get_output(0)).reshape(-1))
    return np.stack(rows)


# --- the sketch ----------------------------------------------------------------------------------------

def _template(name: str) -> Template:
    return Template((resources.files("compress") / "templates" / name).read_text())


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
    from compress import devices

    device = devices.get(board.device)
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
    if board not in BOARDS:
        raise CompressError(f"unknown board {board!r}; supported: {', '.join(BOARDS)}")
    profile, tflite_path, out_dir = BOARDS[board], Path(tflite_path), Path(out_dir)
    sketch = out_dir.name
    if not _SKETCH_NAME.match(sketch) or sketch.endswith("."):
        raise CompressError(f"{sketch!r} cannot be an Arduino sketch name (letters, digits, _ . -; at most 63); "
                            "choose another --out folder")
    tflite_bytes = tflite_path.read_bytes()
    info = export.tflite_info(tflite_bytes)
    check_deployable(info)
    classes = int(np.prod(info["output"]["shape"][1:]))
    names = list(class_names) if class_names is not None else [f"class{i}" for i in range(classes)]
    if len(names) != classes:
        raise CompressError(f"{len(names)} class names for a model with {classes} outputs")
    image, image_source = _test_image(test_image, info)
    q_scores = run_tflm(tflite_bytes, image)[0]
    predicted = int(np.argmax(q_scores))
    expected = predicted if expected_class is None else int(expected_class)
    if not 0 <= expected < classes:
        raise CompressError(f"expected class {expected} is not one of the model's {classes} classes")
    scores = export.dequantize(q_scores, info["output"]["scale"], info["output"]["zero_point"])
    measured = measure_arena_bytes(tflite_bytes)
    arena = arena_with_margin(measured)
    checks = _checks(profile, len(tflite_bytes), arena)

    fields = _fields(sketch, tflite_path.name, tflite_bytes, info, profile, names, measured, arena, checks,
                     expected_latency_s)
    fields.update(image_bytes=image.size, expected_class=expected, expected_name=names[expected],
                  image_rows=_int_rows(image), image_source=image_source,
                  expected_output=_expected_output(sketch, len(tflite_bytes), classes, arena, names, scores, expected))
    result = {
        "sketch": sketch, "sketch_dir": str(out_dir), "board": board, "model_file": tflite_path.name,
        "model_bytes": len(tflite_bytes), "sha256": fields["sha256"], "ops": info["ops"],
        "resolver_size": len(info["ops"]), "arena_measured_bytes": measured, "arena_bytes": arena,
        "arena_margin_bytes": arena - measured, "input": info["input"], "output": info["output"],
        "class_names": names, "expected_class": expected, "tflm_predicted_class": predicted,
        "tflm_scores": [float(s) for s in scores], "self_test_passed": predicted == expected,
        "expected_latency_s": expected_latency_s, "checks": checks,
        "passed": all(c["passed"] for c in checks), "files": [],
    }
    files = {
        f"{sketch}.ino": _template("sketch.ino.tmpl").substitute(fields),
        "tflm_platform.cpp": _template("tflm_platform.cpp.tmpl").substitute(fields),
        "test_image.h": _template("test_image.h.tmpl").substitute(fields),
        "README.md": _template("README.md.tmpl").substitute(fields),
    }
    files["model_data.h"], files["model_data.cpp"] = export.c_arrays(tflite_bytes, sketch, header="model_data.h")
    result["files"] = sorted([*files, "firmware.json"])
    files["firmware.json"] = json.dumps({k: v for k, v in result.items() if k != "sketch_dir"}, indent=1) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_text(text, newline="\n")
    return result


def _fields(sketch, model_file, tflite_bytes, info, profile: Board, names, measured, arena, checks,
            expected_latency_s) -> dict:
    """Template fields shared by the .ino, tflm_platform.cpp, test_image.h and README.md."""
    inp, out = info["input"], info["output"]
    sha = hashlib.sha256(tflite_bytes).hexdigest()
    latency = ("not estimated here (the run's report has the estimate)" if expected_latency_s is None else
               f"about {expected_latency_s:.3g} s per inference (estimate from the cost model, not measured)")
    return dict(
        sketch=sketch, model_file=model_file, version=__version__, board_title=profile.title, baud=profile.baud,
        model_bytes=len(tflite_bytes), sha256=sha, sha256_short=sha[:16], array_name=export.c_array_name(sketch),
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


def _estimated_latency_s(tflite_path: Path, board: str) -> float | None:
    """The cost model's latency for this model on the board's device (seed 001's FLOP/s figure)."""
    from compress import cost, devices

    if board not in BOARDS:
        return None
    return devices.latency_s(cost.tflite_cost(tflite_path), devices.get(BOARDS[board].device))


def firmware_command(args) -> int:
    """`compress firmware MODEL.tflite`: the CLI's handler. Test image from test_input.npz beside MODEL."""
    path = Path(args.model)
    if path.suffix != ".tflite":
        raise CompressError(f"{path}: expected an int8 .tflite (make one with `python -m compress export`)")
    if not path.exists():
        raise CompressError(f"{path}: no such file")
    out = Path(args.out) if args.out else Path("firmware") / f"{export.c_identifier(path.stem)}_{args.board}"
    image = expected = names = None
    sample = path.parent / export.TEST_INPUT_FILE
    if sample.exists():
        with np.load(sample) as npz:
            image, expected = npz["x"], int(npz["label"])
            names = [str(n) for n in npz["class_names"]] if "class_names" in npz.files else None
    report = path.parent / export.REPORT_FILE
    if names is None and report.exists():
        names = json.loads(report.read_text()).get("class_names")
    result = generate_sketch(path, out, board=args.board, test_image=image, expected_class=expected,
                             class_names=names, expected_latency_s=_estimated_latency_s(path, args.board))
    print(summary_text(result))
    return 0 if result["passed"] and result["self_test_passed"] else 1
