"""The tasks of a model's outputs as its firmware sees them, and the self-test run in tflite-micro on every output.

A single-task model is one task of many (K = 1): one unnamed task on output 0 with one operating point, and its
firmware.json keeps the one-output layout (a class, a list of scores), while a multi-task model's names every task
({task: class}, the output each reads, tflite-micro against the TFLite interpreter per output)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.deploy import threshold
from compress.deploy.export import REPORT_FILE
from compress.deploy.export_report import read_report
from compress.deploy.firmware_checks import measured_figures, verdict
from compress.deploy.outputs import dequantize, output_tensors, signature_tasks
from compress.deploy.tflm import compare_with_tflite

SINGLE = ""  # the one task of a single-task model: unnamed


@dataclass(frozen=True)
class Heads:
    """Which TFLite output holds which task, and how each task's scores become a class."""
    tasks: tuple[str, ...]  # print order; (SINGLE,) for a single-task model
    outputs: tuple[str, ...]  # the task of each TFLite output
    point: dict  # the decision: one operating point, or {"rule": "per-task", "tasks": {task: point}}

    @property
    def named(self) -> bool:
        """A multi-task model's files name the tasks; a single-task model's keep the one-output layout."""
        return self.tasks != (SINGLE,)

    def point_of(self, task: str) -> dict:
        return self.point["tasks"][task] if self.named else self.point

    def layout(self, by_task: dict):
        """{task: value} as the files record it: as is when named, the one value for a single-task model."""
        return by_task if self.named else by_task[SINGLE]


def heads_of(tflite_path: Path, tflite_bytes: bytes, sha: str, outputs: list[dict], tasks, point: dict) -> Heads:
    """The model's Heads: tasks (see firmware.generate_sketch), the output of each and the decision of each."""
    if len(outputs) == 1 and not tasks:
        return Heads((SINGLE,), (SINGLE,), point)
    tasks, order = _task_outputs(tflite_path, tflite_bytes, sha, outputs, tasks)
    return Heads(tuple(tasks), tuple(order), _task_points(point, tasks))


def _export_report(tflite_path: Path, sha256: str) -> dict:
    """export.json beside the model when it describes this very model, else {}."""
    path = tflite_path.parent / REPORT_FILE
    found = read_report(path) if path.is_file() else {}
    return found if isinstance(found, dict) and found.get("sha256") == sha256 else {}


def _named_tasks(report: dict, recorded, outputs: list[dict]) -> list[str]:
    """The tasks in print order when none are given: export.json's, else the signature's softmax_<task> names."""
    listed = report.get("tasks")
    if isinstance(listed, list) and recorded and sorted(listed) == sorted(recorded):
        return listed
    if recorded:
        return recorded
    named = [re.search(r"(?:^|_)softmax_([A-Za-z][A-Za-z0-9_]*)$", t["signature_name"] or "")
             for t in outputs]  # spec.build's softmax_<task> (quant_softmax_<task> after QAT)
    named = [m.group(1) for m in named if m]
    return sorted(named) if len(set(named)) == len(outputs) else [f"output{i}" for i in range(len(outputs))]


