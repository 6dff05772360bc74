"""Difficulty check of synthetic-faces: AlexNet should score a validation AUC of 0.85-0.95, a tiny net clearly less.

    .venv/bin/python scripts/calibrate_data.py [--samples 8000] [--epochs 10] [--seed 0] [--models alexnet:1e-4,...]

Plain tf_keras Adam + sparse categorical cross-entropy, batch 64, no augmentation. Each model is NAME:LR.
The zoo AlexNet (no batch norm) does not train at Adam 1e-3 on [0, 1] inputs on any of our data: its first
conv's ReLUs die within ~20 steps and it predicts a constant (AUC 0.5). Hence alexnet:1e-4 by default.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sklearn.metrics import roc_auc_score  # noqa: E402

from compress.config import DataConfig  # noqa: E402
from compress.data import dataset  # noqa: E402
from compress.models import zoo  # noqa: E402
from compress.models.keras_build import build_model  # noqa: E402
from compress.models.spec import Layer, ModelSpec  # noqa: E402


def tiny(input_shape, classes) -> ModelSpec:
    """One 3x3 conv with 2 filters and the dense head: a deliberately weak model."""
    return ModelSpec(input_shape, classes, (Layer("conv", "c", units=2, kernel=3), Layer("relu", "r"),
                                            Layer("flatten", "f")), name="tiny")


def val_auc(spec: ModelSpec, ds: dataset.Dataset, epochs: int, lr: float, seed: int) -> tuple[float, float]:
    """(validation AUC of the positive class's probability, seconds spent training)."""
    import tf_keras as keras

    model = build_model(spec, seed=seed)
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy")
    start = time.perf_counter()
    model.fit(ds.x_train, ds.y_train, batch_size=64, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    prob = model.predict(ds.x_val, batch_size=256, verbose=0)[:, 1]
    return float(roc_auc_score(ds.y_val, prob)), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=dataset.SYNTHETIC_SAMPLES)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default="alexnet:1e-4,tiny:1e-3,alexnet:1e-3",
                   help="comma-separated NAME:LEARNING_RATE; NAME a zoo baseline or 'tiny'")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as cache:  # a fresh cache, so generation is timed too
        start = time.perf_counter()
        ds = dataset.load(DataConfig(samples=args.samples, seed=args.seed), cache_dir=cache)
        print(f"generated {args.samples} images in {time.perf_counter() - start:.1f} s; "
              f"train/val/test {len(ds.y_train)}/{len(ds.y_val)}/{len(ds.y_test)}", flush=True)
    for item in args.models.split(","):
        name, lr = item.split(":") if ":" in item else (item, "1e-3")
        spec = tiny(ds.input_shape, ds.classes) if name == "tiny" else zoo.get(name, ds.input_shape, ds.classes)
        auc, seconds = val_auc(spec, ds, args.epochs, float(lr), args.seed)
        print(f"{name} (Adam {lr}): val AUC {auc:.3f} after {args.epochs} epochs ({seconds:.0f} s training)",
              flush=True)


if __name__ == "__main__":
    main()
