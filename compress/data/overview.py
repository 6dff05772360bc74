"""Looking at a data set: counts per split and class, a contact sheet, and the images written out as a folder."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from compress import files
from compress.data.base import Dataset
from compress.data.images import SPLITS


def summary(ds: Dataset) -> dict:
    """Counts per split and class, image shape and the imbalance ratio (largest / smallest class)."""
    counts = ds.class_counts()
    if ds.tasks:  # multi-task windows: each task's low and high are the rows
        counts = {s: {f"{c}-{t}": n for t, per in per_task.items() for c, n in per.items()}
                  for s, per_task in ds.task_counts().items()}
    names = list(counts["train"])
    totals = {c: sum(counts[s][c] for s in SPLITS) for c in names}
    return {"name": ds.name, "input_shape": list(ds.input_shape), "class_names": names,
            "tasks": list(ds.tasks),
            "counts": counts, "class_totals": totals, "images": sum(len(ds.split(s)[1]) for s in SPLITS),
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
    png = io.BytesIO()
    sheet.save(png, format="PNG")
    return files.write_bytes(path, png.getvalue())


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


def summary_text(info: dict) -> str:
    """`data inspect`'s table: images per class and split, the imbalance ratio and the contact sheet."""
    names = info["class_names"]
    h, w, c = info["input_shape"]
    what = f"{len(info['tasks'])} tasks x 2 classes" if info.get("tasks") else f"{len(names)} classes"
    lines = [f"{info['name']}: {info['images']} {'windows' if w == 1 else 'images'}, {h}x{w}x{c}, {what}"]
    width = max(len(n) for n in [*names, "class", "total"])
    lines.append(f"{'class':<{width}} {'train':>7} {'val':>7} {'test':>7} {'total':>7}")
    for name in names:
        row = [info["counts"][s][name] for s in SPLITS] + [info["class_totals"][name]]
        lines.append(f"{name:<{width}} " + " ".join(f"{n:>7}" for n in row))
    if not info.get("tasks"):  # one label per sample (with several tasks the rows overlap)
        totals = [sum(info["counts"][s].values()) for s in SPLITS] + [info["images"]]
        lines.append(f"{'total':<{width}} " + " ".join(f"{n:>7}" for n in totals))
    lines.append(f"imbalance ratio (largest / smallest class): {info['imbalance_ratio']:.2f}")
    lines.append(f"contact sheet: {info['contact_sheet']}")
    return "\n".join(lines)
