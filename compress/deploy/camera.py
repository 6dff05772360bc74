"""A sketch that smiles back: `firmware --camera hm01b0` writes an Apollo3 sketch that reads greyscale frames from
the SparkFun Edge's HM01B0 camera, scales them to the model's input, runs the model and lights an LED when the
face smiles (the model's positive class, by the operating threshold compiled into the firmware).

The frame -> input arithmetic is integers only (a centred crop to the model's aspect ratio, box averages rounded
half up, a 256-entry pixel -> int8 table), so scale_frame and input_table give on the host exactly the bytes the
board feeds the model; compress.deploy.camera_emulator checks that in QEMU, frame by frame."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from string import Template

import numpy as np

from compress import CompressError
from compress.deploy import c_arrays, threshold
from compress.deploy.outputs import quantize


@dataclass(frozen=True)
class Camera:
    """A camera a sketch can read: its frame, the board it sits on and the Arduino library that reads it."""
    title: str
    width: int  # pixels per row of the frame the library captures
    height: int
    board: str  # the `firmware --board` it needs
    library: str  # the Arduino Library Manager name


CAMERAS = {"hm01b0": Camera("Himax HM01B0 (SparkFun Edge camera connector)", 324, 244, "apollo3",
                            "SparkFun Himax HM01B0 Camera")}
PIXEL_MAX = 255  # 8-bit greyscale; a pixel p is the model input p / 255, as the training images in [0, 1]


def get(name: str) -> Camera:
    if name not in CAMERAS:
        raise CompressError(f"--camera {name}: unknown camera; supported: {', '.join(CAMERAS)}")
    return CAMERAS[name]


def check(name: str, board: str, info: dict, outputs: int) -> Camera:
    """The camera, or CompressError (before anything is written) when the board or the model cannot use it."""
    camera = get(name)
    if board != camera.board:
        raise CompressError(f"--camera {name} needs --board {camera.board} (the camera's library reads it there), "
                            f"not {board}")
    if outputs != 1:
        raise CompressError(f"--camera {name}: the model has {outputs} outputs; a camera sketch lights its LED "
                            "from one output")
    shape = info["input"]["shape"]
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise CompressError(f"--camera {name}: the model's input {shape[1:]} is not an image (height, width, "
                            "1 or 3 channels)")
    _, _, crop_h, crop_w = crop_box(camera, shape[1], shape[2])
    if shape[1] > crop_h or shape[2] > crop_w:
        raise CompressError(f"--camera {name}: the model's input {shape[1]}x{shape[2]} is larger than the "
                            f"camera's {crop_h}x{crop_w} crop; the sketch only scales down")
    return camera


def crop_box(camera: Camera, in_h: int, in_w: int) -> tuple[int, int, int, int]:
    """(top, left, height, width): the largest centred region of the frame with the model's aspect ratio."""
    if camera.width * in_h > camera.height * in_w:  # the frame is wider than the model's input
        h, w = camera.height, camera.height * in_w // in_h
    else:
        h, w = camera.width * in_h // in_w, camera.width
    return (camera.height - h) // 2, (camera.width - w) // 2, h, w


