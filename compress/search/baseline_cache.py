"""Baselines trained once: a zoo or spec baseline trained from scratch is kept, and the next run on the same data
with the same settings starts from it, as a user's run starts from the model they bring.

The key names everything the training depended on: the spec, the data's arrays, the seed, the baseline's learning
rate, batch size, epoch limit, augmentation, balance and task weights. A hit is looked up first among the
baselines committed with the code (models/baselines/, made by scripts/commit_baseline.py: the embedded default's,
so a fresh clone's first run trains no baseline), then in the cache (<cache root>/baselines/). --retrain-baseline
trains anew and replaces the cached copy.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from compress import CompressError, files
from compress.data.base import cache_root

COMMITTED = Path(__file__).resolve().parents[2] / "models" / "baselines"


def key(spec, data, train, settings, augment: bool) -> str:
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_val, data.y_val):
        digest.update(str((array.shape, str(array.dtype))).encode())
        digest.update(array.tobytes())
    params = {"spec": spec.key, "data": digest.hexdigest(), "seed": settings.seed, "balance": settings.balance,
              "lr": train.baseline_lr, "batch_size": train.batch_size, "epochs": train.baseline_epochs,
              "augment": augment, "task_weights": train.task_weights}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def find(name: str, cache_dir=None) -> tuple[Path, dict] | None:
    """(the weights file, what its training recorded) of a kept baseline, or None."""
    for folder in (COMMITTED, cache_root(cache_dir) / "baselines"):
        weights, record = folder / f"{name}.weights.h5", folder / f"{name}.json"
        if weights.is_file() and record.is_file():
            return weights, files.read_json(record)
    return None


def store(name: str, weights: Path, record: dict, cache_dir=None) -> Path | None:
    """Keep a freshly trained baseline's weights and record (the record last: a half-kept entry is never found);
    a full disk or a read-only cache loses the copy, never the run."""
    folder = cache_root(cache_dir) / "baselines"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files.write_with(folder / f"{name}.weights.h5", lambda path: without_optimizer(weights, path),
                         size_hint=Path(weights).stat().st_size)
        files.write_json(folder / f"{name}.json", record)
    except (OSError, CompressError):
        return None
    return folder / f"{name}.weights.h5"


def without_optimizer(weights: Path, out: Path) -> None:
    """A copy of a .weights.h5 without the Adam moments Keras saves beside the weights: a third of the size, and
    nothing a model that is only scored or fine-tuned anew needs."""
    import h5py

    with h5py.File(weights, "r") as source, h5py.File(out, "w") as copy:
        for name, value in source.attrs.items():
            copy.attrs[name] = value
        for name in source:
            if name != "optimizer":
                source.copy(name, copy)
