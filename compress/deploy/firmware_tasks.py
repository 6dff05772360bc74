"""Firmware for a multi-task model (one int8 output per task): the task names and the output each is in, an
operating point and an expected class per task, the self-test run in tflite-micro on every output, the summary.

Apart from compress.deploy.firmware, which serves both kinds of model and calls these for a multi-output one."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from compress import CompressError
from compress.deploy import threshold
from compress.deploy.export import REPORT_FILE
from compress.deploy.firmware_checks import measured_figures, verdict
from compress.deploy.outputs import dequantize, output_tensors, signature_tasks
from compress.deploy.tflm import compare_with_tflite


def _export_report(tflite_path: Path, sha256: str) -> dict:
    """export.json beside the model when it describes this very model, else {}."""
    path = tflite_path.parent / REPORT_FILE
    try:
        found = json.loads(path.read_text()) if path.is_file() else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) and found.get("sha256") == sha256 else {}


def task_outputs(tflite_path: Path, tflite_bytes: bytes, sha: str, outputs: list[dict], tasks) -> tuple:
    """(tasks in print order, [task of each TFLite output]): see firmware.generate_sketch."""
    k = len(outputs)
    report = _export_report(tflite_path, sha)
    recorded = report.get("outputs")
    recorded = list(recorded) if isinstance(recorded, list) and all(isinstance(t, str) for t in recorded) else None
    if tasks is None:
        listed = report.get("tasks")
        if isinstance(listed, list) and recorded and sorted(listed) == sorted(recorded):
            tasks = listed
        elif recorded:
            tasks = recorded
        else:
            named = [re.search(r"(?:^|_)softmax_([A-Za-z][A-Za-z0-9_]*)$", t["signature_name"] or "")
                     for t in outputs]  # spec.build's softmax_<task> (quant_softmax_<task> after QAT)
            named = [m.group(1) for m in named if m]
            tasks = sorted(named) if len(set(named)) == k else [f"output{i}" for i in range(k)]
    tasks = [str(t) for t in tasks]
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


def task_points(point: dict, tasks: list[str]) -> dict:
    """A per-task operating point naming every task: a single-task point (or argmax) applies to each task."""
    if point.get("rule") == "per-task":
        given = point.get("tasks") or {}
        missing = [t for t in tasks if not isinstance(given.get(t), dict)]
        if missing:
            raise CompressError(f"the operating point names no rule for task(s) {', '.join(missing)}")
        return threshold.per_task({t: given[t] for t in tasks})
    return threshold.per_task(dict.fromkeys(tasks, point))


def _expected_by_task(expected_class, tasks: list[str], predicted: dict, classes: int) -> dict:
    """{task: class}: from a dict, a sequence in `tasks` order, or (None) the predicted classes."""
    if expected_class is None:
        return dict(predicted)
    if isinstance(expected_class, dict):
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
    if bad:
        raise CompressError(f"expected class of task {bad[0]}: {found[bad[0]]} is not one of the model's "
                            f"{classes} classes")
    return found


def measure_tasks(tflite_bytes: bytes, info: dict, device: str, names: list[str], image: np.ndarray,
                   expected_class, expected_latency_s, point: dict, tasks: list[str], outputs: list[str]) -> dict:
    """firmware._measure for a multi-task model: every output run in tflite-micro (and compared with the TFLite
    interpreter's), a predicted and an expected class per task."""
    tensors = output_tensors(tflite_bytes)
    if expected_class is not None:  # refused before anything runs
        _expected_by_task(expected_class, tasks, {}, len(names))
    compared = compare_with_tflite(tflite_bytes, image.reshape(1, *info["input"]["shape"][1:]))
    index = {task: outputs.index(task) for task in tasks}
    q = {task: compared["tflm"][index[task]][0] for task in tasks}
    predicted = {t: int(threshold.predict(q[t], point["tasks"][t])[0]) for t in tasks}
    expected = _expected_by_task(expected_class, tasks, predicted, len(names))
    scores = {t: [float(v) for v in dequantize(q[t], tensors[index[t]]["scale"],
                                                      tensors[index[t]]["zero_point"])] for t in tasks}
    head, checks = measured_figures(tflite_bytes, info, device)
    return {
        **head, "tasks": tasks, "outputs": outputs,
        "output_tensors": [{"task": task, **{k: t[k] for k in ("name", "dtype", "shape", "scale", "zero_point")}}
                           for task, t in zip(outputs, tensors)],
        "class_names": names, "expected_class": expected, "tflm_predicted_class": predicted,
        "tflm_scores": scores, "self_test_passed": predicted == expected,
        "tflm_matches_tflite": compared["match"],
        "tflm_max_abs_diff": {task: compared["max_abs_diff"][index[task]] for task in tasks},
        **verdict(checks, expected_latency_s),
    }


def summary_tasks(result: dict, what: str) -> str:
    """firmware.summary_text for a multi-task model: outputs in order, a self-test line per task."""
    names, tasks = result["class_names"], result["tasks"]
    expected, predicted = result["expected_class"], result["tflm_predicted_class"]
    lines = [f"{what} {result['sketch_dir']}: {', '.join(result['files'])}",
             f"board {result['board']}; limits of the {result['device']} device profile",
             f"ops ({result['resolver_size']}): {', '.join(result['ops'])}",
             f"arena {result['arena_bytes']:,} bytes = {result['arena_measured_bytes']:,} measured in tflite-micro "
             f"+ {result['arena_margin_bytes']:,} margin",
             f"{len(tasks)} outputs, one per task, in this order: {', '.join(result['outputs'])}; tflite-micro "
             f"{'equals' if result['tflm_matches_tflite'] else 'differs from'} the TFLite interpreter on every output",
             f"decision: {threshold.describe(result['decision'])}"]
    lines += [f"built-in test window, {t}: expected {names[expected[t]]}, tflite-micro says {names[predicted[t]]} "
              f"({'PASS' if expected[t] == predicted[t] else 'FAIL'})" for t in tasks]
    lines += [f"{c['target']}: {c['what']} {c['measured']:,} + {c['allowance']:,} = {c['figure']:,} of "
              f"{c['limit']:,} {c['unit']}: {'PASS' if c['passed'] else 'FAIL'}" for c in result["checks"]]
    return "\n".join(lines)
