"""Images from an .npz (x, y and optional split, group, class_names), every array checked as it is read."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress import CompressError
from compress.config import MAX_CLASS_CODE
from compress.data.images import SPLITS, RawImages, fit_images

NPZ_KEYS = ("x", "y", "split", "group", "class_names")


def read_npz(path: Path, size: int, channels: int) -> RawImages:
    """An .npz with x (N,H,W[,C], uint8 0-255 or float 0-1) and y (ints or names); optional split, group,
    class_names. Every array is checked here, so a bad one is one line naming the file (and image)."""
    arrays = _npz_arrays(path)
    x, y = arrays["x"], arrays["y"]
    if x.dtype.kind not in "uif" or x.ndim not in (3, 4) or 0 in x.shape:
        raise CompressError(f"{path}: x must be a non-empty (N,H,W[,C]) array of numbers; got {x.dtype} {x.shape}")
    if x.ndim == 4 and x.shape[-1] not in (1, 3, 4):
        raise CompressError(f"{path}: x has {x.shape[-1]} channels; expected 1 (gray), 3 (RGB) or 4 (RGBA)")
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != len(x):
        hint = "; y looks one-hot: give one class index per image, e.g. y.argmax(1)" if y.ndim == 2 else ""
        raise CompressError(f"{path}: need one label per image: x {x.shape}, y {y.shape}{hint}")
    x = _npz_pixels(x, path)
    y, names = _npz_labels(y, arrays.get("class_names"), path)
    split, groups = _npz_split(arrays.get("split"), len(x), path), arrays.get("group")
    if groups is not None and groups.shape != (len(x),):
        raise CompressError(f"{path}: 'group' must hold one value per image: {groups.shape} for {len(x)} images")
    return RawImages(fit_images(x, size, channels, path), y, names, split, groups)


def _npz_arrays(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            found = set(f.files)
            if not {"x", "y"} <= found:
                raise CompressError(f"{path}: an .npz data set needs arrays 'x' and 'y' (found {', '.join(f.files)})")
            return {key: _npz_array(f, key, path) for key in NPZ_KEYS if key in found}
    except CompressError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy's header parser each raise their own kind for a corrupt file
        raise CompressError(f"{path}: not a readable .npz ({type(exc).__name__}: {str(exc)[:120]})") from None


def _npz_array(f, key: str, path: Path) -> np.ndarray:
    try:
        return f[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise CompressError(f"{path}: array {key!r} holds Python objects (dtype object); save plain numbers "
                                "or strings (e.g. np.uint8 images, np.int64 labels)") from None
        raise


def _npz_pixels(x: np.ndarray, path: Path) -> np.ndarray:
    """float32 pixels in 0..255: floats in 0..1 are scaled; NaN, inf or values outside the range are refused."""
    flat = x.reshape(len(x), -1)
    bad = ~np.isfinite(flat).all(1) if x.dtype.kind == "f" else np.zeros(len(x), bool)
    if bad.any():
        raise CompressError(f"{path}: image {int(np.argmax(bad))}: NaN or infinite pixel values")
    top = 1.0 if x.dtype.kind == "f" and x.max() <= 1.0 else 255
    bad = (flat.min(1) < 0) | (flat.max(1) > top)
    if bad.any():
        i = int(np.argmax(bad))
        raise CompressError(f"{path}: image {i}: pixel values {flat[i].min():g}..{flat[i].max():g} outside 0..1 "
                            "(float) or 0..255")
    return x.astype(np.float32) * (255.0 if top == 1.0 else 1.0)


def _npz_labels(y: np.ndarray, class_names, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """int64 class indices and the class names: y as names (strings) or codes, checked against class_names."""
    names = None if class_names is None else tuple(str(n) for n in np.asarray(class_names).reshape(-1))
    if names is not None and (not names or len(set(names)) != len(names)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise CompressError(f"{path}: class_names must be distinct and non-empty; repeated: {dupes}")
    if y.dtype.kind in "US":
        names = names or tuple(sorted(set(y.tolist())))
        unknown = [i for i, v in enumerate(y.tolist()) if v not in names]
        if unknown:
            raise CompressError(f"{path}: image {unknown[0]}: label {y[unknown[0]]!r} is not in class_names")
        return np.array([names.index(v) for v in y.tolist()], np.int64), names
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not (np.isfinite(y) & (y == np.round(y))).all()):
        raise CompressError(f"{path}: labels y must be whole class indices or class names, not {y.dtype}")
    y = y.astype(np.int64)
    if names is None and len(y) and not 0 <= int(y.max()) <= MAX_CLASS_CODE:  # codes name their classes 0..max
        i = int(np.argmax(y))
        raise CompressError(f"{path}: image {i}: label {y[i]} is not a class code 0..{MAX_CLASS_CODE} (give "
                            "class_names for more classes)")
    names = names or tuple(str(c) for c in range(int(y.max()) + 1))
    bad = (y < 0) | (y >= len(names))
    if bad.any():
        i = int(np.argmax(bad))
        raise CompressError(f"{path}: image {i}: label {y[i]} is not a class index 0..{len(names) - 1}")
    return y, names


def _npz_split(split, n: int, path: Path) -> np.ndarray | None:
    if split is None:
        return None
    if split.shape != (n,):
        raise CompressError(f"{path}: 'split' must hold one value per image: {split.shape} for {n} images")
    if split.dtype.kind in "US":
        bad = set(split.tolist()) - set(SPLITS)
        if bad:
            raise CompressError(f"{path}: split values must be train, val or test, not {sorted(bad)}")
        return np.array([SPLITS.index(s) for s in split.tolist()])
    if split.dtype.kind not in "iu" or not np.isin(split, (0, 1, 2)).all():
        raise CompressError(f"{path}: split values must be 0, 1, 2 or train, val, test")
    return split.astype(np.int64)
