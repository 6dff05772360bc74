"""A camera sketch in QEMU, checked frame by frame against the host: test images from the data's test split are
placed in camera-sized frames and compiled in (runner/camera: a stand-in for the camera library whose capture()
returns them in turn, and an LED that prints every write); the sketch runs one loop() per frame, and each frame's
LED must be what the TFLite interpreter decides on the host for the same scaled input with the same threshold."""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.config import DataConfig, read_run_config
from compress.deploy import camera, export, tflm_build
from compress.deploy.emulator import qemu
from compress.deploy.sketch_emulator import SKETCH_TIMEOUT_S, build_sketch

FRAMES = 8  # test images fed to the emulated camera: half of the LED's class, half not, alternating
_FRAME = re.compile(r"^frame (\d+): (.*?)  score ([-+0-9.naif]+) \(int8 (-?\d+)\)  LED (on|off)  "
                    r"latency_us (\d+)  scale_us (\d+)\s*$", re.M)
_LED = re.compile(r"^shim-led: frame (\d+) (on|off)\s*$", re.M)


def frames_header(frames: np.ndarray) -> str:
    """camera_frames.h for runner/camera/camera_shim.cc: the frames as one uint8 array each."""
    rows = ",\n".join("  {" + ",".join(map(str, frame.reshape(-1).tolist())) + "}" for frame in frames)
    return (f"// written by compress.deploy.camera_emulator: {len(frames)} test frames\n#include <stdint.h>\n"
            f"constexpr int kShimFrameCount = {len(frames)};\n"
            f"static const uint8_t kShimFrames[{len(frames)}][{frames[0].size}] = {{\n{rows}\n}};\n")


def run(sketch_dir, frames: np.ndarray, kernels: str = "cmsis-nn", folder=None, clock_mhz: float = 48.0,
        timeout: float = SKETCH_TIMEOUT_S) -> dict:
    """Build the camera sketch with the camera and LED shims, run one loop() per frame in QEMU; its serial output,
    the sketch's line for each frame and the LED state the shim saw last for each frame."""
    with tempfile.TemporaryDirectory(prefix="compress-camera-") as tmp:
        tmp = Path(tmp)
        (tmp / "camera_frames.h").write_text(frames_header(np.asarray(frames, dtype=np.uint8)))
        flags = [f"-I{tflm_build.runner_file('camera')}", f"-I{tmp}", "-DCOMPRESS_CAMERA_SHIM=1",
                 f"-DCOMPRESS_SKETCH_LOOPS={len(frames)}"]
        elf = build_sketch(sketch_dir, tmp / "camera.elf", kernels, folder, clock_mhz, shim_flags=flags,
                           shim_sources=[tflm_build.runner_file("camera") / "camera_shim.cc"])
        text = qemu(elf, tmp, timeout).replace("\r\n", "\n")
    lines = {int(m.group(1)): {"predicted": m.group(2), "score": float(m.group(3)), "q": int(m.group(4)),
                               "led": m.group(5) == "on", "latency_us": int(m.group(6)),
                               "scale_us": int(m.group(7))} for m in _FRAME.finditer(text)}
    leds = {int(m.group(1)): m.group(2) == "on" for m in _LED.finditer(text)}  # the last write per frame wins
    return {"serial": text, "kernels": kernels, "clock_mhz": clock_mhz, "frames": lines, "leds": leds}


def compare(ran: dict, host: list[dict], class_names) -> list[dict]:
    """One row per frame: the host's decision next to the emulated sketch's line and the LED the shim saw;
    `agrees` when the LED and the printed class and int8 score all equal the host's."""
    rows = []
    for i, want in enumerate(host):
        got = ran["frames"].get(i)
        led = ran["leds"].get(i)
        agrees = bool(got and led == want["led"] and got["led"] == want["led"] and got["q"] == want["q"]
                      and got["predicted"] == class_names[want["predicted"]])
        rows.append({"frame": i, "host": want, "sketch": got, "led": led, "agrees": agrees})
    return rows


