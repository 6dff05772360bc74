"""`firmware --camera hm01b0`: the frame -> input arithmetic against a loop-by-loop oracle, the files, the refusals,
and the sketch itself in QEMU with a stand-in camera fed test images, its LED checked frame by frame against the
TFLite interpreter on the host. The emulated tests skip with the reason where the toolchain, QEMU or a TFLM tree
is missing."""
import json
from pathlib import Path

import numpy as np
import pytest

from compress import CompressError, cli, commands
from compress.deploy import camera, camera_emulator, emulator, export, firmware

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "models" / "model_int8.tflite"
HM01B0 = camera.CAMERAS["hm01b0"]


def _info(height: int, width: int, channels: int = 1, scale: float = 1 / 255, zero_point: int = -128) -> dict:
    return {"input": {"shape": [1, height, width, channels], "scale": scale, "zero_point": zero_point}}


def _oracle(frame: np.ndarray, top: int, left: int, crop_h: int, crop_w: int, in_h: int, in_w: int) -> np.ndarray:
    """The sketch's FrameToInput() loop, written out pixel by pixel (before the pixel table)."""
    out = np.zeros((in_h, in_w), dtype=np.int64)
    for oy in range(in_h):
        y0, y1 = top + oy * crop_h // in_h, top + (oy + 1) * crop_h // in_h
        for ox in range(in_w):
            x0, x1 = left + ox * crop_w // in_w, left + (ox + 1) * crop_w // in_w
            total = sum(int(frame[y, x]) for y in range(y0, y1) for x in range(x0, x1))
            count = (y1 - y0) * (x1 - x0)
            out[oy, ox] = (total + count // 2) // count
    return out


def test_crop_is_the_largest_centred_box_of_the_models_aspect():
    # 48x48 from 324x244: the frame is wider, so the full height and a centred 244-wide square, (324-244)/2 = 40
    assert camera.crop_box(HM01B0, 48, 48) == (0, 40, 244, 244)
    # 20x30 (wider than the frame's 244/324): the full width, height 324*20//30 = 216, top (244-216)//2 = 14
    assert camera.crop_box(HM01B0, 20, 30) == (14, 0, 216, 324)
    # 30x13 (taller): full height, width 244*13//30 = 105, left (324-105)//2 = 109
    assert camera.crop_box(HM01B0, 30, 13) == (0, 109, 244, 105)


@pytest.mark.parametrize("in_h,in_w", [(48, 48), (13, 17), (30, 13)])
def test_scale_frame_is_the_sketch_loop(in_h, in_w):
    frame = np.random.default_rng(3).integers(0, 256, (HM01B0.height, HM01B0.width), dtype=np.uint8)
    box = camera.crop_box(HM01B0, in_h, in_w)
    assert np.array_equal(camera.scale_frame(frame, HM01B0, in_h, in_w), _oracle(frame, *box, in_h, in_w))


def test_a_frame_made_from_an_image_scales_back_to_it_where_boxes_are_whole():
    # 244 / 61 = 4: each input pixel is a 4x4 box of one enlarged pixel, so the round trip is exact
    image = np.random.default_rng(4).integers(0, 256, (2, 61, 61, 1)).astype(np.float32) / 255
    frames = camera.frames_from_images(image, HM01B0)
    assert frames.shape == (2, 244, 324) and frames.dtype == np.uint8
    for frame, original in zip(frames, image):
        assert np.array_equal(camera.scale_frame(frame, HM01B0, 61, 61), np.round(original[..., 0] * 255))


def test_pixels_are_quantized_as_the_model_input():
    # the committed model's input: scale 1/255, zero point -128, so pixel p is p - 128
    table = camera.input_table(_info(48, 48))
    assert table.dtype == np.int8 and np.array_equal(table.astype(int), np.arange(256) - 128)
    rgb = camera.model_inputs(np.full((1, 244, 324), 200, np.uint8), HM01B0, _info(8, 8, channels=3))
    assert rgb.shape == (1, 8, 8, 3) and (rgb == 72).all()


def test_the_cli_knows_every_camera():
    assert set(commands.FIRMWARE_CAMERAS) == set(camera.CAMERAS)


def test_refusals_name_the_problem():
    with pytest.raises(CompressError, match="--board apollo3"):
        camera.check("hm01b0", "nano33ble", _info(48, 48), 1)
    with pytest.raises(CompressError, match="2 outputs"):
        camera.check("hm01b0", "apollo3", _info(48, 48), 2)
    with pytest.raises(CompressError, match="not an image"):
        camera.check("hm01b0", "apollo3", _info(20, 1, channels=4), 1)
    with pytest.raises(CompressError, match="larger than the camera"):
        camera.check("hm01b0", "apollo3", _info(300, 300), 1)
    with pytest.raises(CompressError, match="unknown camera"):
        camera.get("ov7670")


def test_cli_refuses_a_camera_on_another_board_in_one_line(tmp_path, capsys):
    out = tmp_path / "nano_cam"
    assert cli.main(["firmware", str(COMMITTED), "--board", "nano33ble", "--camera", "hm01b0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--board apollo3" in err[0]
    assert not out.exists()


def test_camera_sketch_files(exported, tmp_path):
    folder, report = exported
    out = tmp_path / "smile"
    result = firmware.generate_sketch(folder / export.MODEL_FILE, out, firmware.SketchConfig(
        camera="hm01b0", class_names=report["class_names"]))
    point = report["operating_point"]
    assert result["camera"]["led_class"] == point["positive_class"]
    assert result["camera"]["crop"] == {"top": 0, "left": 40, "height": 244, "width": 244}
    ino = (out / "smile.ino").read_text()
    for needed in ('#include "hm01b0_arduino.h"', "camera.capture()", "camera.frameBuffer", "calibrateAutoExposure",
                   f"constexpr int8_t kThresholdQ = {point['threshold_q']};", "digitalWrite(kSmileLed",
                   "constexpr int kCropLeft = 40;", "latency_us"):
        assert needed in ino
    assert json.loads((out / "firmware.json").read_text())["camera"]["name"] == "hm01b0"
    readme = (out / "README.md").read_text()
    assert "SparkFun:apollo3@1.2.3" in readme and "Not checked" in readme
    assert {"tflm_platform.cpp", "model_data.cpp", "test_image.h"} <= set(result["files"])
    [ram] = [c for c in result["checks"] if c["target"] == "RAM with the camera"]
    assert ram["measured"] == result["arena_bytes"] + 324 * 244 and ram["passed"] and result["passed"]
    assert "RAM with the camera" in readme


def test_a_disagreement_is_reported():
    host = [{"q": 50, "predicted": 1, "led": True}, {"q": -90, "predicted": 0, "led": False}]
    ran = {"frames": {0: {"predicted": "happy", "q": 50, "led": True}, 1: {"predicted": "happy", "q": 20, "led": True}},
           "leds": {0: True, 1: True}, "serial": "", "kernels": "cmsis-nn"}
    rows = camera_emulator.compare(ran, host, ["not-happy", "happy"])
    assert [row["agrees"] for row in rows] == [True, False]
    assert "1 of 2 frames: FAIL" in camera_emulator.verdict_text(rows, ran, ["not-happy", "happy"])


# --- in QEMU -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toolchain():
    missing = emulator.toolchain_missing()
    if missing:
        pytest.skip(f"emulator unavailable: {missing}")


def test_emulated_led_follows_the_host_frame_by_frame(toolchain, exported, blob_data, tmp_path):
    """The shared 24x24 model: test images enlarged into 324x244 frames (noise around the crop), so the sketch's
    crop and box averages are exercised; the LED the stand-in saw equals the host's decision on every frame."""
    folder, report = exported
    model = folder / export.MODEL_FILE
    out = tmp_path / "blob_cam"
    result = firmware.generate_sketch(model, out, firmware.SketchConfig(camera="hm01b0",
                                                                         class_names=report["class_names"]))
    smile = result["camera"]["led_class"]
    x, y = blob_data.split("test")
    frames, labels = camera_emulator.images_as_frames(x, y, HM01B0, smile, count=6)
    info = {"input": report["input"]}
    host = camera.host_decisions(model.read_bytes(), camera.model_inputs(frames, HM01B0, info),
                                 result["decision"], smile)
    ran = camera_emulator.run(out, frames)
    rows = camera_emulator.compare(ran, host, report["class_names"])
    assert [row["agrees"] for row in rows] == [True] * 6, camera_emulator.verdict_text(rows, ran, report["class_names"])
    assert {row["led"] for row in rows} == {True, False}  # the LED went on and off: the check saw both decisions
    assert "self-test: predicted:" in ran["serial"] and all(f["latency_us"] > 0 for f in ran["frames"].values())


def test_cli_committed_model_smiles_back_in_qemu(toolchain, tmp_path, capsys):
    """The committed happy/not-happy model on 8 frames of its own test split (synthetic faces), through the CLI."""
    out = tmp_path / "smile_edge"
    assert cli.main(["firmware", str(COMMITTED), "--camera", "hm01b0", "--out", str(out), "--emulate"]) == 0
    printed = capsys.readouterr().out
    assert "the LED agrees with the host on 8 of 8 frames: PASS" in printed
    assert "frame 7: " in printed and "LED on" in printed and "LED off" in printed


def test_the_emulated_camera_shows_the_runs_own_data(tmp_path):
    """A run folder's config.json gives every data option; else export.json's source and seed; else one line."""
    from compress.config import CONFIG_FILE, DataConfig, RunConfig

    with pytest.raises(CompressError, match="export.json"):
        camera_emulator._data_config(tmp_path / "model_int8.tflite")
    (tmp_path / export.REPORT_FILE).write_text(json.dumps({"data": "photos", "seed": 3}))
    assert camera_emulator._data_config(tmp_path / "model_int8.tflite") == DataConfig(source="photos", seed=3)
    run = RunConfig(data=DataConfig(task="4class", seed=5))
    (tmp_path / CONFIG_FILE).write_text(json.dumps(run.to_dict()))
    assert camera_emulator._data_config(tmp_path / "model_int8.tflite") == run.data
