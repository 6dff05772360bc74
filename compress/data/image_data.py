"""Image sources as a Dataset: generated faces, a FER2013 CSV, an image folder or an .npz -> classes, label noise,
train/val/test splits. Each source only reads its images (RawImages); what follows is the same for all of them."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from compress import CompressError, files
from compress.config import SYNTHETIC_FACES as SYNTHETIC, DataConfig
from compress.console import Progress
from compress.data import faces
from compress.data.base import Dataset, cache_path
from compress.data.images import SPLITS, RawImages, check_image_memory, log, read_fer_csv, read_folder
from compress.data.npz import read_npz
from compress.data.splits import complete_split, group_split, stratified_split

SYNTHETIC_VERSION = 1  # bump when the drawing changes, so old caches are not reused
SYNTHETIC_SAMPLES = 8000  # the cs231n study (Shved 2019) used 8,000 images
TASKS = ("binary", "4class")  # synthetic-faces' tasks (config.task)


# --- the sources: each reads its images -------------------------------------------------------

def _positive(config: DataConfig):
    """--positive, or the cs231n study's "smiles back" (happy) for the generated faces' binary task."""
    if config.source == SYNTHETIC and config.task == "binary" and config.positive is None:
        return "happy"
    return config.positive


def read_synthetic(config: DataConfig, cache_dir=None) -> RawImages:
    """Generated faces, cached as one .npz per parameter set so a second run only reads the file."""
    names, positive = faces.EXPRESSIONS, _positive(config)
    if config.task == "binary":  # half the faces show the positive expression: a balanced binary task
        pos = _resolve(positive or "happy", names, SYNTHETIC, "--positive")
        priors = tuple(0.5 if i == pos else 0.5 / (len(names) - 1) for i in range(len(names)))
    else:
        priors = (1 / len(names),) * len(names)
    samples = SYNTHETIC_SAMPLES if config.samples is None else config.samples
    params = dict(version=SYNTHETIC_VERSION, drawing=faces.fingerprint(), priors=[round(p, 6) for p in priors],
                  size=config.size, channels=config.channels, samples=samples, seed=config.seed)
    path = cache_path(SYNTHETIC, params, cache_dir)
    try:
        with np.load(path) as f:
            return RawImages(f["x"], f["y"], names, flip=f["flip"], flip_draw=f["flip_draw"])
    except Exception:  # noqa: BLE001 - missing, or a damaged cache (a full disk before writes were atomic): remake
        pass
    check_image_memory(SYNTHETIC, samples, config.size, config.channels)
    drawn = Progress(samples, "drew {done:,}/{total:,} faces", f"generating {samples:,} synthetic face images of "
                     f"{config.size}x{config.size} pixels (first run with these settings only; cached in {path})",
                     lines=4)
    x, y, flip, draw = faces.generate(samples, seed=config.seed, size=config.size, channels=config.channels,
                                      priors=priors, progress=drawn)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y, flip=flip, flip_draw=draw)
    files.write_bytes(path, buffer.getvalue())  # atomic: a concurrent run never reads half a file
    return RawImages(x, y, names, flip=flip, flip_draw=draw)


def read_image_folder(config: DataConfig, cache_dir=None) -> RawImages:
    return read_folder(Path(config.source), config.size, config.channels)


def read_fer(config: DataConfig, cache_dir=None) -> RawImages:
    return read_fer_csv(Path(config.source), config.size, config.channels)


def read_images_npz(config: DataConfig, cache_dir=None) -> RawImages:
    return read_npz(Path(config.source), config.size, config.channels)


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


# --- the data set -----------------------------------------------------------------------------

def check_task(config: DataConfig) -> None:
    if config.task not in TASKS:
        raise CompressError(f"task must be 'binary' or '4class', not {config.task!r}")


def load_images(config: DataConfig, read, cache_dir=None) -> Dataset:
    """The images `read(config, cache_dir)` gives, split into train/val/test: x float32 in [0, 1] NHWC, y int64;
    binary tasks: positive is 1."""
    source, positive, seed = config.source, _positive(config), config.seed
    check_task(config)
    raw = read(config, cache_dir)
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
