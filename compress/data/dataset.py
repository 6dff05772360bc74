"""Dataset: train/val/test arrays from any source (generated faces, FER2013 CSV, image folders, .npz)."""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compress import CompressError, files
from compress.config import SYNTHETIC_FACES as SYNTHETIC, DataConfig
from compress.data.images import SPLITS, RawImages, read_fer_csv, read_folder, log, resize_batch
from compress.data.npz import read_npz
from compress.data.splits import complete_split, group_split, stratified_split

SYNTHETIC_VERSION = 1  # bump when the drawing changes, so old caches are not reused
SYNTHETIC_SAMPLES = 8000  # the cs231n study (Shved 2019) used 8,000 images


@dataclass
class Dataset:
    name: str
    class_names: tuple[str, ...]  # binary tasks: ("not-happy", "happy"): the positive class is index 1
    x_train: np.ndarray  # float32 in [0, 1], NHWC
    y_train: np.ndarray  # int64 class indices
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    _resized: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def at_input(self, input_shape, rate_divisor: int = 1) -> "Dataset":
        """The data as a model with this (H, W, C) input needs it: a reduced-resolution model gets resized images
        (rate_divisor: sensor windows only, wearable_data.windows_at)."""
        h, w, c = (int(d) for d in input_shape)
        if (h, w, c) == self.input_shape:
            return self
        if h != w or c != self.input_shape[2]:
            raise CompressError(f"model input {h}x{w}x{c} does not fit data {self.name} of {self.input_shape}")
        return self.resized(h)

    def resized(self, size: int) -> "Dataset":
        """All splits at size x size; memoised because the search asks for the same few sizes again and again."""
        if size == self.input_shape[0]:
            return self
        if size not in self._resized:
            xs = {f"x_{s}": resize_batch(self.split(s)[0], size) for s in SPLITS}
            ys = {f"y_{s}": self.split(s)[1] for s in SPLITS}
            self._resized[size] = Dataset(f"{self.name}@{size}", self.class_names, **xs, **ys)
        return self._resized[size]

    def class_counts(self) -> dict:
        return {s: {c: int(np.sum(self.split(s)[1] == i)) for i, c in enumerate(self.class_names)} for s in SPLITS}



# --- sources ----------------------------------------------------------------------------------

def cache_root(cache_dir=None) -> Path:
    return Path(cache_dir or os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compress")


def _synthetic(task: str, positive, size: int, channels: int, samples: int | None, seed: int, cache_dir) -> RawImages:
    """Generated faces, cached as one .npz per parameter set so a second run only reads the file."""
    from compress.data import faces

    names = faces.EXPRESSIONS
    if task == "binary":  # half the faces show the positive expression: a balanced binary task
        pos = _resolve(positive or "happy", names, SYNTHETIC, "--positive")
        priors = tuple(0.5 if i == pos else 0.5 / (len(names) - 1) for i in range(len(names)))
    else:
        priors = (1 / len(names),) * len(names)
    params = dict(version=SYNTHETIC_VERSION, drawing=faces.fingerprint(), priors=[round(p, 6) for p in priors],
                  size=size, channels=channels, samples=SYNTHETIC_SAMPLES if samples is None else samples, seed=seed)
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_root(cache_dir) / f"{SYNTHETIC}-{key}.npz"
    try:
        with np.load(path) as f:
            return RawImages(f["x"], f["y"], names, flip=f["flip"], flip_draw=f["flip_draw"])
    except Exception:  # noqa: BLE001 - missing, or a damaged cache (a full disk before writes were atomic): remake
        pass
    x, y, flip, draw = faces.generate(params["samples"], seed=seed, size=size, channels=channels, priors=priors)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y, flip=flip, flip_draw=draw)
    files.write_bytes(path, buffer.getvalue())  # atomic: a concurrent run never reads half a file
    return RawImages(x, y, names, flip=flip, flip_draw=draw)



# --- classes, labels and splits ---------------------------------------------------------------

def _resolve(name, names: tuple[str, ...], source: str, option: str) -> int:
    """A class given by name (any case) or by its code."""
    text = str(name).strip()
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    if text.isdigit() and int(text) < len(names):
        return int(text)
    raise CompressError(f"{source}: unknown class {text!r} for {option}; classes: "
                        + ", ".join(f"{i}={n}" for i, n in enumerate(names)))


def _select(raw: RawImages, class_subset, positive, source: str) -> RawImages:
    """Keep a subset of classes, make the task binary, then drop classes that have no images."""
    y, names, keep = raw.y, raw.class_names, np.ones(len(raw.y), bool)
    codes = list(range(len(names)))  # classes and codes as the source numbers them (FER2013: 0-6)
    if class_subset:
        wanted = class_subset.split(",") if isinstance(class_subset, str) else list(class_subset)
        codes = sorted({_resolve(c, names, source, "--classes") for c in wanted if str(c).strip()})
        if not codes:
            raise CompressError(f"{source}: --classes {class_subset!r} names no class")
        keep = np.isin(y, codes)
        y, names = np.searchsorted(codes, np.where(keep, y, codes[0])), tuple(names[c] for c in codes)
    if positive is not None:
        code = _resolve(positive, raw.class_names, source, "--positive")
        if code not in codes:
            raise CompressError(f"{source}: --positive {positive} is not among --classes {class_subset}")
        pos = codes.index(code)
        y, names = (y == pos).astype(np.int64), (f"not-{names[pos]}", names[pos])
    present = np.unique(y[keep])
    if len(present) < len(names):
        log.warning("%s: no images of %s; dropped", source, ", ".join(names[c] for c in range(len(names))
                                                                      if c not in present))
    y, names = np.searchsorted(present, y), tuple(names[c] for c in present)
    pick = lambda a: None if a is None else a[keep]  # noqa: E731
    return RawImages(raw.x[keep], y[keep].astype(np.int64), names, pick(raw.split), pick(raw.groups),
                pick(raw.flip), pick(raw.flip_draw))