def _task_outputs(tflite_path: Path, tflite_bytes: bytes, sha: str, outputs: list[dict], tasks) -> tuple:
    """(tasks in print order, [task of each TFLite output]) of a multi-output model."""
    k = len(outputs)
    report = _export_report(tflite_path, sha)
    recorded = report.get("outputs")
    recorded = list(recorded) if isinstance(recorded, list) and all(isinstance(t, str) for t in recorded) else None
    tasks = [str(t) for t in (tasks if tasks is not None else _named_tasks(report, recorded, outputs))]
    if len(tasks) != k or len(set(tasks)) != k:
        raise CompressError(f"{len(tasks)} task name(s) ({', '.join(tasks)}) for a model with {k} outputs")
    bad = [t for t in tasks if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", t)]
    if bad:
        raise CompressError(f"task names must be letters, digits and _ (starting with a letter), not {bad}")
    if recorded and sorted(recorded) == sorted(tasks):
        return tasks, recorded
    found = signature_tasks(tflite_bytes, tasks, str(tflite_path))
    if found is None:  # neither the export nor the signature says: the model's own order
        found = list(tasks)
    return tasks, found


def _task_points(point: dict, tasks: list[str]) -> dict:
    """A per-task operating point naming every task: a single-task point (or argmax) applies to each task."""
    if point.get("rule") == "per-task":
        given = point.get("tasks") or {}
        missing = [t for t in tasks if not isinstance(given.get(t), dict)]
        if missing:
            raise CompressError(f"the operating point names no rule for task(s) {', '.join(missing)}")
        return threshold.per_task({t: given[t] for t in tasks})
    return threshold.per_task(dict.fromkeys(tasks, point))


def _expected_by_task(expected_class, heads: Heads, predicted: dict, classes: int) -> dict:
    """{task: class}: one class (a single-task model), a dict, a sequence in `tasks` order, or (None) the
    predicted classes."""
    tasks = heads.tasks
    if expected_class is None:
        return dict(predicted)
    if not heads.named:
        found = {SINGLE: int(expected_class)}
    elif isinstance(expected_class, dict):
        if set(expected_class) != set(tasks):
            raise CompressError(f"expected classes for tasks {', '.join(map(str, expected_class))}; the model's "
                                f"tasks are {', '.join(tasks)}")
        found = {t: int(expected_class[t]) for t in tasks}
    else:
        values = np.asarray(expected_class).reshape(-1)
        if values.size != len(tasks):
            raise CompressError(f"{values.size} expected class(es) for {len(tasks)} tasks ({', '.join(tasks)})")
        found = {t: int(v) for t, v in zip(tasks, values)}
    bad = [t for t, c in found.items() if not 0 <= c < classes]
    if bad and not heads.named:
        raise CompressError(f"expected class {found[SINGLE]} is not one of the model's {classes} classes")
    if bad:
        raise CompressError(f"expected class of task {bad[0]}: {found[bad[0]]} is not one of the model's "
                            f"{classes} classes")
    return found


def measure(tflite_bytes: bytes, info: dict, device: str, names: list[str], image: np.ndarray, heads: Heads,
            expected_class=None, expected_latency_s=None) -> dict:
    """The firmware's figures: every output run in tflite-micro (and compared with the TFLite interpreter's), a
    predicted and an expected class per task, the arena measured and the device's checks."""
    tensors = output_tensors(tflite_bytes)
    if expected_class is not None:  # refused before anything runs
        _expected_by_task(expected_class, heads, {}, len(names))
    compared = compare_with_tflite(tflite_bytes, image.reshape(1, *info["input"]["shape"][1:]))
    index = {task: heads.outputs.index(task) for task in heads.tasks}
    q = {task: compared["tflm"][index[task]][0] for task in heads.tasks}
    predicted = {t: int(threshold.predict(q[t], heads.point_of(t))[0]) for t in heads.tasks}
    expected = _expected_by_task(expected_class, heads, predicted, len(names))
    scores = {t: [float(v) for v in dequantize(q[t], tensors[index[t]]["scale"],
                                                      tensors[index[t]]["zero_point"])] for t in heads.tasks}
    head, checks = measured_figures(tflite_bytes, info, device)
    named = {} if not heads.named else {
        "tasks": list(heads.tasks), "outputs": list(heads.outputs),
        "output_tensors": [{"task": task, **{k: t[k] for k in ("name", "dtype", "shape", "scale", "zero_point")}}
                           for task, t in zip(heads.outputs, tensors)]}
    compared = {} if not heads.named else {
        "tflm_matches_tflite": compared["match"],
        "tflm_max_abs_diff": {task: compared["max_abs_diff"][index[task]] for task in heads.tasks}}
    return {**head, **named, "class_names": names, "expected_class": heads.layout(expected),
            "tflm_predicted_class": heads.layout(predicted), "tflm_scores": heads.layout(scores),
            "self_test_passed": predicted == expected, **compared, **verdict(checks, expected_latency_s)}


def self_tests(result: dict) -> list[tuple]:
    """(task, expected class, predicted class, scores) per task of firmware's result; task None for a single-task
    model (whose result holds one class and one list of scores)."""
    if not result.get("tasks"):
        return [(None, result["expected_class"], result["tflm_predicted_class"], result["tflm_scores"])]
    return [(t, result["expected_class"][t], result["tflm_predicted_class"][t], result["tflm_scores"][t])
            for t in result["tasks"]]
