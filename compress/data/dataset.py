"""load(config): a data set from any source, found in a table of (accepts, load) pairs, one row per source kind.

Rows are tried in order, so a folder is first asked whether it is a K-EmoCon or multi-task CSV folder before it
is read as an image folder. Dataset and cache_root live in base.py; they are re-exported here for old callers.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

from compress import CompressError
from compress.config import SYNTHETIC_FACES as SYNTHETIC, DataConfig
from compress.data import image_data, multitask, wearable_data
from compress.data.base import Dataset, cache_root  # noqa: F401 - the public names of this module
from compress.data.image_data import SYNTHETIC_SAMPLES  # noqa: F401 - the public names of this module
from compress.data.images import SPLITS  # noqa: F401 - a public name of this module too


def _multitask(config: DataConfig, cache_dir=None) -> Dataset:
    """Multi-task windows, y (N, K); one task (--tasks valence) is an ordinary single-label data set."""
    data = multitask.load_multitask(config, cache_dir=cache_dir)
    if len(data.tasks) > 1:
        return data
    ys = {f"y_{s}": data.split(s)[1][:, 0] for s in SPLITS}
    return replace(data, class_names=tuple(f"{c}-{data.tasks[0]}" for c in data.class_names), tasks=(), **ys)


def _file(suffix: str):
    """accepts: an existing file (not a folder) whose name ends in suffix (any case)."""
    return lambda source: Path(source).exists() and not Path(source).is_dir() and Path(source).suffix.lower() == suffix


SOURCES = (  # (accepts(source), load(config, cache_dir)): the first row that accepts a source loads it
    (wearable_data.is_signal_source, wearable_data.load_signals),  # synthetic-wearables, a K-EmoCon folder
    (multitask.is_multitask_source, _multitask),  # synthetic-multitask, a folder of one CSV per subject
    (lambda source: source == SYNTHETIC, partial(image_data.load_images, read=image_data.read_synthetic)),
    (lambda source: Path(source).is_dir(), partial(image_data.load_images, read=image_data.read_image_folder)),
    (_file(".csv"), partial(image_data.load_images, read=image_data.read_fer)),
    (_file(".npz"), partial(image_data.load_images, read=image_data.read_images_npz)),
)


def _unknown(config: DataConfig) -> CompressError:
    """What no row accepts: a missing path, or a file of another format (after --task, as image sources check)."""
    image_data.check_task(config)
    if not Path(config.source).exists():
        return CompressError(f"{config.source}: no such file or folder (and not '{SYNTHETIC}')")
    return CompressError(f"{config.source}: unknown data format; use a FER2013 .csv, an image folder or an .npz")


def load(config: DataConfig = DataConfig(), *, cache_dir=None) -> Dataset:
    """A data set split into train/val/test, x float32 in [0, 1] NHWC (images) or (N, T, 1, C) windows, y int64;
    binary tasks: positive is 1."""
    for accepts, load_source in SOURCES:
        if accepts(config.source):
            return load_source(config, cache_dir=cache_dir)
    raise _unknown(config)
