"""Keras 3 files in: saved by Keras 3 itself (a child without TF_USE_LEGACY_KERAS), rebuilt in tf_keras from the
checked config with weights read by h5py, and equal to Keras 3's own predictions."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from compress import CompressError

MODELS = ("sequential_cnn", "residual_sepconv")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    pytest.importorskip("keras", minversion="3.0")
    folder = tmp_path_factory.mktemp("keras3")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    script = Path(__file__).with_name("keras3_save.py")
    done = subprocess.run([sys.executable, str(script), str(folder)], env=env, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"Keras 3 could not save the test models: {done.stderr.strip().splitlines()[-1:]}")
    return folder, dict(np.load(folder / "predictions.npz"))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name", MODELS)
def test_keras3_files_give_keras3s_outputs(saved, name, suffix):
    from compress.models.safe_load import load_keras

    folder, predictions = saved
    model = load_keras(folder / f"{name}{suffix}")
    np.testing.assert_allclose(model.predict(predictions[f"{name}_x"], verbose=0), predictions[f"{name}_y"],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_keras3_files_import_into_specs_with_their_weights(saved, name):
    import tensorflow as tf

    from compress.models.cost import cost_of
    from compress.models.keras_build import build_model
    from compress.models.keras_import import set_weights
    from compress.search import transfer

    folder, predictions = saved
    imported = transfer.import_baseline(str(folder / f"{name}.keras"))
    rebuilt = build_model(imported.spec)
    set_weights(rebuilt, imported.weights)
    expected = predictions[f"{name}_y"]
    if name == "residual_sepconv":  # logits out: the spec adds the softmax
        expected = tf.nn.softmax(expected).numpy()
    np.testing.assert_allclose(rebuilt.predict(predictions[f"{name}_x"], verbose=0), expected, rtol=1e-4, atol=1e-5)
    assert cost_of(str(folder / f"{name}.h5")).params == rebuilt.count_params()


def test_a_refused_layer_in_a_keras3_file_is_one_line_naming_it(saved):
    from compress.models.safe_load import load_keras

    folder, _ = saved
    with pytest.raises(CompressError, match="refused: layer 'doubler' is a Lambda") as info:
        load_keras(folder / "with_lambda.keras")
    assert "\n" not in str(info.value)


def _edited(source, target, edit):
    with zipfile.ZipFile(source) as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    edit(config["config"]["layers"][2]["config"])
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(target, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return target


@pytest.mark.parametrize("field, value, message", [
    ("kernel_initializer", {"module": "evil_module_k3", "class_name": "system", "config": {}, "registered_name": None},
     "names module 'evil_module_k3'"),
    ("activation", "exec", "layer 'conv2d' names activation 'exec'"),
])
def test_a_keras3_config_naming_foreign_code_is_refused_before_import(saved, tmp_path, field, value, message):
    from compress.models.safe_load import load_keras

    folder, _ = saved
    path = _edited(folder / "sequential_cnn.keras", tmp_path / "evil.keras", lambda c: c.update({field: value}))
    with pytest.raises(CompressError, match=message):
        load_keras(path)
    assert "evil_module_k3" not in sys.modules
