"""Firmware for TensorFlow Lite Micro from an int8 .tflite: an Arduino sketch (apollo3, nano33ble) or a C++ library
with a CMake project (generic), each with the model's exact op resolver, measured arena, operating threshold and a
self-test input. The files themselves are rendered by compress.deploy.firmware_files.

A multi-task model (one int8 output tensor per task) gets the same files: its self-test prints a line per task
(`arousal: high (0.83)  expected: high  PASS`), each task reading its own output, whatever order the converter gave
the outputs (export.json's `outputs`, else the .tflite's signature).

A single-task model is one task of many (K = 1): the same steps (compress.deploy.firmware_tasks': which output is
which task, the self-test in tflite-micro) with its files and firmware.json in the one-output layout. The rules a
model and a device must meet are compress.deploy.firmware_checks'; the boards compress.devices.profiles' table."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compress import CompressError
from compress.deploy import camera, export, firmware_files, threshold
from compress.deploy.export_report import read_report
from compress.deploy.firmware_checks import check_deployable
from compress.deploy.firmware_tasks import heads_of, measure, self_tests
from compress.deploy.outputs import output_tensors, quantize
from compress.devices import profiles
from compress.devices.profiles import BOARDS, Board  # noqa: F401  (firmware.BOARDS: commands and tests)
from compress.files import staged_folder
from compress.models.tflite_io import tflite_info

# Reached as firmware.<name> by tests (they lived here before firmware_checks): re-exported.
from compress.deploy.firmware_checks import ARENA_MARGIN_MIN_BYTES, TFLM_OPS, arena_with_margin, resolver_method  # noqa: F401


_SKETCH_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")  # Arduino sketch specification


@dataclass(frozen=True)
class SketchConfig:
    """What generate_sketch is asked for besides the model and the folder (each None: found, see there)."""
    board: str = "apollo3"
    device: str | None = None
    test_image: Any = None  # int8 (quantized) or float image; None: real zeros
    expected_class: Any = None  # a class; a multi-task model's {task: class} or one per task in `tasks` order
    class_names: Any = None
    expected_latency_s: float | None = None
    operating_point: dict | None = None
    tasks: Any = None  # a multi-task model's task names in print order
    camera: str | None = None  # a camera the sketch reads frames from (compress.deploy.camera); None: none


# --- generation ------------------------------------------------------------------------------------------

def generate_sketch(tflite_path, out_dir, config: SketchConfig = SketchConfig()) -> dict:
    """Write the board's firmware for the int8 model into out_dir (named after the folder); return its figures.

    device: the profile whose limits are checked (default: the board's). operating_point: how scores become a
    class (threshold.operating_point); default: export.json beside the model when it describes this model, else
    argmax. Raises CompressError before writing anything for a float model, an op TFLM lacks, an unknown board or
    device, or a folder name Arduino refuses. A model whose arena exceeds the device's SRAM still gets its files,
    reported as FAIL in the returned checks, firmware.json and README.md.

    A model with several outputs (multi-task): tasks names them in the order the self-test prints them (default:
    export.json's `tasks`, else the signature's); which output holds which task comes from export.json's
    `outputs`, else the signature's names (softmax_<task>), else the outputs are taken in `tasks` order.
    expected_class: {task: class}, or one class per task in `tasks` order; operating_point: {"rule": "per-task",
    "tasks": {task: point}} (threshold.per_task). A single-task model is the one-task case of the same steps.
    """
    tflite_path, out_dir = Path(tflite_path), Path(out_dir)
    tflite_bytes, info, names, device = _validate(tflite_path, out_dir, config)
    image, image_source = _test_image(config.test_image, info)
    sha = hashlib.sha256(tflite_bytes).hexdigest()
    point = config.operating_point
    point = point if point is not None else operating_point_beside(tflite_path, sha)
    heads = heads_of(tflite_path, tflite_bytes, sha, output_tensors(tflite_bytes, str(tflite_path)), config.tasks,
                     point)
    measured = measure(tflite_bytes, info, device, names, image, heads, config.expected_class,
                       config.expected_latency_s)
    result = {"sketch": out_dir.name, "sketch_dir": str(out_dir), "board": config.board, "device": device,
              "model_file": tflite_path.name, "decision": heads.point, **measured}
    if config.camera:
        result["camera"] = camera.figures(config.camera, info, result)
        result["checks"].append(camera.ram_check(result["camera"], result))
        result["passed"] = all(c["passed"] for c in result["checks"])
    files = firmware_files.render(tflite_bytes, info, result, image, image_source)
    _write(out_dir, files, result)
    return result


def _validate(tflite_path: Path, out_dir: Path, config: SketchConfig) -> tuple:
    """The model's bytes, its info, class names and the device, or CompressError before anything is written.
    Every output of a multi-output model must have as many scores as the first (one list of class names)."""
    board, device, class_names = config.board, config.device, config.class_names
    if board not in BOARDS:
        raise CompressError(f"unknown board {board!r}; supported: {', '.join(BOARDS)}")
    device = device or BOARDS[board].device
    profiles.get(device)
    allowed = BOARDS[board].devices
    if allowed is not None and device not in allowed:
        raise CompressError(f"board {board} is for device {', '.join(allowed)}, not {device}; "
                            f"--board generic serves any Cortex-M device")
    sketch = out_dir.name
    if not _SKETCH_NAME.match(sketch) or sketch.endswith("."):
        raise CompressError(f"{sketch!r} cannot be an Arduino sketch name (letters, digits, _ . -; at most 63); "
                            "choose another --out folder")
    tflite_bytes = tflite_path.read_bytes()
    info = tflite_info(tflite_bytes, str(tflite_path))
    outputs = output_tensors(tflite_bytes, str(tflite_path))
    check_deployable(info, outputs)
    classes = int(np.prod(info["output"]["shape"][1:]))
    sizes = sorted({int(np.prod(t["shape"][1:])) for t in outputs})
    if sizes != [classes]:
        raise CompressError(f"the model's outputs have {', '.join(map(str, sizes))} scores; firmware needs the same "
                            "classes on every output")
    if config.camera:
        camera.check(config.camera, board, info, len(outputs))
    names = list(class_names) if class_names is not None else [f"class{i}" for i in range(classes)]
    if len(names) != classes:
        raise CompressError(f"{len(names)} class names for a model with {classes} outputs")
    return tflite_bytes, info, names, device


def operating_point_beside(tflite_path: Path, sha256: str) -> dict:
    """export.json's operating point when that file describes this very model (same sha256); else argmax."""
    report = tflite_path.parent / export.REPORT_FILE
    if not report.is_file():
        return {"rule": "argmax", "why": f"no {export.REPORT_FILE} beside the model"}
    found = read_report(report)
    if not isinstance(found, dict) or found.get("sha256") != sha256:
        return {"rule": "argmax", "why": f"{export.REPORT_FILE} beside the model describes another model"}
    point = found.get("operating_point")
    if not isinstance(point, dict) or point.get("rule") not in ("youden", "argmax", "per-task"):
        return {"rule": "argmax", "why": f"{export.REPORT_FILE} records no operating threshold"}
    return point


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
    q = quantize(image.reshape(-1).astype(np.float32), inp["scale"], inp["zero_point"])
    return q, "a float test image quantized with the model's input scale and zero point"


def _write(out_dir: Path, files: dict[str, str], result: dict) -> None:
    """The firmware's files and firmware.json (the result without the machine's folder): all written in a scratch
    folder beside out_dir first, then renamed in, so a full disk leaves no half sketch (files.staged_folder)."""
    result["files"] = sorted([*files, "firmware.json"])
    files["firmware.json"] = json.dumps({k: v for k, v in result.items() if k != "sketch_dir"}, indent=1) + "\n"
    with staged_folder(out_dir) as scratch:
        for name, text in files.items():
            (scratch / name).write_text(text, encoding="utf-8")


def summary_text(result: dict) -> str:
    """A few lines for the terminal: files, limits, arena, the decision and each task's self-test."""
    what = "library" if BOARDS[result["board"]].kind == "library" else "sketch"
    names, tasks = result["class_names"], result.get("tasks")
    lines = [f"{what} {result['sketch_dir']}: {', '.join(result['files'])}",
             f"board {result['board']}; limits of the {result['device']} device profile",
             f"ops ({result['resolver_size']}): {', '.join(result['ops'])}",
             f"arena {result['arena_bytes']:,} bytes = {result['arena_measured_bytes']:,} measured in tflite-micro "
             f"+ {result['arena_margin_bytes']:,} margin"]
    if tasks:
        lines.append(f"{len(tasks)} outputs, one per task, in this order: {', '.join(result['outputs'])}; "
                     f"tflite-micro {'equals' if result['tflm_matches_tflite'] else 'differs from'} the TFLite "
                     "interpreter on every output")
    lines.append(f"decision: {threshold.describe(result['decision'])}")
    if result.get("camera"):
        lines.append(camera.summary_line(result["camera"]))
    lines += [f"built-in test {f'window, {t}' if tasks else 'image'}: expected {names[e]}, tflite-micro says "
              f"{names[p]} ({'PASS' if e == p else 'FAIL'})" for t, e, p, _ in self_tests(result)]
    lines += [f"{c['target']}: {c['what']} {c['measured']:,} + {c['allowance']:,} = {c['figure']:,} of "
              f"{c['limit']:,} {c['unit']}: {'PASS' if c['passed'] else 'FAIL'}" for c in result["checks"]]
    return "\n".join(lines)
