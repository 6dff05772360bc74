"""test_input.npz, the one input the firmware's built-in self-test runs: its one writer and its one reader.

Arrays, in this order: x: int8 (1, H, W, C), already quantized with the model's input scale and zero point;
label: its true class; predicted: the int8 model's class for it; index: its row in the test split; class_names:
the data set's class names. A multi-task export's (data with `tasks`) is the test window the int8 model gets right
on the most tasks, with label and predicted int64 (K,), one class per task in `tasks` order (the data's, not the
TFLite outputs'); tasks: the task names; correct: on how many tasks predicted == label.
A hand-made file needs only x and label (class_names and tasks optional)."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress import CompressError, files

TEST_INPUT_FILE = "test_input.npz"


@dataclass(frozen=True, eq=False)
class SelfTestInput:
    """What test_input.npz holds; label and predicted one class each (single task) or one per task."""
    x: np.ndarray
    label: np.ndarray
    predicted: np.ndarray | None = None
    index: int | None = None
    class_names: tuple[str, ...] | None = None
    tasks: tuple[str, ...] | None = None  # a multi-task export's; None for a single task
    correct: int | None = None  # a multi-task export's: on how many tasks predicted == label

    @property
    def expected(self) -> int | dict[str, int]:
        """The class the firmware's self-test expects: one, or {task: class} for a multi-task export."""
        if self.tasks is not None:
            return dict(zip(self.tasks, (int(v) for v in np.asarray(self.label).reshape(-1))))
        return int(np.asarray(self.label).reshape(-1)[0])


def write_test_input(path, sample: SelfTestInput) -> None:
    """Write test_input.npz (atomically) in the layout above: a single-task file has no tasks and correct."""
    arrays = {"x": sample.x, "label": np.asarray(sample.label, np.int64),
              "predicted": np.asarray(sample.predicted, np.int64), "index": np.int64(sample.index),
              "class_names": np.array(list(sample.class_names))}
    if sample.tasks is not None:
        arrays.update(tasks=np.array(list(sample.tasks)), correct=np.int64(sample.correct))
    buffer = io.BytesIO()  # np.savez seeks: written whole, then to disk in one atomic step
    np.savez(buffer, **arrays)
    files.write_bytes(Path(path), buffer.getvalue())


def read_test_input(path) -> SelfTestInput:
    """test_input.npz, checked: x numeric, one whole-number label (one per task when it names tasks); else one
    CompressError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            found = {k: np.asarray(npz[k]) for k in npz.files}
            image, label = found["x"], found["label"]
    except Exception as exc:  # zipfile, zlib, numpy's header parser and a missing key all raise their own kind
        raise CompressError(f"{path}: not a readable test input ({type(exc).__name__}: {str(exc)[:100]}); "
                            "delete it or export the model again") from None
    strings = lambda key: tuple(str(v) for v in found[key].reshape(-1)) if key in found else None  # noqa: E731
    tasks = strings("tasks")
    wanted = "one whole-number 'label'" if tasks is None else f"a whole-number 'label' per task ({len(tasks)})"
    if image.dtype.kind not in "iuf" or label.size != len(tasks or [0]) or label.dtype.kind not in "iu" or tasks == ():
        raise CompressError(f"{path}: needs 'x' (a numeric image) and {wanted}; got x {image.dtype} and label "
                            f"{label.dtype} {label.shape}; delete it or export again")
    if not np.isfinite(image).all() or (label < 0).any() or image.size == 0:
        raise CompressError(f"{path}: 'x' must be a non-empty image of finite numbers and 'label' >= 0; delete it "
                            "or export again")
    number = lambda key: int(found[key]) if key in found and found[key].size == 1 and \
        found[key].dtype.kind in "iu" else None  # noqa: E731
    return SelfTestInput(x=image, label=label, predicted=found.get("predicted"), index=number("index"),
                         class_names=strings("class_names"), tasks=tasks, correct=number("correct"))


def check_fits(path, sample: SelfTestInput, info: dict) -> None:
    """The test input beside a model must fit it (an image of its input size, classes among its outputs, one name
    per class): one line naming the file otherwise, before any firmware is written."""
    size, classes = int(np.prod(info["input"]["shape"][1:])), int(np.prod(info["output"]["shape"][1:]))
    names = sample.class_names
    problem = (f"its test image has {sample.x.size} values but the model's input has {size}" if sample.x.size != size
               else f"its label {int(sample.label.max())} is not one of the model's {classes} classes"
               if int(sample.label.max()) >= classes else f"it names {len(names)} classes for a model with {classes} "
               "outputs" if names is not None and len(names) != classes else None)
    if problem:
        raise CompressError(f"{path}: {problem}; it belongs to another model: export this one again or delete it")


def read_inputs(path) -> np.ndarray:
    """The input array of an .npz of model inputs (test_input.npz or the user's): 'x', else its first array."""
    try:
        with np.load(path) as npz:
            return npz["x"] if "x" in npz.files else npz[npz.files[0]]
    except Exception as exc:  # zipfile, zlib, numpy's header parser and a missing key all raise their own kind
        raise CompressError(f"{path}: cannot read an input array 'x': {type(exc).__name__}: {exc}") from None

