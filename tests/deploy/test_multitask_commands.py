"""The `export` and `firmware` commands next to a multi-task model (one softmax output per task): export takes K
outputs for the data's K tasks, firmware reads test_input.npz's label per task and writes a sketch naming them."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from compress import CompressError, cli, commands
from compress.deploy import export
from tests.deploy.test_multitask_deploy import TASKS, _data, _model


@pytest.fixture(scope="module")
def mt_data():
    return _data()


@pytest.fixture(scope="module")
def exported(mt_data, tmp_path_factory):
    """(folder, model): `compress export` of a tiny trained 3-output model, scored on the fake multi-task data set
    (load() returns it; the command, its checks and its files are the real ones)."""
    import tf_keras as keras

    from compress.data import dataset

    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(mt_data.x_train, [mt_data.y_train[:, k] for k in range(len(TASKS))], batch_size=32, epochs=1,
              verbose=0, shuffle=False)
    folder = tmp_path_factory.mktemp("mt_export")
    model.save(folder / "mt.keras")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dataset, "load", lambda config, **kw: mt_data)
        assert cli.main(["export", str(folder / "mt.keras"), "--data", "synthetic-multitask"]) == 0
    return folder, model


def test_export_command_takes_one_output_per_task(exported):
    folder, _ = exported
    report = json.loads((folder / export.REPORT_FILE).read_text())
    assert report["tasks"] == list(TASKS) and sorted(report["outputs"]) == sorted(TASKS)
    with np.load(folder / export.TEST_INPUT_FILE) as npz:
        assert list(npz["tasks"]) == list(TASKS) and npz["label"].shape == (3,)


def test_the_model_must_have_an_output_per_task_of_the_data(exported, mt_data):
    _, model = exported
    commands._check_model_fits_data(Path("mt.keras"), model, mt_data)
    with pytest.raises(CompressError, match=r"3 output\(s\) but the data mt-random has 2 tasks"):
        commands._check_model_fits_data(Path("mt.keras"), model, replace(mt_data, tasks=TASKS[:2]))
    with pytest.raises(CompressError, match="has one task"):
        commands._check_model_fits_data(Path("mt.keras"), model, replace(mt_data, tasks=()))
    with pytest.raises(CompressError, match="the model has 2 outputs but the data .* has 3 classes"):
        commands._check_model_fits_data(Path("mt.keras"), model, replace(mt_data, class_names=("a", "b", "c")))


def test_firmware_command_on_the_export_names_every_task(exported, tmp_path, capsys):
    folder, _ = exported
    out = tmp_path / "mt_apollo3"
    assert cli.main(["firmware", str(folder / export.MODEL_FILE), "--out", str(out)]) == 0
    ino = (out / "mt_apollo3.ino").read_text()
    assert all(f'"{task}"' in ino for task in TASKS) and "kNumTasks" in ino
    assert "Reset()" not in ino  # no LSTM: no state to reset
    result = json.loads((out / "firmware.json").read_text())
    with np.load(folder / export.TEST_INPUT_FILE) as npz:
        assert result["expected_class"] == {str(t): int(v) for t, v in zip(npz["tasks"], npz["label"])}
    assert result["tasks"] == list(TASKS) and result["self_test_passed"]
    printed = capsys.readouterr().out
    assert all(f"built-in test window, {task}: " in printed for task in TASKS)
