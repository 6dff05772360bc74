"""Data sets as numpy arrays: synthetic-faces, FER2013 CSV, image folders and .npz; splits, augmentation, balance."""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compress import CompressError

SYNTHETIC = "synthetic-faces"
SYNTHETIC_VERSION = 1  # bump when the drawing changes, so old caches are not reused
SYNTHETIC_SAMPLES = 8000  # seed 001 used 8,000 images
SPLITS = ("train", "val", "test")
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER2013 codes 0-6
FER_SIDE = 48
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
log = logging.getLogger("compress.data")


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

    def at_input(self, input_shape) -> "Dataset":
        """The data as a model with this (H, W, C) input needs it: a reduced-resolution model gets resized images."""
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


@dataclass
class _Raw:
    """What a source loader returns before subset, binary task, label noise and splits are applied."""
    x: np.ndarray  # uint8 NHWC at the requested size and channels
    y: np.ndarray  # int64 codes into class_names
    class_names: tuple[str, ...]
    split: np.ndarray | None = None  # per image 0/1/2 (train/val/test) where the source says
    groups: np.ndarray | None = None  # per image group id (e.g. subject) for leave-one-group-out
    flip: np.ndarray | None = None  # synthetic only: whose label to flip, and a draw choosing the wrong class
    flip_draw: np.ndarray | None = None


# --- resizing ---------------------------------------------------------------------------------