def test_split_frames(tflite_path: Path, info: dict, cam: camera.Camera, smile: int,
                      count: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """(frames, labels): `count` test-split images of the model's data, alternating the LED's class and the
    others, placed in camera frames (camera.frames_from_images). The data: a run folder's config.json beside the
    model (every data option), else the source and seed export.json beside it names."""
    from compress.data.dataset import load

    _, height, width, channels = info["input"]["shape"]
    if height != width:
        raise CompressError(f"{tflite_path}: the emulated camera loads square test images; the input is "
                            f"{height}x{width}")
    x, y = load(replace(_data_config(Path(tflite_path)), size=height, channels=channels)).split("test")
    return images_as_frames(x, y, cam, smile, count)


def _data_config(tflite_path: Path) -> DataConfig:
    """The data the model was exported with: config.json's (a run folder), else export.json's source and seed."""
    run = read_run_config(tflite_path.parent)
    if run is not None:
        return run.data
    report = tflite_path.parent / export.REPORT_FILE
    try:
        found = json.loads(report.read_text())
        return DataConfig(source=found["data"], seed=int(found.get("seed", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        raise CompressError(f"{report}: no export.json naming the model's data beside it; the emulated camera "
                            "shows test images of that data (export the model with `python -m compress export`)")


def images_as_frames(x: np.ndarray, y: np.ndarray, cam: camera.Camera, smile: int,
                     count: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """(frames, labels) of `count` images, alternating the LED's class and the others (as many as there are)."""
    y = np.asarray(y).reshape(len(y), -1)[:, 0]
    yes, no = list(np.flatnonzero(y == smile)), list(np.flatnonzero(y != smile))
    order = [i for pair in zip(yes, no) for i in pair][:count]
    if len(order) < min(count, 2):
        raise CompressError("the test split needs images of the LED's class and of another class for the emulated "
                            "camera")
    return camera.frames_from_images(x[order], cam), y[order]


def emulate(sketch_dir, tflite_path, kernels: str = "cmsis-nn", folder=None,
            clock_mhz: float = 48.0) -> tuple[list[dict], dict, np.ndarray]:
    """(rows of compare, the run, the frames' labels) for a camera sketch firmware wrote from tflite_path, fed
    test-split frames of the model's data."""
    from compress.models.tflite_io import tflite_info

    meta = json.loads((Path(sketch_dir) / "firmware.json").read_text())
    data = Path(tflite_path).read_bytes()
    info, cam = tflite_info(data, str(tflite_path)), camera.get(meta["camera"]["name"])
    smile = meta["camera"]["led_class"]
    frames, labels = test_split_frames(Path(tflite_path), info, cam, smile)
    host = camera.host_decisions(data, camera.model_inputs(frames, cam, info), meta["decision"], smile)
    ran = run(sketch_dir, frames, kernels, folder, clock_mhz)
    return compare(ran, host, meta["class_names"]), ran, labels


def verdict_text(rows: list[dict], ran: dict, class_names, labels=None) -> str:
    """A table of the frames (host against QEMU) and one line on what it means."""
    serial = [line for line in ran["serial"].strip("\n").splitlines() if not _LED.match(line)]
    lines = [f"serial output of the camera sketch in QEMU mps2-an386 (TFLM {ran['kernels']} kernels), fed "
             f"{len(rows)} test frames:", *("  " + line for line in serial),
             "its LED (as the stand-in LED saw it) against the TFLite interpreter on the host:",
             "frame  label          host                 sketch in QEMU        LED (shim)  latency_us  agrees"]
    for row, label in zip(rows, [None] * len(rows) if labels is None else labels):
        host, got = row["host"], row["sketch"] or {}
        name = "" if label is None else class_names[int(label)]
        lines.append(f"{row['frame']:>5}  {name:<13}  {class_names[host['predicted']]:<12} {host['q']:>4}    "
                     f"{got.get('predicted', '-'):<12} {got.get('q', '-'):>4}    "
                     f"{'on' if row['led'] else 'off' if row['led'] is not None else '-':<10}  "
                     f"{got.get('latency_us', '-'):>10}  {'yes' if row['agrees'] else 'NO'}")
    same = sum(row["agrees"] for row in rows)
    lines.append(f"the LED agrees with the host on {same} of {len(rows)} frames: "
                 f"{'PASS' if same == len(rows) else 'FAIL'}")
    return "\n".join(lines)
