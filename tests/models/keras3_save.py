"""Run by test_keras3_files.py in a child WITHOUT TF_USE_LEGACY_KERAS: Keras 3 itself saves the test models
(.keras and .h5) and its own predictions on fixed inputs (predictions.npz) into the folder given."""
import sys
from pathlib import Path

import keras
import numpy as np

L = keras.layers


def randomise(model, rng):
    """Weights away from their initial values (BN statistics included), so the rebuilt model is really tested."""
    for v in model.weights:
        if not v.path.startswith("normalization"):  # adapted (its statistics are set by adapt, not by assign)
            v.assign(np.abs(rng.normal(1, 0.3, v.shape)) if "variance" in v.path else rng.normal(0, 0.3, v.shape))


def sequential_cnn():
    return keras.Sequential([keras.Input((16, 16, 1)), L.Rescaling(1 / 255), L.Conv2D(6, 3, activation="relu"),
                             L.BatchNormalization(), L.MaxPooling2D(), L.Conv2D(8, 3, strides=2, padding="same"),
                             L.ReLU(max_value=6.0), L.Flatten(), L.Dropout(0.2), L.Dense(4, activation="softmax")],
                            name="k3_cnn")


def residual_sepconv():
    a = keras.Input((16, 16, 3))
    norm = L.Normalization()
    norm.adapt(np.random.default_rng(1).uniform(0, 4, (32, 16, 16, 3)).astype("float32"))
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(norm(a))
    x = L.Activation("relu")(L.BatchNormalization()(x))
    y = L.SeparableConv2D(8, 3, padding="same")(x)
    y = L.DepthwiseConv2D(3, padding="same")(y)
    x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(2)(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(a, L.Dense(3)(x), name="k3_residual")


def with_lambda():
    a = keras.Input((8, 8, 1))
    x = L.Lambda(lambda t: t * 2.0, name="doubler")(L.Conv2D(2, 3)(a))
    return keras.Model(a, L.Dense(2)(L.Flatten()(x)))


def main(folder: Path) -> None:
    rng = np.random.default_rng(0)
    predictions = {}
    for build in (sequential_cnn, residual_sepconv):
        model = build()
        randomise(model, rng)
        x = rng.uniform(0, 255 if build is sequential_cnn else 1, (5, *model.input_shape[1:])).astype("float32")
        for suffix in (".keras", ".h5"):
            model.save(folder / f"{build.__name__}{suffix}")
        predictions[f"{build.__name__}_x"] = x
        predictions[f"{build.__name__}_y"] = model.predict(x, verbose=0)
    with_lambda().save(folder / "with_lambda.keras")
    np.savez(folder / "predictions.npz", **predictions)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
