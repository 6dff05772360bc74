"""The deploy stage of a multi-task model (one softmax output per task): int8 export with per-task figures and the
TFLite output order, tflite-micro on every output, firmware that names every task, and (toolchain permitting) the
emulated run and the sketch's self-test in QEMU."""
import json
from dataclasses import dataclass

import numpy as np
import pytest

from compress import CompressError
from compress.data.dataset import Dataset
from compress.deploy import emulator, export, firmware, ship, sketch_emulator, tflm
from compress.models.keras_build import build_model

TASKS = ("arousal", "dominance", "valence")


@dataclass
class TaskData(Dataset):
    """What compress.data.multitask's data set looks like to the deploy stage: y (N, K), `tasks`."""
    tasks: tuple = ()


def _data(n: int = 240, seed: int = 0) -> TaskData:
    """Windows of 20 steps x 8 channels; task k is high when channel k's mean is above 0 (learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, 20, 1, 8)).astype(np.float32)
    for k in range(len(TASKS)):
        x[:, :, 0, k] += rng.choice([-0.6, 0.6], n)[:, None]
    y = np.stack([(x[:, :, 0, k].mean(axis=1) > 0) for k in range(len(TASKS))], axis=1).astype(np.int64)
    a, b = int(n * 0.6), int(n * 0.8)
    return TaskData("mt-random", ("low", "high"), x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], tasks=TASKS)


def _model():
    from compress.models.spec import Layer, ModelSpec

    layers = [Layer("conv", "conv1", units=8, kernel=5), Layer("bn", "bn1"), Layer("relu", "relu1"),
              Layer("maxpool", "pool1", kernel=2, stride=2, padding="valid"), Layer("flatten", "flatten"),
              Layer("dense", "fc", units=16), Layer("relu", "fc_relu")]
    for t in TASKS:
        layers += [Layer("dense", f"{t}_fc", units=8, inputs=("fc_relu",)), Layer("relu", f"{t}_relu")]
    spec = ModelSpec((20, 1, 8), 2, layers, name="mt", tasks=TASKS, heads=tuple(f"{t}_relu" for t in TASKS))
    return build_model(spec, seed=0)


@pytest.fixture(scope="module")
def mt_data():
    return _data()


@pytest.fixture(scope="module")
def mt_model(mt_data):
    import tf_keras as keras

    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(mt_data.x_train, [mt_data.y_train[:, k] for k in range(len(TASKS))], batch_size=32, epochs=1,
              verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def shipped(mt_model, mt_data, tmp_path_factory):
    """ship() of the multi-task model, as a search's deploy stage runs it: (run folder, export.json, firmware)."""
    out = tmp_path_factory.mktemp("mt_run")
    mt_model.save(out / "best.keras")
    result = ship.ship(out, mt_data, beta=dict.fromkeys(TASKS, 0.0), qat=False, seed=0, device="apollo3",
                       expected_latency_s=0.01, log=lambda m: None)
    return out, json.loads((out / export.REPORT_FILE).read_text()), result


def _float_by_task(model, x):
    return export.float_outputs(model, x, TASKS)


# --- export ---------------------------------------------------------------------------------------------------

def test_export_records_per_task_metrics_and_the_output_order(shipped):
    _, report, _ = shipped
    assert report["tasks"] == list(TASKS) and sorted(report["outputs"]) == sorted(TASKS)
    assert report["outputs_from"] == "signature"
    assert [t["task"] for t in report["output_tensors"]] == report["outputs"]
    assert all(t["dtype"] == "int8" and t["shape"] == [1, 2] for t in report["output_tensors"])
    for side in ("float", "int8"):
        m = report["metrics"][side]
        assert set(m["tasks"]) == set(TASKS) and m["worst_task"] in TASKS
        aucs = {t: m["tasks"][t]["auc"] for t in TASKS}
        assert m["auc"] == min(aucs.values()) == aucs[m["worst_task"]]
        for key in ("accuracy", "precision", "recall", "confusion"):
            assert m[key] == m["tasks"][m["worst_task"]][key]
    assert set(report["metrics"]["per_task"]) == set(TASKS)
    assert report["operating_point"]["rule"] == "per-task" and set(report["operating_point"]["tasks"]) == set(TASKS)
    assert report["beta"] == dict.fromkeys(TASKS, 0.0) and report["passed"] is True and report["failed_tasks"] == []
    assert {c["label"].split(":")[0] for c in report["roc"]["test"]} == set(TASKS)
    assert "arousal" in export.summary_text(report)