def _add_label_noise(y: np.ndarray, classes: int, flip: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Flipped labels move to another class chosen by `draw`: the cs231n study's 9 % annotation error, in any task."""
    other = (y + 1 + np.floor(draw * (classes - 1)).astype(np.int64)) % classes
    return np.where(flip, other, y)



def _check_raw(raw: RawImages, source: str) -> None:
    """What every source must deliver: images, distinct class names (any case), labels indexing them."""
    lowered = [str(n).lower() for n in raw.class_names]
    if len(set(lowered)) != len(lowered):
        raise CompressError(f"{source}: class names repeat (ignoring case): {', '.join(raw.class_names)}")
    if not len(raw.y) or len(raw.y) != len(raw.x):
        raise CompressError(f"{source}: no images, or not one label per image ({len(raw.x)} images, "
                            f"{len(raw.y)} labels)")
    bad = (raw.y < 0) | (raw.y >= len(raw.class_names))
    if bad.any():
        raise CompressError(f"{source}: image {int(np.argmax(bad))}: label {raw.y[bad][0]} is not a class index "
                            f"0..{len(raw.class_names) - 1}")


def _check(y: np.ndarray, split: np.ndarray, names: tuple[str, ...], source: str) -> None:
    if len(np.unique(y)) < 2:
        only = names[int(y[0])] if len(y) else "none"
        raise CompressError(f"{source}: a single class ({only}): ROC AUC is undefined; need at least two classes")
    for s, label in ((0, "train"), (1, "validation")):
        present = np.unique(y[split == s])
        if len(present) < 2:
            raise CompressError(f"{source}: the {label} split holds {len(present)} class(es) "
                                f"({sum(split == s)} images): AUC is undefined; add images or use other splits")


def _multitask(config: DataConfig, cache_dir) -> Dataset:
    """Multi-task windows, y (N, K); one task (--tasks valence) is an ordinary single-label data set."""
    from dataclasses import replace

    from compress.data import multitask

    tasks = tuple(config.tasks.split(",")) if config.tasks else None  # None: every task the data labels
    data = multitask.load_multitask(config.source, tasks, rate_hz=config.rate_hz, window_s=config.window_s,
                                    hop_s=config.hop_s, seed=config.seed, subjects=config.subjects or 20,
                                    source_rate=config.source_rate, holdout_subject=config.holdout_group,
                                    cache_dir=cache_dir)
    if len(data.tasks) > 1:
        return data
    ys = {f"y_{s}": data.split(s)[1][:, 0] for s in SPLITS}
    return replace(data, class_names=tuple(f"{c}-{data.tasks[0]}" for c in data.class_names), tasks=(), **ys)


# --- the public entry points ------------------------------------------------------------------

def _source(source: str, task, positive, size, channels, samples, seed, cache_dir) -> RawImages:
    if source == SYNTHETIC:
        return _synthetic(task, positive, size, channels, samples, seed, cache_dir)
    path = Path(source)
    if not path.exists():
        raise CompressError(f"{source}: no such file or folder (and not '{SYNTHETIC}')")
    if path.is_dir():
        return read_folder(path, size, channels)
    if path.suffix.lower() == ".csv":
        return read_fer_csv(path, size, channels)
    if path.suffix.lower() == ".npz":
        return read_npz(path, size, channels)
    raise CompressError(f"{source}: unknown data format; use a FER2013 .csv, an image folder or an .npz")


def load(config: DataConfig = DataConfig(), *, cache_dir=None) -> Dataset:
    """A data set split into train/val/test, x float32 in [0, 1] NHWC, y int64; binary tasks: positive is 1."""
    from compress.data import multitask, wearable_data  # sensor windows (signals.py): their own preparation, splits

    if wearable_data.is_signal_source(config.source):
        return wearable_data.load_signals(config, cache_dir=cache_dir)
    if multitask.is_multitask_source(config.source):
        return _multitask(config, cache_dir)
    source, positive, seed = config.source, config.positive, config.seed
    if config.task not in ("binary", "4class"):
        raise CompressError(f"task must be 'binary' or '4class', not {config.task!r}")
    if source == SYNTHETIC and config.task == "binary" and positive is None:
        positive = "happy"  # the cs231n study's "smiles back"
    raw = _source(source, config.task, positive, config.size, config.channels, config.samples, seed, cache_dir)
    _check_raw(raw, source)
    raw = _select(raw, config.class_subset, positive, source)
    y = raw.y
    if raw.flip is not None:
        y = _add_label_noise(y, len(raw.class_names), raw.flip, raw.flip_draw)
    if config.holdout_group is not None:
        if raw.groups is None:
            raise CompressError(f"{source}: no group column (group/subject) for leave-one-group-out")
        split = group_split(raw.groups, config.holdout_group)
    elif raw.split is not None:
        split = complete_split(raw.split, y, seed)
    else:
        split = stratified_split(y, seed)
    _check(y, split, raw.class_names, source)
    rng = np.random.default_rng([seed, 2])
    parts = {}
    for i, s in enumerate(SPLITS):
        idx = rng.permutation(np.flatnonzero(split == i))  # folders come sorted by class: shuffle each split
        parts[f"x_{s}"], parts[f"y_{s}"] = raw.x[idx].astype(np.float32) / 255, y[idx]
    name = SYNTHETIC if source == SYNTHETIC else Path(source).name
    return Dataset(name, raw.class_names, **parts)
