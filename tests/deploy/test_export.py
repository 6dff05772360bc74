"""int8 export and C arrays: files, figures, float-vs-int8 verification, the beta gate, QAT, the CLI."""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from compress import CompressError
from compress import cli
from compress.deploy import c_arrays
from compress.deploy import export
from compress.models import tflite_io
from compress.models.keras_build import build_model

EMBEDDED3_OPS = ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]  # BN folds, dropout goes


def test_export_writes_model_report_and_test_input(exported):
    out, report = exported
    tflite = (out / export.MODEL_FILE).read_bytes()
    on_disk = json.loads((out / export.REPORT_FILE).read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert report["model_bytes"] == len(tflite) and report["quantization"] == "ptq"
    info = tflite_io.tflite_info(tflite)
    for side in ("input", "output"):  # the report's scales and zero points are the flatbuffer's own
        assert report[side] == info[side] and report[side]["dtype"] == "int8"
    assert report["input"]["shape"] == [1, 24, 24, 1] and report["output"]["shape"] == [1, 2]
    assert report["ops"] == EMBEDDED3_OPS
    assert report["representative_samples"] == 100 and report["class_names"] == ["dim", "bright"]
    assert report["beta"] is None and report["passed"] is None
    for key in ("auc", "accuracy", "precision", "recall", "confusion"):
        assert key in report["metrics"]["float"] and key in report["metrics"]["int8"]


def test_int8_auc_is_close_to_float(exported):
    m = exported[1]["metrics"]
    assert m["samples"] == 100 and m["split"] == "test"
    # the shared model learned something and does not call every image one class, so the comparison means something
    assert m["float"]["auc"] > 0.85 and m["float"]["accuracy"] > 0.7
    assert abs(m["auc_drop"]) < 0.03
    assert m["auc_drop"] == pytest.approx(m["float"]["auc"] - m["int8"]["auc"])
    assert m["agreement"] >= 0.9


def test_int8_metrics_are_the_tflite_interpreters(exported, blob_data):
    """Recompute the int8 AUC from the .tflite with sklearn directly: the report must agree."""
    from sklearn.metrics import roc_auc_score

    out, report = exported
    tflite = (out / export.MODEL_FILE).read_bytes()
    inp, outp = report["input"], report["output"]
    q = export.run_tflite(tflite, export.quantize(blob_data.x_test, inp["scale"], inp["zero_point"]))
    probs = export.dequantize(q, outp["scale"], outp["zero_point"])
    assert report["metrics"]["int8"]["auc"] == pytest.approx(roc_auc_score(blob_data.y_test, probs[:, 1]))


def test_test_input_is_a_correctly_classified_quantized_test_image(exported, blob_data):
    out, report = exported
    with np.load(out / export.TEST_INPUT_FILE) as npz:
        x, label, predicted, index = npz["x"], int(npz["label"]), int(npz["predicted"]), int(npz["index"])
        assert [str(n) for n in npz["class_names"]] == ["dim", "bright"]
    assert x.dtype == np.int8 and x.shape == (1, 24, 24, 1)
    assert label == predicted == blob_data.y_test[index]
    inp = report["input"]
    np.testing.assert_array_equal(x[0], export.quantize(blob_data.x_test[index], inp["scale"], inp["zero_point"]))
    assert export.run_tflite((out / export.MODEL_FILE).read_bytes(), x).argmax() == label


def test_four_class_export_scores_int8_outputs_that_do_not_sum_to_one(blob_data, tmp_path):
    """A dequantized int8 softmax sums to 1 only within a few 1/256 steps; the int8 check must still score it."""
    from compress.data.dataset import Dataset
    from compress.models.spec import Layer, ModelSpec

    rng = np.random.default_rng(1)
    y4 = [rng.integers(0, 4, len(split)) for split in (blob_data.y_train, blob_data.y_val, blob_data.y_test)]
    data = Dataset("blobs4", ("a", "b", "c", "d"), blob_data.x_train, y4[0], blob_data.x_val, y4[1],
                   blob_data.x_test, y4[2])
    spec = ModelSpec((24, 24, 1), 4, (Layer("conv", "conv1", units=4, kernel=3, stride=2), Layer("relu", "relu1"),
                                      Layer("gap", "gap")), name="four")
    report = export.export_int8(build_model(spec, seed=0), data, tmp_path, representative_samples=50, seed=0)
    assert report["output"]["shape"] == [1, 4]
    assert 0.0 <= report["metrics"]["int8"]["auc"] <= 1.0
    assert abs(report["metrics"]["auc_drop"]) < 0.05


def test_beta_above_int8_auc_raises_after_writing_files(trained_model, blob_data, tmp_path):
    with pytest.raises(CompressError) as err:
        export.export_int8(trained_model, blob_data, tmp_path, beta=0.9999, representative_samples=50)
    report = json.loads((tmp_path / export.REPORT_FILE).read_text())
    message = str(err.value)
    assert report["passed"] is False and report["beta"] == 0.9999
    assert f"{report['metrics']['int8']['auc']:.4f}" in message and "0.9999" in message
    assert f"{report['metrics']['float']['auc']:.4f}" in message and "--qat" in message
    assert (tmp_path / export.MODEL_FILE).stat().st_size == report["model_bytes"]


def test_qat_export_keeps_auc(trained_model, blob_data, tmp_path):
    report = export.export_int8(trained_model, blob_data, tmp_path, qat=True, qat_epochs=1, beta=0.5,
                                representative_samples=50)
    assert report["quantization"] == "qat" and report["passed"] is True
    assert report["ops"] == EMBEDDED3_OPS and report["input"]["dtype"] == "int8"
    assert abs(report["metrics"]["auc_drop"]) < 0.1


def test_tflite_info_rejects_garbage():
    with pytest.raises(CompressError):
        tflite_io.tflite_info(b"not a flatbuffer at all")


# --- C arrays -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, ident", [
    ("model_int8", "model_int8"), ("emotion-apollo3 v2", "emotion_apollo3_v2"), ("3x3.net", "3x3_net"),
    ("__odd__name__", "odd_name"), ("ünï", "n"), ("...", "model"), ("", "model"),
])
def test_c_identifier_sanitising(name, ident):
    assert c_arrays.c_identifier(name) == ident
    assert re.fullmatch(r"g_[A-Za-z0-9_]+_model_data", c_arrays.c_array_name(name))
    assert "__" not in c_arrays.c_array_name(name)  # reserved in C++