def test_the_recorded_order_is_the_order_of_the_values(shipped, mt_model, mt_data):
    """Each TFLite output, dequantized, is closest to the float output of the task export.json names for it; the
    value matching (the fallback when a signature names no tasks) finds the same order."""
    out, report, _ = shipped
    tflite = (out / export.MODEL_FILE).read_bytes()
    x = mt_data.x_test[:24]
    inp = report["input"]
    q = export.run_tflite_outputs(tflite, export.quantize(x, inp["scale"], inp["zero_point"]))
    floats = _float_by_task(mt_model, x)
    assert export.match_outputs(q, export.output_tensors(tflite), floats) == report["outputs"]
    for i, task in enumerate(report["outputs"]):
        t = report["output_tensors"][i]
        probs = export.dequantize(q[i], t["scale"], t["zero_point"])
        assert np.abs(probs - floats[task]).max() < 0.1, task


def test_test_input_holds_a_label_per_task_and_the_int8_predictions(shipped):
    out, report, _ = shipped
    with np.load(out / export.TEST_INPUT_FILE) as npz:
        x, label, predicted, tasks = npz["x"], npz["label"], npz["predicted"], list(npz["tasks"])
        assert int(npz["correct"]) == int(np.sum(label == predicted))
    assert tasks == list(TASKS) and label.shape == predicted.shape == (3,) and label.dtype.kind == "i"
    assert x.dtype == np.int8 and x.shape == (1, 20, 1, 8)
    from compress.deploy import threshold

    q = export.run_tflite_outputs((out / export.MODEL_FILE).read_bytes(), x)
    for k, task in enumerate(TASKS):
        i = report["outputs"].index(task)
        assert threshold.predict(q[i], report["operating_point"]["tasks"][task])[0] == predicted[k]


def test_a_task_below_its_beta_fails_naming_it_after_writing_files(mt_model, mt_data, tmp_path):
    beta = {"arousal": 0.0, "dominance": 1.01, "valence": 0.0}
    with pytest.raises(CompressError, match=r"task dominance: dominance .* < 1\.0100"):
        export.export_int8(mt_model, mt_data, tmp_path, beta=beta, representative_samples=50)
    report = json.loads((tmp_path / export.REPORT_FILE).read_text())
    assert report["passed"] is False and report["failed_tasks"] == ["dominance"]
    assert (tmp_path / export.MODEL_FILE).exists() and (tmp_path / export.TEST_INPUT_FILE).exists()
    with pytest.raises(CompressError, match="tasks"):
        export.export_int8(mt_model, mt_data, tmp_path, beta={"arousal": 0.5})


# --- tflite-micro ------------------------------------------------------------------------------------------

def test_tflite_micro_runs_and_matches_every_output(shipped, mt_data):
    out, report, _ = shipped
    tflite = (out / export.MODEL_FILE).read_bytes()
    inp = report["input"]
    x = export.quantize(mt_data.x_test[:5], inp["scale"], inp["zero_point"])
    compared = tflm.compare_with_tflite(tflite, x)
    assert compared["outputs"] == 3 and compared["match"] and compared["max_abs_diff"] == [0, 0, 0]
    assert [o.shape for o in compared["tflm"]] == [(5, 2)] * 3
    assert np.array_equal(tflm.run_tflm(tflite, x), compared["tflm"][0])  # run_tflm: the first output, as before


# --- firmware ----------------------------------------------------------------------------------------------

def test_sketch_names_every_task_and_reads_each_from_its_output(shipped):
    out, report, result = shipped
    folder = out / result["sketch_dir"]
    ino = (folder / f"{folder.name}.ino").read_text()
    for task in TASKS:
        assert f'"{task}"' in ino
    order = [int(v) for v in ino.split("kTaskOutput[kNumTasks] = {")[1].split("}")[0].split(",")]
    assert [report["outputs"][i] for i in order] == list(TASKS)
    assert "kExpectedClasses[3]" in (folder / "test_image.h").read_text()
    assert result["tasks"] == list(TASKS) and result["outputs"] == report["outputs"]
    assert result["self_test_passed"] and result["tflm_matches_tflite"] and result["passed"]
    with np.load(out / export.TEST_INPUT_FILE) as npz:
        assert result["expected_class"] == {t: int(v) for t, v in zip(TASKS, npz["label"])}
    readme = (folder / "README.md").read_text()
    assert "3 int8 tensors, one per task" in readme and "$" not in readme.replace("$PWD", "")
    for i, task in enumerate(report["outputs"]):
        assert f"{i} {task} (scale" in readme
    for task in TASKS:
        assert f"{task}: " in readme  # the expected serial output, a line per task
    assert json.loads((folder / "firmware.json").read_text())["outputs"] == report["outputs"]
    assert "3 outputs" in firmware.summary_text(result)


