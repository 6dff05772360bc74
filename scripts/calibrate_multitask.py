"""Difficulty check of synthetic-multitask: a small shared-trunk CNN should land at test AUC 0.70-0.85 per task,
and at chance with shuffled training labels.

    python scripts/calibrate_multitask.py [--epochs 10] [--seed 0] [--subjects 20] [--no-shuffled]

The model: Conv2D(16, (5, 1)) + BN + ReLU, Conv2D(32, (5, 1)) + BN + ReLU, global average pooling, dropout, and
one sigmoid head per task (binary cross-entropy each, summed); Adam 1e-3, batch 64. The epoch kept is the one
with the best mean validation AUC; the test AUC of each task is that epoch's. --shuffled permutes the rows of the
training labels (every task's link to the windows broken, the class balance kept).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from compress.config import DataConfig  # noqa: E402
from compress.data.multitask import SYNTHETIC_MULTITASK, load_multitask  # noqa: E402


def build(input_shape, tasks, seed: int):
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (16, 32):
        x = keras.layers.Conv2D(filters, (5, 1), padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Dropout(0.3)(keras.layers.GlobalAveragePooling2D()(x))
    outputs = [keras.layers.Dense(1, activation="sigmoid", name=t)(x) for t in tasks]
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), loss=["binary_crossentropy"] * len(tasks))
    return model


def aucs(model, x, y) -> np.ndarray:
    scores = model.predict(x, batch_size=512, verbose=0)
    return np.array([roc_auc_score(y[:, k], np.ravel(s)) for k, s in enumerate(scores)])


def run(data, epochs: int, seed: int, shuffled: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(val AUCs, test AUCs, epoch) at the epoch of the best mean validation AUC."""
    y_train = data.y_train[np.random.default_rng(seed).permutation(len(data.y_train))] if shuffled else data.y_train
    model = build(data.input_shape, data.tasks, seed)
    best = (-1.0, None, None, 0)
    for epoch in range(1, epochs + 1):
        model.fit(data.x_train, [y_train[:, k] for k in range(len(data.tasks))], batch_size=64, epochs=1,
                  verbose=0, shuffle=True)
        val = aucs(model, data.x_val, data.y_val)
        if val.mean() > best[0]:
            best = (val.mean(), val, aucs(model, data.x_test, data.y_test), epoch)
    return best[1], best[2], best[3]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subjects", type=int, default=20)
    p.add_argument("--no-shuffled", action="store_true", help="skip the shuffled-label control")
    args = p.parse_args()
    start = time.monotonic()
    data = load_multitask(DataConfig(source=SYNTHETIC_MULTITASK, seed=args.seed, subjects=args.subjects))
    print(f"{data.name}: {len(data.y_train)} train, {len(data.y_val)} val, {len(data.y_test)} test windows of "
          f"{data.input_shape}; test subjects {', '.join(data.test_subjects)} ({time.monotonic() - start:.1f} s)")
    for shuffled in (False, True)[:1 if args.no_shuffled else 2]:
        start = time.monotonic()
        val, test, epoch = run(data, args.epochs, args.seed, shuffled)
        label = "shuffled labels" if shuffled else "labels"
        print(f"{label:>15}: epoch {epoch}, " + ", ".join(f"{t} val {v:.3f} test {s:.3f}"
                                                          for t, v, s in zip(data.tasks, val, test))
              + f" ({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