def scale_frame(frame: np.ndarray, camera: Camera, in_h: int, in_w: int) -> np.ndarray:
    """A uint8 frame (height, width) as the model's (in_h, in_w) grey pixels: the mean of each box of the crop,
    rounded half up; box edges at floor(i * crop / in). The sketch's FrameToInput() computes the same."""
    top, left, h, w = crop_box(camera, in_h, in_w)
    crop = np.asarray(frame, dtype=np.int64).reshape(camera.height, camera.width)[top:top + h, left:left + w]
    rows = np.arange(in_h) * h // in_h
    cols = np.arange(in_w) * w // in_w
    sums = np.add.reduceat(np.add.reduceat(crop, rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
    return ((sums + counts // 2) // counts).astype(np.uint8)


def input_table(info: dict) -> np.ndarray:
    """int8 model input for each 8-bit pixel value: quantize(p / 255), as export quantizes a float image."""
    inp = info["input"]
    return quantize(np.arange(PIXEL_MAX + 1, dtype=np.float32) / PIXEL_MAX, inp["scale"], inp["zero_point"])


def model_inputs(frames: np.ndarray, camera: Camera, info: dict) -> np.ndarray:
    """int8 inputs (N, H, W, C) the sketch feeds the model for uint8 frames (N, height, width)."""
    _, in_h, in_w, channels = info["input"]["shape"]
    table = input_table(info)
    grey = np.stack([scale_frame(f, camera, in_h, in_w) for f in frames])
    return np.repeat(table[grey][..., None], channels, axis=-1)


def frames_from_images(images: np.ndarray, camera: Camera, seed: int = 0) -> np.ndarray:
    """Test images (N, H, W, C) in [0, 1] as camera frames (N, height, width) uint8: grey, enlarged (nearest
    pixel) to fill the crop the sketch reads, the rest of the frame seeded noise that the sketch must ignore."""
    images = np.asarray(images, dtype=np.float32)
    _, in_h, in_w, _ = images.shape
    top, left, h, w = crop_box(camera, in_h, in_w)
    grey = np.round(images.mean(axis=-1) * PIXEL_MAX).clip(0, PIXEL_MAX).astype(np.uint8)
    rows, cols = np.arange(h) * in_h // h, np.arange(w) * in_w // w
    frames = np.random.default_rng(seed).integers(0, PIXEL_MAX + 1, (len(images), camera.height, camera.width),
                                                  dtype=np.uint8)
    frames[:, top:top + h, left:left + w] = grey[:, rows][:, :, cols]
    return frames


def led_class(point: dict, class_names) -> int:
    """The class that lights the LED: the operating threshold's positive class, else `happy`, else class 1."""
    if point.get("rule") == "youden":
        return int(point["positive_class"])
    return list(class_names).index("happy") if "happy" in class_names else 1


def host_decisions(tflite_bytes: bytes, inputs: np.ndarray, point: dict, smile: int) -> list[dict]:
    """Per input, what the board should do: the TFLite interpreter's int8 score of the LED's class, the class
    the firmware's decision rule gives (threshold.predict) and whether the LED lights."""
    from compress.deploy.outputs import run_tflite_outputs

    q = run_tflite_outputs(tflite_bytes, inputs)[0]
    predicted = threshold.predict(q, point)
    return [{"q": int(row[smile]), "predicted": int(p), "led": bool(p == smile)} for row, p in zip(q, predicted)]


def figures(camera_name: str, info: dict, result: dict) -> dict:
    """What firmware.json records about the camera (and the templates print)."""
    camera = get(camera_name)
    _, in_h, in_w, _ = info["input"]["shape"]
    top, left, h, w = crop_box(camera, in_h, in_w)
    smile = led_class(result["decision"], result["class_names"])
    return {"name": camera_name, "width": camera.width, "height": camera.height,
            "crop": {"top": top, "left": left, "height": h, "width": w},
            "led_class": smile, "led_class_name": result["class_names"][smile]}


def ram_check(cam: dict, result: dict) -> dict:
    """The device's RAM check with the camera library's frame buffer (a member of its HM01B0 object, one byte per
    pixel) next to the tensor arena: the sketch needs both."""
    from compress.devices import profiles

    device = profiles.get(result["device"])
    figure = result["arena_bytes"] + cam["width"] * cam["height"]
    return {"target": "RAM with the camera", "what": "tensor arena + camera frame buffer + runtime allowance",
            "measured": figure, "allowance": device.runtime_ram_bytes, "figure": figure + device.runtime_ram_bytes,
            "limit": device.ram_bytes, "unit": "bytes", "passed": figure + device.runtime_ram_bytes <= device.ram_bytes,
            "source": f"compress.devices {device.name!r} and the camera's {cam['width']}x{cam['height']} frame"}


def render(files: dict, fields: dict, info: dict, result: dict) -> dict:
    """The board's files with the camera sketch and its README in place of the self-test sketch's."""
    cam = result["camera"]
    camera = get(cam["name"])
    _, in_h, in_w, channels = info["input"]["shape"]
    rows = input_table(info).reshape(16, 16)
    fields = dict(fields, camera_title=camera.title, camera_width=camera.width, camera_height=camera.height,
                  camera_library=camera.library, input_height=in_h, input_width=in_w, input_channels=channels,
                  crop_top=cam["crop"]["top"], crop_left=cam["crop"]["left"], crop_height=cam["crop"]["height"],
                  crop_width=cam["crop"]["width"], led_class=cam["led_class"],
                  led_class_name=c_arrays.c_string(cam["led_class_name"]), led_class_text=cam["led_class_name"],
                  pixel_table="\n".join("  " + ", ".join(f"{int(v):4d}" for v in row) + "," for row in rows))
    sketch = result["sketch"]
    files[f"{sketch}.ino"] = _fill("sketch_hm01b0.ino.tmpl", fields)
    files["README.md"] = _fill("README_hm01b0.md.tmpl", fields)
    return files


def _fill(name: str, fields: dict) -> str:
    text = (resources.files("compress.deploy") / "templates" / "camera" / name).read_text()
    return Template(text).substitute(fields)


def summary_line(cam: dict) -> str:
    """One terminal line on what the camera sketch does with a frame."""
    crop = cam["crop"]
    return (f"camera {cam['name']}: {cam['width']}x{cam['height']} frames, the centred {crop['height']}x"
            f"{crop['width']} crop scaled to the model's input; LED on for {cam['led_class_name']}")
