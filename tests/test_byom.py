"""Bring your own model: a functional Keras model with a residual add and a separable conv, trained here, is searched
to a FLOPs budget from its own weights, exported to int8 and run in TFLite Micro; bad files are one line."""
import json
import zipfile

import numpy as np
import pytest

from compress import CompressError
from compress.config import DataConfig, ExportConfig, RunConfig, SearchConfig, Targets, TrainConfig

DATA = DataConfig(size=24, samples=300)


def user_model(classes: int = 2):
    """What a user might bring: stem conv, a separable-conv residual block with a 1x1 shortcut, GAP, Dense."""
    import tf_keras as keras

    L = keras.layers
    x = inputs = keras.Input((24, 24, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    shortcut = L.Conv2D(16, 1, padding="same")(x)
    y = L.SeparableConv2D(16, 3, padding="same")(x)
    y = L.BatchNormalization()(y)
    x = L.ReLU()(L.Add()([y, shortcut]))
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(classes, activation="softmax")(x), name="users_net")


@pytest.fixture(scope="module")
def user_h5(tmp_path_factory):
    """user_model trained for 2 epochs on the generated faces at 24x24 and saved as .h5."""
    import tf_keras as keras

    from compress.data.dataset import load

    data = load(DATA)
    keras.utils.set_random_seed(0)
    model = user_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, batch_size=32, epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("user") / "users_net.h5"
    model.save(path)
    return path


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_search_from_the_users_weights_to_a_budget_then_int8_in_tflm(user_h5, tmp_path):
    from compress import jobs
    from compress.deploy import export, tflm
    from compress.models.keras_io import keras_cost, load_keras

    baseline_flops = keras_cost(load_keras(user_h5)).flops
    config = RunConfig(data=DATA, targets=Targets(budget_flops=baseline_flops * 0.6),
                       train=TrainConfig(epochs=1, final_epochs=1, batch_size=32),
                       search=SearchConfig(baseline=str(user_h5), max_evals=6, patience=None, finalists=1),
                       export=ExportConfig(enabled=False))
    out = tmp_path / "run"
    assert jobs.search(config, str(out)) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert rows[0]["epochs"] == 0  # the user's weights were scored as given, not retrained
    assert summary["baseline_preparation"]["new_head"] is False
    assert summary["final"]["flops"] <= baseline_flops * 0.6
    assert all(row["inherited"] for row in rows[1:])
    from compress.data.dataset import load

    data = load(DATA)
    report = export.export_int8(load_keras(out / "best.keras"), data, tmp_path / "int8", representative_samples=50)
    tflite = (tmp_path / "int8" / export.MODEL_FILE).read_bytes()
    with np.load(tmp_path / "int8" / export.TEST_INPUT_FILE) as sample:
        x = sample["x"]
    np.testing.assert_array_equal(tflm.run_tflm(tflite, x), export.run_tflite(tflite, x))
    assert report["metrics"]["int8"]["auc"] is not None


def test_a_seven_class_model_gets_a_new_head_for_a_binary_task(tmp_path):
    import tf_keras as keras

    from compress.data.dataset import load
    from compress.search import transfer
    from compress.search.train import Trainer

    path = tmp_path / "seven.hdf5"
    user_model(classes=7).save(path, save_format="h5")
    imported = transfer.import_baseline(str(path))
    data = load(DATA)
    trainer = Trainer(data, TrainConfig(epochs=1, batch_size=32))
    spec, model, record = transfer.prepare(imported, data, trainer, log=lambda m: None)
    assert spec.classes == 2 and record["new_head"] and [p["epochs"] for p in record["phases"]] == [1, 1]
    assert record["phases"][0]["steps"] == int(np.ceil(len(data.y_train) / 32))
    original = keras.models.load_model(path, compile=False)
    trunk = original.layers[-2].name  # the GAP before the classifier: the trunk is frozen in phase one
    assert model.get_layer(trunk).output.shape[-1] == 16


def _keras_zip(path, config: dict):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", "{}")


def test_a_config_naming_another_module_is_refused_before_import(tmp_path, monkeypatch):
    import sys

    from compress.models.safe_load import load_keras

    evil = {"module": "keras.layers", "class_name": "Dense", "config": {
        "activation": {"module": "evil_module_xyz", "class_name": "system", "config": "echo hi"}}}
    _keras_zip(tmp_path / "evil.keras", evil)
    with pytest.raises(CompressError, match="names module 'evil_module_xyz'"):
        load_keras(tmp_path / "evil.keras")
    assert "evil_module_xyz" not in sys.modules
    _keras_zip(tmp_path / "os.keras", {"module": "os", "class_name": "system", "config": {}})
    with pytest.raises(CompressError, match="names module 'os'"):
        load_keras(tmp_path / "os.keras")


@pytest.mark.parametrize("build, message", [
    ("two_inputs", "has 2 inputs"), ("regression", "is not a classifier"), ("leaky", r"unsupported layers: .*LeakyReLU"),
])
def test_models_we_cannot_search_are_one_line(build, message):
    import tf_keras as keras

    from compress.models.keras_import import import_keras

    L = keras.layers
    a = keras.Input((8, 8, 1))
    if build == "two_inputs":
        b = keras.Input((8, 8, 1))
        model = keras.Model([a, b], L.Dense(2)(L.Flatten()(L.Add()([a, b]))))
    elif build == "regression":
        model = keras.Model(a, L.Dense(1)(L.Flatten()(L.Conv2D(2, 3)(a))))
    else:
        model = keras.Model(a, L.Dense(2)(L.Flatten()(L.LeakyReLU()(L.Conv2D(2, 3)(a)))))
    with pytest.raises(CompressError, match=message) as info:
        import_keras(model, "m.h5")
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_a_keras_model_is_one_line(tmp_path):
    from compress.models.safe_load import load_keras

    (tmp_path / "notes.h5").write_text("hello")
    with pytest.raises(CompressError, match="not a Keras model"):
        load_keras(tmp_path / "notes.h5")