def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of an antialiased linear resize (a triangle filter widened when shrinking)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    w = np.maximum(0.0, 1 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def resize_batch(x: np.ndarray, size: int) -> np.ndarray:
    """Resize a float NHWC batch to size x size with two matrix products: fast, no per-image loop."""
    rows, cols = _resize_matrix(x.shape[1], size), _resize_matrix(x.shape[2], size)
    return np.einsum("ih,nhwc,jw->nijc", rows, x.astype(np.float32), cols, optimize=True)


def _center_crop(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return x[:, top:top + side, left:left + side]


def _fit(x: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Center-crop to square, resize and set channels as seed 001 did; uint8 in, uint8 out."""
    if x.ndim == 3:
        x = x[..., None]
    x = _center_crop(x[..., :3])  # an alpha channel carries no class information
    if x.shape[-1] != channels:
        x = np.repeat(x, 3, axis=-1) if channels == 3 else (x[..., :3] @ np.float32([0.299, 0.587, 0.114]))[..., None]
    if x.shape[1] != size:
        x = resize_batch(x.astype(np.float32), size)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


# --- sources ----------------------------------------------------------------------------------

def cache_root(cache_dir=None) -> Path:
    return Path(cache_dir or os.environ.get("COMPRESS_CACHE") or Path.home() / ".cache" / "compress")


def _synthetic(task: str, positive, size: int, channels: int, samples: int | None, seed: int, cache_dir) -> _Raw:
    """Generated faces, cached as one .npz per parameter set so a second run only reads the file."""
    from compress import faces

    names = faces.EXPRESSIONS
    if task == "binary":  # half the faces show the positive expression: a balanced binary task
        pos = _resolve(positive or "happy", names, SYNTHETIC, "--positive")
        priors = tuple(0.5 if i == pos else 0.5 / (len(names) - 1) for i in range(len(names)))
    else:
        priors = (1 / len(names),) * len(names)
    params = dict(version=SYNTHETIC_VERSION, drawing=faces.fingerprint(), priors=[round(p, 6) for p in priors],
                  size=size, channels=channels, samples=samples or SYNTHETIC_SAMPLES, seed=seed)
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_root(cache_dir) / f"{SYNTHETIC}-{key}.npz"
    if path.exists():
        with np.load(path) as f:
            return _Raw(f["x"], f["y"], names, flip=f["flip"], flip_draw=f["flip_draw"])
    x, y, flip, draw = faces.generate(params["samples"], seed=seed, size=size, channels=channels, priors=priors)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, x=x, y=y, flip=flip, flip_draw=draw)
    os.replace(tmp, path)  # atomic: a concurrent run never reads half a file
    return _Raw(x, y, names, flip=flip, flip_draw=draw)


def _fer_csv(path: Path, size: int, channels: int) -> _Raw:
    """FER2013: emotion (0-6), pixels (48*48 space-separated), Usage (Training/PublicTest/PrivateTest)."""
    usage = {"training": 0, "publictest": 1, "privatetest": 2}
    xs, ys, split, groups = [], [], [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        missing = [c for c in ("emotion", "pixels") if c not in cols]
        if missing:
            raise CompressError(f"{path}: not a FER2013 CSV: missing column(s) {', '.join(missing)} "
                                f"(need emotion,pixels[,Usage]; found {', '.join(cols) or 'none'})")
        group_col = cols.get("group") or cols.get("subject")
        for row in reader:
            line = reader.line_num
            xs.append(_fer_pixels(row[cols["pixels"]], path, line))
            ys.append(_fer_emotion(row[cols["emotion"]], path, line))
            if "usage" in cols:
                u = (row[cols["usage"]] or "").strip().lower()
                if u not in usage:
                    raise CompressError(f"{path}: row {line}: Usage {u!r} is not Training, PublicTest or PrivateTest")
                split.append(usage[u])
            if group_col:
                groups.append(row[group_col])
    if not xs:
        raise CompressError(f"{path}: no rows")
    x = np.stack(xs).reshape(-1, FER_SIDE, FER_SIDE, 1)
    return _Raw(_fit(x, size, channels), np.array(ys, np.int64), FER_CLASSES,
                np.array(split) if split else None, np.array(groups) if groups else None)


def _fer_pixels(text: str, path: Path, line: int) -> np.ndarray:
    try:
        pixels = np.array((text or "").split(), dtype=np.float32)
    except ValueError:
        raise CompressError(f"{path}: row {line}: pixels are not all numbers") from None
    if pixels.size != FER_SIDE * FER_SIDE:
        raise CompressError(f"{path}: row {line}: {pixels.size} pixel values, expected 48x48 = {FER_SIDE ** 2}")
    if pixels.min() < 0 or pixels.max() > 255:
        raise CompressError(f"{path}: row {line}: pixel values must lie in 0..255")
    return pixels.astype(np.uint8)


def _fer_emotion(text: str, path: Path, line: int) -> int:
    try:
        code = int(text)
    except (TypeError, ValueError):
        code = -1
    if not 0 <= code < len(FER_CLASSES):
        raise CompressError(f"{path}: row {line}: emotion {text!r} is not a code 0-6 ({', '.join(FER_CLASSES)})")
    return code


def _read_image(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return np.asarray(img).reshape(size, size, channels)


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder(root: Path, size: int, channels: int) -> _Raw:
    """root/<class>/*.png, or root/{train,val,test}/<class>/*.png; center-crop, resize, gray or RGB."""
    subdirs = _class_dirs(root)
    has_splits = bool(subdirs) and {p.name for p in subdirs} <= set(SPLITS)
    parts = [(SPLITS.index(p.name), p) for p in subdirs] if has_splits else [(None, root)]
    names = tuple(sorted({c.name for _, part in parts for c in _class_dirs(part)}))
    if not names:
        raise CompressError(f"{root}: no class folders (expected {root}/<class>/*.png)")
    files, ys, split = [], [], []
    for s, part in parts:
        for cdir in _class_dirs(part):
            found = sorted(p for p in cdir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise CompressError(f"{cdir}: empty class folder (no {'/'.join(IMAGE_SUFFIXES)} images)")
            files += found
            ys += [names.index(cdir.name)] * len(found)
            split += [s] * len(found)
    xs, keep, bad = [], [], []
    for i, f in enumerate(files):
        try:
            xs.append(_read_image(f, size, channels))
            keep.append(i)
        except Exception as exc:  # Pillow raises several kinds for a corrupt file; we only need to skip it
            bad.append(f"{f} ({type(exc).__name__})")
    if not xs:
        raise CompressError(f"{root}: none of the {len(files)} images could be read, e.g. {bad[0]}")
    if bad:
        log.warning("%s: skipped %d unreadable image(s) of %d, e.g. %s", root, len(bad), len(files), bad[0])
    y = np.array(ys, np.int64)[keep]
    return _Raw(np.stack(xs), y, names, np.array(split)[keep] if has_splits else None)


def _npz(path: Path, size: int, channels: int) -> _Raw:
    """An .npz with x (N,H,W[,C], uint8 0-255 or float 0-1) and y (ints or names); optional split, group."""
    with np.load(path, allow_pickle=False) as f:
        if "x" not in f or "y" not in f:
            raise CompressError(f"{path}: an .npz data set needs arrays 'x' and 'y' (found {', '.join(f.files)})")
        x, y = f["x"], f["y"]
        split = f["split"] if "split" in f else None
        groups = f["group"] if "group" in f else None
        names = tuple(str(n) for n in f["class_names"]) if "class_names" in f else None
    if len(x) != len(y) or x.ndim not in (3, 4):
        raise CompressError(f"{path}: x must be (N,H,W[,C]) with one y per image; got x {x.shape}, y {y.shape}")
    if x.dtype.kind == "f":
        x = x * 255.0 if x.max() <= 1.0 else x
    if y.dtype.kind in "US":
        names = tuple(sorted(set(y.tolist())))
        y = np.array([names.index(v) for v in y.tolist()])
    names = names or tuple(str(c) for c in range(int(y.max()) + 1))
    if split is not None and split.dtype.kind in "US":
        bad = set(split.tolist()) - set(SPLITS)
        if bad:
            raise CompressError(f"{path}: split values must be train, val or test, not {sorted(bad)}")
        split = np.array([SPLITS.index(s) for s in split.tolist()])
    return _Raw(_fit(np.asarray(x, np.float32), size, channels), y.astype(np.int64), names, split, groups)


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


def _select(raw: _Raw, class_subset, positive, source: str) -> _Raw:
    """Keep a subset of classes, make the task binary, then drop classes that have no images."""
    y, names, keep = raw.y, raw.class_names, np.ones(len(raw.y), bool)
    codes = list(range(len(names)))  # classes and codes as the source numbers them (FER2013: 0-6)
    if class_subset:
        wanted = class_subset.split(",") if isinstance(class_subset, str) else list(class_subset)
        codes = sorted({_resolve(c, names, source, "--classes") for c in wanted if str(c).strip()})
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
    return _Raw(raw.x[keep], y[keep].astype(np.int64), names, pick(raw.split), pick(raw.groups),
                pick(raw.flip), pick(raw.flip_draw))


def _add_label_noise(y: np.ndarray, classes: int, flip: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Flipped labels move to another class chosen by `draw`: seed 001's 9 % annotation error, in any task."""
    other = (y + 1 + np.floor(draw * (classes - 1)).astype(np.int64)) % classes
    return np.where(flip, other, y)


def stratified_split(y: np.ndarray, seed: int, fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """Per image 0/1/2 (train/val/test), each class cut in the same proportions; deterministic from seed."""
    rng = np.random.default_rng([seed, 1])
    split = np.zeros(len(y), np.int64)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val, n_test = (max(1, round(f * len(idx))) if len(idx) >= 3 else 0 for f in fractions[1:])
        split[idx[:n_val]], split[idx[n_val:n_val + n_test]] = 1, 2
    return split


def group_split(groups: np.ndarray, holdout) -> np.ndarray:
    """Leave-one-group-out: `holdout` (e.g. a subject) is the test split, the next group in order is val."""
    names = sorted(set(np.asarray(groups).astype(str).tolist()))
    if str(holdout) not in names or len(names) < 3:
        raise CompressError(f"group {holdout!r} not among the groups ({', '.join(names)}), or fewer than 3 groups")
    val = names[(names.index(str(holdout)) + 1) % len(names)]
    g = np.asarray(groups).astype(str)
    return np.where(g == str(holdout), 2, np.where(g == val, 1, 0))


def _complete(split: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """A source that gives train but no val (or no test) lends 1/9 of its train images, stratified."""
    split = split.copy()
    for s in (1, 2):
        train = np.flatnonzero(split == 0)
        if not np.any(split == s) and len(train):
            part = stratified_split(y[train], seed + s, (0.0, 1 / 9, 0.0))
            split[train[part == 1]] = s
    return split


def _check(y: np.ndarray, split: np.ndarray, names: tuple[str, ...], source: str) -> None:
    if len(np.unique(y)) < 2:
        only = names[int(y[0])] if len(y) else "none"
        raise CompressError(f"{source}: a single class ({only}): ROC AUC is undefined; need at least two classes")
    for s, label in ((0, "train"), (1, "validation")):
        present = np.unique(y[split == s])
        if len(present) < 2:
            raise CompressError(f"{source}: the {label} split holds {len(present)} class(es) "
                                f"({sum(split == s)} images): AUC is undefined; add images or use other splits")


# --- the public entry points ------------------------------------------------------------------

def _source(source: str, task, positive, size, channels, samples, seed, cache_dir) -> _Raw:
    if source == SYNTHETIC:
        return _synthetic(task, positive, size, channels, samples, seed, cache_dir)
    path = Path(source)
    if not path.exists():
        raise CompressError(f"{source}: no such file or folder (and not '{SYNTHETIC}')")
    if path.is_dir():
        return _folder(path, size, channels)
    if path.suffix.lower() == ".csv":
        return _fer_csv(path, size, channels)
    if path.suffix.lower() == ".npz":
        return _npz(path, size, channels)
    raise CompressError(f"{source}: unknown data format; use a FER2013 .csv, an image folder or an .npz")


def load(source: str = SYNTHETIC, *, positive=None, class_subset=None, task: str = "binary", size: int = 48,
         channels: int = 1, samples: int | None = None, seed: int = 0, cache_dir=None,
         holdout_group=None) -> Dataset:
    """A data set split into train/val/test, x float32 in [0, 1] NHWC, y int64; binary tasks: positive is 1."""
    if task not in ("binary", "4class"):
        raise CompressError(f"task must be 'binary' or '4class', not {task!r}")
    if source == SYNTHETIC and task == "binary" and positive is None:
        positive = "happy"  # seed 001's "smiles back"
    raw = _select(_source(source, task, positive, size, channels, samples, seed, cache_dir),
                  class_subset, positive, source)
    y = raw.y
    if raw.flip is not None:
        y = _add_label_noise(y, len(raw.class_names), raw.flip, raw.flip_draw)
    if holdout_group is not None:
        if raw.groups is None:
            raise CompressError(f"{source}: no group column (group/subject) for leave-one-group-out")
        split = group_split(raw.groups, holdout_group)
    elif raw.split is not None:
        split = _complete(raw.split, y, seed)
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


def load_from_args(args) -> Dataset:
    """load() from the CLI's data options (_add_data_args); `data inspect` passes the source positionally."""
    source = getattr(args, "path", None) or getattr(args, "data", None) or SYNTHETIC
    return load(source, positive=args.positive, class_subset=args.class_subset, task=args.task, size=args.size,
                channels=args.channels, samples=args.samples, seed=args.seed,
                holdout_group=getattr(args, "holdout_group", None))


# --- training-time helpers --------------------------------------------------------------------

def _warp(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Shift (up to 10 %) and rotate (up to 15 degrees) each image, bilinear, edges repeated."""
    n, h, w, c = x.shape
    angle = np.where(rng.uniform(size=n) < p, rng.uniform(-15, 15, n), 0.0) * np.pi / 180
    shift = np.where(rng.uniform(size=(n, 1)) < p, rng.uniform(-0.1, 0.1, (n, 2)) * (h, w), 0.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy - (h - 1) / 2, xx - (w - 1) / 2
    cos, sin = (f(angle).astype(np.float32)[:, None, None] for f in (np.cos, np.sin))  # float32 halves the time
    shift = shift.astype(np.float32)
    sy = cos * yy - sin * xx + (h - 1) / 2 - shift[:, 0, None, None]
    sx = sin * yy + cos * xx + (w - 1) / 2 - shift[:, 1, None, None]
    fy, fx = (sy - np.floor(sy))[..., None], (sx - np.floor(sx))[..., None]
    y0, x0 = np.floor(sy).astype(np.int32), np.floor(sx).astype(np.int32)
    flat, base = x.reshape(-1, c), (np.arange(n) * h * w)[:, None, None]

    def at(dy, dx):
        iy = np.clip(y0 + dy, 0, h - 1)
        ix = np.clip(x0 + dx, 0, w - 1)
        return flat[base + iy * w + ix]

    top = at(0, 0) * (1 - fx) + at(0, 1) * fx
    bottom = at(1, 0) * (1 - fx) + at(1, 1) * fx
    return top * (1 - fy) + bottom * fy


def _blur(x: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Blend each image with its 3x3 binomial blur by `amount` (0 = sharp)."""
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    rows = (pad[:, :-2] + 2 * pad[:, 1:-1] + pad[:, 2:]) / 4
    blurred = (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 4
    a = amount[:, None, None, None]
    return x * (1 - a) + blurred * a


def augment(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Seed 001's five augmentations, each applied to an image with probability p: shift, rotation, blur,
    noise, lighting (brightness and contrast). Training batches only; same shape, values kept in [0, 1]."""
    out = np.empty(x.shape, np.float32)
    for start in range(0, len(x), 1024):  # chunks bound the memory of the coordinate grids
        b = _warp(x[start:start + 1024].astype(np.float32), rng, p)
        n = len(b)
        on = lambda: rng.uniform(size=n) < p  # noqa: E731
        b = _blur(b, np.where(on(), rng.uniform(0.3, 1.0, n), 0.0))
        contrast = np.where(on(), rng.uniform(0.7, 1.3, n), 1.0)[:, None, None, None]
        bright = np.where(on(), rng.uniform(-0.15, 0.15, n), 0.0)[:, None, None, None]
        mean = b.mean(axis=(1, 2, 3), keepdims=True)
        b = (b - mean) * contrast + mean + bright
        sigma = np.where(on(), rng.uniform(0.0, 0.05, n), 0.0)[:, None, None, None]
        b = b + rng.standard_normal(b.shape, dtype=np.float32) * sigma
        out[start:start + n] = np.clip(b, 0.0, 1.0)
    return out


def balance(x: np.ndarray, y: np.ndarray, how: str, rng: np.random.Generator):
    """(x, y, class_weight or None): 'oversample' repeats minority images up to the largest class's count;
    'class-weight' leaves the data and weights each class by total / (classes x count); 'none' does nothing."""
    classes, counts = np.unique(y, return_counts=True)
    if how in (None, "none"):
        return x, y, None
    if how == "class-weight":
        return x, y, {int(c): float(len(y) / (len(classes) * n)) for c, n in zip(classes, counts)}
    if how == "oversample":
        idx = [np.concatenate([np.flatnonzero(y == c), rng.choice(np.flatnonzero(y == c), counts.max() - n)])
               for c, n in zip(classes, counts)]
        idx = rng.permutation(np.concatenate(idx))
        return x[idx], y[idx], None
    raise CompressError(f"balance must be oversample, class-weight or none, not {how!r}")


# --- looking at a data set --------------------------------------------------------------------

def summary(ds: Dataset) -> dict:
    """Counts per split and class, image shape and the imbalance ratio (largest / smallest class)."""
    counts = ds.class_counts()
    totals = {c: sum(counts[s][c] for s in SPLITS) for c in ds.class_names}
    return {"name": ds.name, "input_shape": list(ds.input_shape), "class_names": list(ds.class_names),
            "counts": counts, "class_totals": totals, "images": sum(totals.values()),
            "imbalance_ratio": round(max(totals.values()) / max(min(totals.values()), 1), 3)}


def contact_sheet(ds: Dataset, path, per_class: int = 8, scale: int = 2) -> Path:
    """A PNG with one row of training samples per class, labelled, so a person can check what was loaded."""
    from PIL import Image, ImageDraw

    h, w, c = ds.input_shape
    cell, label_w, gap = (h * scale, w * scale), 110, 2
    sheet = Image.new("RGB", (label_w + per_class * (cell[0] + gap), ds.classes * (cell[1] + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(ds.class_names):
        top = row * (cell[1] + gap)
        draw.text((4, top + cell[1] // 2 - 6), name, fill="black")
        for col, i in enumerate(np.flatnonzero(ds.y_train == row)[:per_class]):
            pixels = np.round(ds.x_train[i] * 255).astype(np.uint8)
            img = Image.fromarray(pixels[..., 0] if c == 1 else pixels).convert("RGB")
            sheet.paste(img.resize(cell, Image.NEAREST), (label_w + col * (cell[0] + gap), top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def write_folder(ds: Dataset, out) -> int:
    """Write every image as out/<split>/<class>/<split>_<n>.png, the layout the folder loader reads back."""
    from PIL import Image

    n = 0
    for s in SPLITS:
        x, y = ds.split(s)
        for name in ds.class_names:
            (Path(out) / s / name).mkdir(parents=True, exist_ok=True)
        for i, (img, label) in enumerate(zip(np.round(x * 255).astype(np.uint8), y)):
            Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(
                Path(out) / s / ds.class_names[label] / f"{s}_{i:05d}.png")
            n += 1
    return n
