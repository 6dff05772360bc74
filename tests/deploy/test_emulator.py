"""TFLite Micro on an emulated Cortex-M4: the runner, `emulate`, `firmware --emulate`, and their refusals.

The library is built once into the cache (from scratch in CI: ~1-2 min on 2 cores); every test that needs the
cross compiler, QEMU or the TFLM tree skips with the reason where one is missing.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from compress import CompressError, cli
from compress.deploy import emulator, export, firmware, sketch_emulator, tflm_build
from compress.models import tflite_io

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "models" / "model_int8.tflite"


@pytest.fixture(scope="session")
def runner():
    """The cmsis-nn runner, built once into $COMPRESS_CACHE (default ~/.cache/compress, the CLI's cache, so the
    search tests that emulate their winner share it); skips when the toolchain, QEMU or a TFLM tree is missing."""
    missing = emulator.toolchain_missing()
    if missing:
        pytest.skip(f"emulator unavailable: {missing}")
    return emulator.runner("cmsis-nn")


def test_committed_model_runs_exactly_and_reports_every_op(runner):
    run = emulator.emulate(COMMITTED, "cmsis-nn")
    assert run.outputs_match is True
    model = tflite_io.read(COMMITTED)
    names = tflite_io.op_names(model)
    assert [op.op for op in run.ops] == [names[o.opcodeIndex] for o in model.subgraphs[0].operators]
    assert [op.macs for op in run.ops] == [layer.macs for layer in tflite_io.tflite_cost(COMMITTED).layers]
    assert all(op.instructions > 0 for op in run.ops)
    # Invoke() = the ops + the interpreter's own loop between them (a few hundred instructions per op)
    overhead = run.instructions - sum(op.instructions for op in run.ops)
    assert 0 <= overhead < 1000 * len(run.ops)
    assert 1_000 < run.arena_bytes < 200_000  # plausible for a small CNN (the committed one: ~10 KB)


def test_several_inputs_each_match_the_interpreter(runner, tmp_path):
    x = np.random.default_rng(1).integers(-128, 128, (3, 48, 48, 1), dtype=np.int8)
    np.savez(tmp_path / "x.npz", x=x)
    run = emulator.emulate(COMMITTED, "cmsis-nn", inputs=tmp_path / "x.npz")
    assert run.samples == 3 and run.outputs.shape == (3, 2)
    assert np.array_equal(run.outputs, export.run_tflite(COMMITTED.read_bytes(), x))
    assert run.outputs_match


def test_cli_emulate_json_and_table(runner, capsys):
    assert cli.main(["emulate", str(COMMITTED), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"instructions", "ops", "arena_bytes", "outputs_match"} <= set(out)
    assert out["outputs_match"] is True
    assert {"op", "macs", "instructions"} <= set(out["ops"][0])
    assert out["latency_s"] == pytest.approx(out["instructions"] / 48e6)
    assert cli.main(["emulate", str(COMMITTED), "--cycles-per-instruction", "2"]) == 0
    text = capsys.readouterr().out
    ms = out["instructions"] * 2 / 48e6 * 1e3
    assert f"{ms:,.1f} ms" in text and out["ops"][0]["op"] in text and "total (Invoke)" in text


def test_reference_kernels_give_the_same_outputs(exported):
    """The reference tree, with only the shared model's ops (a small library): outputs equal the interpreter's."""
    missing = emulator.toolchain_missing()
    if missing:
        pytest.skip(f"emulator unavailable: {missing}")
    folder, report = exported
    emulator.runner("reference", ops=report["ops"])
    run = emulator.emulate(folder / export.MODEL_FILE, "reference", ops=report["ops"])
    assert run.outputs_match is True and run.kernels == "reference"


def test_the_generated_sketch_runs_and_names_the_expected_class(runner, exported, tmp_path, capsys):
    folder, report = exported
    with np.load(folder / export.TEST_INPUT_FILE) as npz:
        label = int(npz["label"])
    out = tmp_path / "blobs_m4"
    assert cli.main(["firmware", str(folder / export.MODEL_FILE), "--out", str(out), "--emulate"]) == 0
    printed = capsys.readouterr().out
    name = report["class_names"][label]
    assert f"predicted: {name}  expected: {name}  PASS" in printed
    assert "arena used:" in printed and "latency_us:" in printed


def test_a_sketch_that_fails_its_self_test_says_fail(runner, exported, tmp_path):
    folder, report = exported
    with np.load(folder / export.TEST_INPUT_FILE) as npz:
        image, label = npz["x"], int(npz["label"])
    out = tmp_path / "wrong_m4"
    config = firmware.SketchConfig(test_image=image, expected_class=1 - label, class_names=report["class_names"])
    firmware.generate_sketch(folder / export.MODEL_FILE, out, config)
    ran = sketch_emulator.run_sketch(out)
    assert ran["passed"] is False and ran["expected"] == report["class_names"][1 - label]


# --- refusals: one line, no traceback; no toolchain needed -----------------------------------------------------

def test_missing_tree_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPRESS_TFLM_DIR", str(tmp_path))
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    assert cli.main(["emulate", str(COMMITTED)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cortex_m4_cmsis_nn" in err and len(err.splitlines()) == 1


def test_missing_compiler_names_the_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CompressError, match="gcc-arm-none-eabi .*qemu-system-arm"):
        tflm_build.tool("arm-none-eabi-gcc")


def test_float_model_is_refused(tmp_path, capsys):
    import tensorflow as tf
    import tf_keras as keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    assert cli.main(["emulate", str(path)]) == 2
    assert "int8" in capsys.readouterr().err


def test_runner_output_is_parsed_and_errors_surface():
    text = "compress-runner 1\narena_used 1234\nop 0 CONV_2D 400\nop 1 SOFTMAX 80\ninvoke 600\n" \
           "output 0 0 -3 5\noutput 1 0 7 -8\ndone 2\n"
    parsed = emulator.parse_output(text)
    assert parsed["arena_used"] == 1234 and parsed["invoke"] == 600
    assert parsed["ops"] == [("CONV_2D", 400), ("SOFTMAX", 80)]
    assert parsed["outputs"].tolist() == [[-3, 5], [7, -8]]
    with pytest.raises(CompressError, match="AllocateTensors"):
        emulator.parse_output("compress-runner 1\nerror AllocateTensors() failed\n")
    with pytest.raises(CompressError, match="stopped before the end"):
        emulator.parse_output("compress-runner 1\narena_used 5\n")


def test_latency_table_predicts_the_emulator(runner):
    """The fitted table (compress/devices/latency_table.json) against a fresh measurement of the committed model."""
    from compress.devices import latency

    run = emulator.emulate(COMMITTED, "cmsis-nn", compare=False)
    cost = tflite_io.tflite_cost(COMMITTED)
    predicted = latency.instructions(cost, "cmsis-nn", latency.tflite_geometry(COMMITTED))
    assert predicted == pytest.approx(run.instructions, rel=0.15)


def test_winner_summary_measured_next_to_estimates(runner, monkeypatch):
    from compress.devices import profiles

    found = emulator.emulate_winner(COMMITTED, "cmsis-nn", profiles.get("apollo3"), 1.0, 30_000, log=lambda m: None)
    assert found["instructions_per_mac"] == pytest.approx(found["instructions"] / found["macs"])
    assert found["latency_s"] == pytest.approx(found["instructions"] / 48e6)
    assert found["estimated_arena_bytes"] == 30_000 and found["outputs_match"] is True
    monkeypatch.setattr(emulator, "toolchain_missing", lambda core=None: "qemu-system-arm not found")
    assert emulator.emulate_winner(COMMITTED, "cmsis-nn", profiles.get("apollo3"), log=lambda m: None) == {
        "skipped": "qemu-system-arm not found"}