def test_generic_library_returns_every_output(shipped, tmp_path):
    out, report, _ = shipped
    config = firmware.SketchConfig(board="generic", class_names=["low", "high"])
    result = firmware.generate_sketch(out / export.MODEL_FILE, tmp_path / "mt_generic", config)
    assert result["tasks"] == list(TASKS) and result["outputs"] == report["outputs"]  # from export.json beside
    header = (tmp_path / "mt_generic" / "model_runner.h").read_text()
    assert "#define MODEL_RUNNER_TASKS 3" in header and "model_runner_task_name" in header
    source = (tmp_path / "mt_generic" / "model_runner.cc").read_text()
    assert "interpreter->output(kTaskOutput[task])" in source


def test_firmware_without_export_json_takes_the_order_from_the_signature(shipped, tmp_path):
    out, report, _ = shipped
    lone = tmp_path / "lone" / "model.tflite"
    lone.parent.mkdir()
    lone.write_bytes((out / export.MODEL_FILE).read_bytes())
    result = firmware.generate_sketch(lone, tmp_path / "mt_lone", firmware.SketchConfig(class_names=["low", "high"],
                                      expected_class=[0, 1, 0], tasks=list(TASKS)))
    assert result["outputs"] == report["outputs"] and result["expected_class"] == {"arousal": 0, "dominance": 1,
                                                                                    "valence": 0}
    assert all(p["rule"] == "argmax" for p in result["decision"]["tasks"].values())
    with pytest.raises(CompressError, match="3 tasks"):
        firmware.generate_sketch(lone, tmp_path / "mt_bad",
                                 firmware.SketchConfig(expected_class=[0, 1], tasks=list(TASKS)))


# --- the emulated Cortex-M4 ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runner():
    missing = emulator.toolchain_missing()
    if missing:
        pytest.skip(f"emulator unavailable: {missing}")
    return emulator.runner("cmsis-nn")


def test_runner_lines_of_every_output_are_parsed():
    text = ("compress-runner 1\narena_used 10\nop 0 SOFTMAX 5\ninvoke 9\noutput 0 0 -3 5\noutput 0 1 7 -8\n"
            "output 0 2 1 2\ndone 1\n")
    parsed = emulator.parse_output(text)
    assert parsed["outputs"].tolist() == [[-3, 5]]
    assert {t: rows.tolist() for t, rows in parsed["tensors"].items()} == {0: [[-3, 5]], 1: [[7, -8]], 2: [[1, 2]]}


def test_emulated_run_gives_every_output_equal_to_the_interpreter(runner, shipped):
    out, _, _ = shipped
    run = emulator.emulate(out / export.MODEL_FILE, "cmsis-nn")
    assert len(run.all_outputs) == 3 and run.outputs_match is True and run.max_abs_diff == 0
    with np.load(out / export.TEST_INPUT_FILE) as npz:
        expected = export.run_tflite_outputs((out / export.MODEL_FILE).read_bytes(), npz["x"])
    assert all(np.array_equal(got, want) for got, want in zip(run.all_outputs, expected))
    assert len(run.to_dict()["all_outputs"]) == 3 and run.instructions > 0


def test_the_sketch_prints_a_label_per_task_in_qemu(runner, shipped):
    out, _, result = shipped
    ran = sketch_emulator.run_sketch(out / result["sketch_dir"])
    names = ["low", "high"]
    for task in TASKS:
        line = [s for s in ran["serial"].splitlines() if s.startswith(f"{task}: ")]
        assert len(line) == 1 and line[0].endswith("PASS"), ran["serial"]
        assert ran["predicted"][task] == names[result["tflm_predicted_class"][task]]
        assert ran["tasks"][task]["score"] == pytest.approx(
            result["tflm_scores"][task][result["tflm_predicted_class"][task]], abs=0.006)
    assert ran["passed"] and "self-test: 3 of 3 tasks as expected  PASS" in ran["serial"]
    assert "predicted arousal" in sketch_emulator.verdict_text(ran)
