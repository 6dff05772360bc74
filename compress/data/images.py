"""Image files in, uint8 arrays out: FER2013 CSV, image folders (root/<class>/*.png) and .npz, cropped and resized."""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress import CompressError

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER2013 codes 0-6
FER_SIDE = 48
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SPLITS = ("train", "val", "test")  # split codes 0, 1, 2 in that order
MAX_IMAGE_BYTES = 8 << 30  # a data set as float32: 8 GiB at most (--size 100000 once asked for 186 GiB)
log = logging.getLogger("compress.data")


@dataclass
class RawImages:
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


def check_image_memory(where, count: int, size: int, channels: int) -> None:
    """CompressError before `count` images of size x size x channels pass MAX_IMAGE_BYTES as float32 (what training
    reads): --size and --samples each in range can still ask for too much together."""
    need = 4 * count * size * size * channels
    if need > MAX_IMAGE_BYTES:
        raise CompressError(f"{where}: {count} images at --size {size} ({size}x{size}x{channels}) would take "
                            f"{need / 2**30:.1f} GiB as float32 (at most {MAX_IMAGE_BYTES >> 30} GiB); give a smaller "
                            "--size or fewer images")


def fit_images(x: np.ndarray, size: int, channels: int, where="the images") -> np.ndarray:
    """Center-crop to square, resize and set channels as the cs231n study (Shved 2019) did; uint8 in, uint8 out."""
    check_image_memory(where, len(x), size, channels)
    if x.ndim == 3:
        x = x[..., None]
    x = _center_crop(x[..., :3])  # an alpha channel carries no class information
    if x.shape[-1] != channels:
        x = np.repeat(x, 3, axis=-1) if channels == 3 else (x[..., :3] @ np.float32([0.299, 0.587, 0.114]))[..., None]
    if x.shape[1] != size:
        x = resize_batch(x.astype(np.float32), size)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)



def read_fer_csv(path: Path, size: int, channels: int) -> RawImages:
    """FER2013: emotion (0-6), pixels (48*48 space-separated), Usage (Training/PublicTest/PrivateTest).

    UTF-8 with or without a byte-order mark (Excel writes one); a non-UTF-8 file or broken quoting is one line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            xs, ys, split, groups = _fer_rows(csv.DictReader(f, strict=True), path)
    except UnicodeDecodeError:
        raise CompressError(f"{path}: line {_first_non_utf8_line(path)}: not UTF-8 text; save the CSV as UTF-8") \
            from None
    except csv.Error as exc:  # in the header row; _fer_rows names the row for the others
        raise CompressError(f"{path}: row 1: not valid CSV ({exc})") from None
    if not xs:
        raise CompressError(f"{path}: no rows")
    x = np.stack(xs).reshape(-1, FER_SIDE, FER_SIDE, 1)
    return RawImages(fit_images(x, size, channels, path), np.array(ys, np.int64), FER_CLASSES,
                     np.array(split) if split else None, np.array(groups) if groups else None)


def _fer_rows(reader: csv.DictReader, path: Path) -> tuple[list, list, list, list]:
    usage = {"training": 0, "publictest": 1, "privatetest": 2}
    xs, ys, split, groups = [], [], [], []
    cols = {c.strip().lower(): c for c in reader.fieldnames or []}
    missing = [c for c in ("emotion", "pixels") if c not in cols]
    if missing:
        raise CompressError(f"{path}: not a FER2013 CSV: missing column(s) {', '.join(missing)} "
                            f"(need emotion,pixels[,Usage]; found {', '.join(cols) or 'none'})")
    group_col = cols.get("group") or cols.get("subject")
    for line, row in _csv_rows(reader, path):
        xs.append(_fer_pixels(row[cols["pixels"]], path, line))
        ys.append(_fer_emotion(row[cols["emotion"]], path, line))
        if "usage" in cols:
            u = (row[cols["usage"]] or "").strip().lower()
            if u not in usage:
                raise CompressError(f"{path}: row {line}: Usage {u!r} is not Training, PublicTest or PrivateTest")
            split.append(usage[u])
        if group_col:
            groups.append(row[group_col])
    return xs, ys, split, groups


def _csv_rows(reader: csv.DictReader, path: Path):
    """(line, row) pairs; broken quoting is one line naming the row where the bad field began."""
    rows = iter(reader)
    while True:
        start = reader.line_num + 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CompressError(f"{path}: row {start}: not valid CSV ({exc}); an unclosed quote?") from None
        yield reader.line_num, row


def _first_non_utf8_line(path: Path) -> int:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _fer_pixels(text: str, path: Path, line: int) -> np.ndarray:
    try:
        pixels = np.array((text or "").split(), dtype=np.float32)
    except ValueError:
        raise CompressError(f"{path}: row {line}: pixels are not all numbers") from None
    if pixels.size != FER_SIDE * FER_SIDE:
        raise CompressError(f"{path}: row {line}: {pixels.size} pixel values, expected 48x48 = {FER_SIDE ** 2}")
    if not np.isfinite(pixels).all():
        raise CompressError(f"{path}: row {line}: NaN or infinite pixel values")
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


def read_folder(root: Path, size: int, channels: int) -> RawImages:
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
    check_image_memory(root, len(files), size, channels)
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
    return RawImages(np.stack(xs), y, names, np.array(split)[keep] if has_splits else None)
