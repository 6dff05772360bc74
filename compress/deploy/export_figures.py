"""The figures an int8 export records: float vs int8 metrics on test data, the device's operating point and ROC
curves on val and test, and the test input for the firmware's self-test; per task for a multi-task model.

Apart from compress.deploy.export, which converts, writes the files and judges beta, so each stays one job."""
from __future__ import annotations

import math

import numpy as np

from compress import CompressError
from compress.data.metrics import classification_metrics
from compress.deploy import threshold
from compress.deploy.outputs import (dequantize, float_outputs, output_order, output_tensors, quantize,
                                     run_tflite_outputs)
from compress.models.tflite_io import tflite_info


def metrics(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """The trainer's own metrics (AUC: binary positive-class score, multi-class macro OvR) so figures compare."""
    found = classification_metrics(y_true, probs, positive=1 if probs.shape[1] == 2 else None)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in found.items()}


SINGLE = ""  # the one task of a single-task model: unnamed


def worst_of(per_task: dict) -> dict:
    """A multi-task model's metrics: the worst task's (lowest AUC) figures at the top, so tables keep working,
    with `worst_task` naming it and `tasks` holding every task's."""
    known = [t for t in per_task if per_task[t]["auc"] is not None]
    worst = min(known, key=lambda t: per_task[t]["auc"]) if known else next(iter(per_task))
    return {**per_task[worst], "worst_task": worst, "tasks": per_task}


def verify_tasks(float_model, tflite_bytes: bytes, x: np.ndarray, y: np.ndarray, tasks, order: list[str]
                 ) -> tuple[dict, dict]:
    """Float vs int8 on the same inputs, task by task: metrics of both, the AUC drop and how often they pick the
    same class. y (N, K) in task order; order: the task of each TFLite output. (checks, raw int8 outputs by task);
    a single-task model's checks hold its one task's figures, a multi-task model's every task's."""
    tensors = dict(zip(order, output_tensors(tflite_bytes)))
    inp = tflite_info(tflite_bytes)["input"]
    q_by_task = dict(zip(order, run_tflite_outputs(tflite_bytes, quantize(x, inp["scale"], inp["zero_point"]))))
    float_probs = float_outputs(float_model, x, tasks)
    f, q, per_task = {}, {}, {}
    for k, task in enumerate(tasks):
        int8_probs = dequantize(q_by_task[task], tensors[task]["scale"], tensors[task]["zero_point"])
        f[task], q[task] = metrics(y[:, k], float_probs[task]), metrics(y[:, k], int8_probs)
        drop = None if f[task]["auc"] is None or q[task]["auc"] is None else f[task]["auc"] - q[task]["auc"]
        per_task[task] = {"auc_drop": drop,
                          "agreement": float(np.mean(float_probs[task].argmax(1) == int8_probs.argmax(1)))}
    head = {"split": "test", "samples": int(len(y))}
    if tuple(tasks) == (SINGLE,):
        return {**head, "float": f[SINGLE], "int8": q[SINGLE], **per_task[SINGLE]}, q_by_task
    drops = [d["auc_drop"] for d in per_task.values() if d["auc_drop"] is not None]
    return {**head, "float": worst_of(f), "int8": worst_of(q),
            "auc_drop": max(drops) if drops else None,  # the largest drop of any task
            "agreement": min(d["agreement"] for d in per_task.values()),  # the least of any task
            "per_task": per_task}, q_by_task


def _task_points_roc(tflite_bytes: bytes, data, tasks, order: list[str], test: tuple) -> tuple[dict, dict]:
    """The device's decision rule per task (Youden's J on the int8 val scores) and the int8 ROC curves on val and
    test: a single-task model's one point and curves; a multi-task model's {"rule": "per-task", "tasks": {task:
    point}} and every task's curves labelled by task, and by task under "tasks"."""
    (y_test, q_test), tensors = test, dict(zip(order, output_tensors(tflite_bytes)))
    x_val, y_val = data.split("val")
    y_val = np.asarray(y_val).reshape(len(y_val), -1)
    inp = tflite_info(tflite_bytes)["input"]
    q_val = dict(zip(order, run_tflite_outputs(tflite_bytes, quantize(x_val, inp["scale"], inp["zero_point"]))))
    points, roc = {}, {"model": "int8", "val": [], "test": [], "tasks": {}}
    for k, task in enumerate(tasks):
        out = tensors[task]
        points[task] = threshold.operating_point((y_val[:, k], q_val[task]), (y_test[:, k], q_test[task]), out,
                                                 data.class_names)
        roc["tasks"][task] = {}
        for split, (y, q) in (("val", (y_val[:, k], q_val[task])), ("test", (y_test[:, k], q_test[task]))):
            curves = threshold.roc_curves(y, dequantize(q, out["scale"], out["zero_point"]), data.class_names)
            roc["tasks"][task][split] = curves
            roc[split] += [{**c, "label": f"{task}: {c['label']}"} for c in curves]
    if tuple(tasks) == (SINGLE,):
        return points[SINGLE], {"model": "int8", **roc["tasks"][SINGLE]}
    return threshold.per_task(points), roc


def _pick_test_window(y: np.ndarray, q_by_task: dict, points: dict, tasks) -> tuple[int, np.ndarray]:
    """(index, predicted classes by task) of the test input the device gets right on the most tasks (by each
    task's operating point), the int8 model surest of its true classes among those (first of ties); 0 if none."""
    n = len(y)
    correct, confidence = np.zeros(n, int), np.zeros(n, int)
    predicted = np.zeros(y.shape, np.int64)
    for k, task in enumerate(tasks):
        q = q_by_task[task]
        predicted[:, k] = threshold.predict(q, points[task])
        right = predicted[:, k] == y[:, k]
        correct += right
        confidence += np.where(right, q[np.arange(n), y[:, k]].astype(int), 0)
    pick = int(np.lexsort((-confidence, -correct))[0])  # most tasks right, then surest; stable: first of ties
    return pick, predicted[pick]


def task_figures(model, data, tasks, tflite_bytes: bytes, calibration: np.ndarray) -> dict:
    """The figures export_int8 writes, a single-task model being one unnamed task (tasks ()): output order,
    verification, operating points, the test input and its labels."""
    y_test = np.asarray(data.split("test")[1])
    if tasks and (y_test.ndim != 2 or y_test.shape[1] != len(tasks)):
        raise CompressError(f"the data's labels have shape {y_test.shape}; {len(tasks)} tasks need (N, {len(tasks)})")
    order, order_from = output_order(tflite_bytes, model, tasks, calibration) if tasks else ([SINGLE], None)
    tasks, y_test, x_test = tasks or (SINGLE,), y_test.reshape(len(y_test), -1), data.split("test")[0]
    checks, q_by_task = verify_tasks(model, tflite_bytes, x_test, y_test, tasks, order)
    point, roc = _task_points_roc(tflite_bytes, data, tasks, order, (y_test, q_by_task))
    points = point["tasks"] if point.get("rule") == "per-task" else {SINGLE: point}
    pick, predicted = _pick_test_window(y_test, q_by_task, points, tasks)
    return {"order": order, "order_from": order_from, "checks": checks, "point": point, "roc": roc,
            "pick": pick, "label": y_test[pick].astype(np.int64), "predicted": predicted,
            "argmax": q_by_task[order[0]][pick].argmax(), "correct": int(np.sum(predicted == y_test[pick]))}
