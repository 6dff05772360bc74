import os
import random

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state, so a failure reproduces."""
    random.seed(0)
    np.random.seed(0)
    yield


# --- one small trained model shared by the export and firmware tests -----------------------------

def blob_images(n: int, size: int = 24, seed: int = 0):
    """Gray noise with a 6x6 patch, brighter (class 1) or darker (class 0): learnable, but not in one step."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.uniform(0.0, 0.6, (n, size, size, 1)).astype(np.float32)
    for i in range(n):
        r, c = rng.integers(3, size - 3, 2)
        x[i, r - 3:r + 3, c - 3:c + 3, 0] += 0.25 if y[i] else -0.15
    return np.clip(x, 0.0, 1.0), y.astype(np.int64)


@pytest.fixture(scope="session")
def blob_data():
    """A 24x24x1 binary Dataset: 200 train, 60 val, 100 test images."""
    from compress.data.dataset import Dataset

    x, y = blob_images(360)
    return Dataset("blobs", ("dim", "bright"), x[:200], y[:200], x[200:260], y[200:260], x[260:], y[260:])


@pytest.fixture(scope="session")
def trained_model(blob_data):
    """zoo embedded3 at 24x24x1 (conv+BN+ReLU, max-pools, flatten, dropout, dense), 4 epochs: test AUC ~0.95."""
    import tf_keras as keras

    from compress.models import zoo
    from compress.models.keras_build import build_model

    model = build_model(zoo.embedded3((24, 24, 1), 2), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(blob_data.x_train, blob_data.y_train, batch_size=32, epochs=4, verbose=0, shuffle=False)
    # 28 steps leave BN's moving variance (momentum 0.99, starting at 1) far from the data's (~0.01), so the
    # inference-mode model would call every image one class. Set the population statistics directly.
    bn = model.get_layer("bn1")
    activations = keras.Model(model.input, bn.input).predict(blob_data.x_train, verbose=0)
    bn.moving_mean.assign(activations.mean(axis=(0, 1, 2)))
    bn.moving_variance.assign(activations.var(axis=(0, 1, 2)))
    return model


@pytest.fixture(scope="session")
def exported(trained_model, blob_data, tmp_path_factory):
    """export_int8 of the shared model: (folder, report)."""
    from compress.deploy import export

    out = tmp_path_factory.mktemp("export")
    return out, export.export_int8(trained_model, blob_data, out, representative_samples=100, seed=0)


@pytest.fixture(scope="session")
def tiny_loso_run(tmp_path_factory):
    """(exit status, run folder) of a tiny `search --loso` on 4 generated subjects (a 4-filter 3 x 1 conv over the
    (20, 1, 4) windows), through int8, TFLite Micro and the sketch: shared by the LOSO and wearable-report tests.
    The data and the TFLM build live in the CLI's own cache (keyed by their parameters), as a user's would."""
    from compress.cli import main
    from compress.models.spec import Layer, ModelSpec

    root = tmp_path_factory.mktemp("loso")
    spec = ModelSpec((20, 1, 4), 2, (Layer("conv", "conv1", units=4, kernel=3), Layer("bn", "bn1"),
                                     Layer("relu", "relu1"), Layer("flatten", "flatten")), name="small")
    (root / "small.json").write_text(spec.to_json())
    code = main(["search", "--data", "synthetic-wearables", "--subjects", "4", "--loso", "--baseline",
                 str(root / "small.json"), "--epochs", "1", "--final-epochs", "2", "--baseline-epochs", "2", "--baseline-lr", "3e-3",
                 "--max-evals", "3", "--finalists", "1", "--budget-flops", "12000", "--auc-ratio", "0.1", "--no-families",
                 "--out", str(root / "run")])
    return code, root / "run"