def test_c_array_round_trip(exported, tmp_path):
    tflite = (exported[0] / export.MODEL_FILE).read_bytes()
    h_path, cc_path = c_arrays.write_c_arrays(tflite, tmp_path, "model int8")
    source, header = cc_path.read_text(), h_path.read_text()
    assert cc_path.name == "model_data.cc" and h_path.name == "model_data.h"
    assert c_arrays.parse_c_array(source) == tflite
    assert "alignas(16) const unsigned char g_model_int8_model_data[] = {" in source
    assert f"const unsigned int g_model_int8_model_data_len = {len(tflite)};" in source
    assert "extern const unsigned char g_model_int8_model_data[];" in header
    assert "extern const unsigned int g_model_int8_model_data_len;" in header
    assert c_arrays.c_arrays(tflite, "model int8") == (header, source)  # deterministic: no dates, no paths


def _compile(compiler: str, flags: list, source, out):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    done = subprocess.run([compiler, *flags, "-c", str(source), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _global_symbols(nm: str, obj) -> dict:
    text = subprocess.run([nm, str(obj)], capture_output=True, text=True, check=True).stdout
    return {parts[2]: parts[1] for parts in (line.split() for line in text.splitlines()) if len(parts) == 3}


def test_c_arrays_compile_as_cpp11(exported, tmp_path):
    _, cc_path = c_arrays.write_c_arrays((exported[0] / export.MODEL_FILE).read_bytes(), tmp_path, "m")
    _compile("g++", ["-std=c++11", "-Wall", "-Wextra", "-Werror"], cc_path, tmp_path / "m.o")
    symbols = _global_symbols("nm", tmp_path / "m.o")
    # 'R': global read-only data. A const array at namespace scope is internal unless the header is included.
    assert symbols == {"g_m_model_data": "R", "g_m_model_data_len": "R"}


def test_c_arrays_compile_for_cortex_m4(exported, tmp_path):
    _, cc_path = c_arrays.write_c_arrays((exported[0] / export.MODEL_FILE).read_bytes(), tmp_path, "m")
    _compile("arm-none-eabi-g++", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                                   "-std=c++11", "-Wall", "-Werror"], cc_path, tmp_path / "m.o")
    assert _global_symbols("arm-none-eabi-nm", tmp_path / "m.o") == {"g_m_model_data": "R",
                                                                       "g_m_model_data_len": "R"}
    sections = subprocess.run(["arm-none-eabi-objdump", "-h", str(tmp_path / "m.o")], capture_output=True,
                              text=True, check=True).stdout
    rodata = [line for line in sections.splitlines() if " .rodata " in line]
    assert rodata and rodata[0].split()[-1] == "2**4"  # 16-byte aligned, as TFLM wants its flatbuffer


# --- CLI ------------------------------------------------------------------------------------------------

def test_cli_export_takes_beta_from_the_runs_summary(trained_model, blob_data, tmp_path, monkeypatch, capsys):
    import compress.data.dataset

    run = tmp_path / "run"
    run.mkdir()
    trained_model.save(run / "best.keras")
    (run / "summary.json").write_text(json.dumps({"beta": 0.5}))
    monkeypatch.setattr(compress.data.dataset, "load", lambda config: blob_data)
    assert cli.main(["export", str(run / "best.keras")]) == 0
    report = json.loads((run / export.REPORT_FILE).read_text())
    assert report["beta"] == 0.5 and report["passed"] is True
    printed = capsys.readouterr().out
    assert "test AUC" in printed and "PASS" in printed and str(run / export.MODEL_FILE) in printed


def test_cli_export_missing_model_is_one_line_error(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path / "nope.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no such file" in err and len(err.strip().splitlines()) == 1


# --- the LSTM: one fused int8 op, in the tflite-micro runtime and TFLM on the emulated Cortex-M4 -------------------

@pytest.fixture(scope="module")
def tiny_lstm(tmp_path_factory):
    """zoo lstm with 4 units over T = 20 steps of 4 channels, trained a little (is the first half of the BVP window
    higher than the second?), int8: (spec, .tflite path, int8 test windows). Untrained, some LSTMs come out of
    TFLite's int8 kernel far from the float model while TFLM's stays close; trained ones agree (README, LSTM)."""
    from dataclasses import replace

    import tf_keras as keras

    from compress.models import zoo

    spec = zoo.get("lstm")
    spec = spec.replace(layers=tuple(replace(l, units=4) if l.kind == "lstm" else l for l in spec.layers))
    x = np.random.default_rng(0).normal(size=(256, 20, 1, 4)).astype(np.float32)
    y = (x[:, :10, 0, 0].mean(1) > x[:, 10:, 0, 0].mean(1)).astype(int)
    model = build_model(spec, seed=0)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(x[:200], y[:200], epochs=5, batch_size=32, verbose=0)
    tflite = export.convert_int8(model, x[:32])
    path = tmp_path_factory.mktemp("lstm") / "lstm_int8.tflite"
    path.write_bytes(tflite)
    inp = tflite_io.tflite_info(tflite)["input"]
    q = export.quantize(x[200:216], inp["scale"], inp["zero_point"])
    return spec, path, np.concatenate([q, q[:1]])  # the first window again, last: it must give the same output


def test_lstm_converts_to_one_fused_int8_op_costed_like_its_spec(tiny_lstm):
    from compress.models.cost import spec_cost

    spec, path, _ = tiny_lstm
    info = tflite_io.tflite_info(path.read_bytes())  # its empty intermediate tensors are not "corrupt"
    assert info["ops"] == ["RESHAPE", "STRIDED_SLICE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "FULLY_CONNECTED", "SOFTMAX"]
    assert info["input"]["shape"] == [1, 20, 1, 4] and info["input"]["dtype"] == "int8"
    lstm = [row for row in tflite_io.tflite_cost(path).layers if row.kind == "lstm"]
    ours = {row.name: row for row in spec_cost(spec).layers}["lstm"]
    # 20 steps x 4 gates x (1 + 4) x 4 = 1,600 MACs; params 4 x (1 x 4 + 4 x 4 + 4) = 96
    assert len(lstm) == 1 and (lstm[0].macs, lstm[0].flops, lstm[0].params) == (ours.macs, ours.flops, ours.params)
    assert ours.macs == 1600 and ours.params == 96


def test_int8_lstm_runs_in_tflite_micro_each_window_from_a_zero_state(tiny_lstm):
    """TFLM's int8 LSTM uses other tanh / sigmoid approximations than TFLite's (tflite-micro issue 1455): its
    outputs lie within 2 of the interpreter's, not always on them. Both keep the LSTM state in variable tensors
    across Invoke(); the runners reset it per window, so a window gives the same output wherever it comes."""
    from compress.deploy import tflm

    _, path, q = tiny_lstm
    lite, micro = export.run_tflite(path.read_bytes(), q), tflm.run_tflm(path.read_bytes(), q)
    assert np.abs(lite.astype(int) - micro).max() <= 2
    assert np.array_equal(lite[0], lite[-1]) and np.array_equal(micro[0], micro[-1])


def test_int8_lstm_on_the_emulated_cortex_m4_equals_tflite_micro(tiny_lstm, tmp_path):
    from compress.deploy import emulator, tflm

    missing = emulator.toolchain_missing()
    if missing:
        pytest.skip(f"emulator unavailable: {missing}")
    _, path, q = tiny_lstm
    ops = tflite_io.tflite_info(path.read_bytes())["ops"]
    np.savez(tmp_path / "x.npz", x=q)
    run = emulator.emulate(path, "cmsis-nn", inputs=tmp_path / "x.npz", ops=ops)  # CMSIS-NN's LSTM kernel
    assert np.array_equal(run.outputs, tflm.run_tflm(path.read_bytes(), q))
    assert run.max_abs_diff <= 2 and np.array_equal(run.outputs[0], run.outputs[-1])
    lstm = [op for op in run.ops if op.op == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    assert len(lstm) == 1 and lstm[0].macs == 1600 and lstm[0].instructions > 1600
