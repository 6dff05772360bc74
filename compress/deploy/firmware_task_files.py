"""The template fields of a multi-task model's firmware (one int8 output per task; its own *_multitask templates):
the tasks in print order, the output each reads, a threshold (or argmax) per task and an expected class per task.

Apart from compress.deploy.firmware_files, which renders every board's files and asks this module for the fields
that differ when result["tasks"] is set."""
from __future__ import annotations

import textwrap

from compress import CompressError
from compress.deploy import threshold
from compress.deploy.c_arrays import c_string

ARGMAX_Q = 1000  # in a multi-task sketch's threshold table: not an int8 score, so this task decides by argmax


def task_fields(result: dict) -> dict:
    """The fields of a multi-task model's files: tasks in print order, the output of each, thresholds per task."""
    return {**_decision_fields(result), **_output_fields(result), "usage_snippet": _usage_snippet(result["tasks"])}


def _decision_fields(result: dict) -> dict:
    """Each task's decision as C++ constants and text; CompressError when the thresholds cannot share one table."""
    tasks, names, points = result["tasks"], result["class_names"], result["decision"]["tasks"]
    youden = [points[t] for t in tasks if points[t].get("rule") == "youden"]
    positives = {p["positive_class"] for p in youden}
    if len(positives) > 1:
        raise CompressError("the tasks' thresholds are on different positive classes; the firmware needs one")
    positive = positives.pop() if positives else threshold.POSITIVE
    if len(names) != 2 and youden:
        raise CompressError(f"a threshold needs 2 classes per task, the model has {len(names)}")
    short = threshold.brief(result["decision"])
    comment_lines = [f"// Decision, {t}: {threshold.describe(points[t])}" for t in tasks]
    comment = "\n".join(textwrap.fill(line, 116, subsequent_indent="//           ") for line in comment_lines)
    thresholds = [str(points[t]["threshold_q"]) if points[t].get("rule") == "youden" else "kArgmax" for t in tasks]
    runner_thresholds = [str(points[t]["threshold_q"]) if points[t].get("rule") == "youden" else "MODEL_RUNNER_ARGMAX"
                         for t in tasks]
    return dict(
        decision_text=threshold.describe(result["decision"]), decision_comment=comment, decision_short=short,
        decision_c_string=c_string(short),
        decision_bullet=("per task, from `export.json` beside the model (`operating_point`), compiled in as int8 "
                         "scores, so the device compares integers exactly as the host did: "
                         + "; ".join(f"{t}: {threshold.describe(points[t])}" for t in tasks) + "."),
        positive_class=positive, positive_name=names[positive] if positive < len(names) else str(positive),
        argmax_q=ARGMAX_Q, thresholds=", ".join(thresholds), runner_thresholds=", ".join(runner_thresholds))


def _output_fields(result: dict) -> dict:
    """The tasks, the TFLite output of each with its scale and zero point, and the expected class of each."""
    tasks, outputs, names = result["tasks"], result["outputs"], result["class_names"]
    tensors, expected = result["output_tensors"], result["expected_class"]
    order = ", ".join(f"{i} {task} (scale {t['scale']:.8g}, zero point {t['zero_point']})"
                      for i, (task, t) in enumerate(zip(outputs, tensors)))
    by_task = {task: t for task, t in zip(outputs, tensors)}
    return dict(
        task_count=len(tasks), task_names=", ".join(c_string(t) for t in tasks),
        task_list=", ".join(tasks), task_outputs=", ".join(str(outputs.index(t)) for t in tasks),
        outputs_order=", ".join(f"{i} {task}" for i, task in enumerate(outputs)),
        task_output_scales=", ".join(f"{by_task[t]['scale']:.8g}f" for t in tasks),
        task_output_zero_points=", ".join(str(by_task[t]["zero_point"]) for t in tasks),
        output_text=(f"Outputs: {len(outputs)} int8 tensors, one per task, each {len(names)} scores "
                     f"({', '.join(names)}), in this order (TFLite output index):\n  {order}. The converter chose "
                     "this order; the firmware reads each task from its own output."),
        expected_line=(f"constexpr int kExpectedClasses[{len(tasks)}] = "
                       f"{{{', '.join(str(expected[t]) for t in tasks)}}};  // by task: "
                       + ", ".join(f"{t} {names[expected[t]]}" for t in tasks)),
        expected_class=", ".join(str(expected[t]) for t in tasks),
        expected_name=", ".join(f"{t} {names[expected[t]]}" for t in tasks),
        runner_predict_api="`model_runner_predict(task, scores)` per task")


def _usage_snippet(tasks) -> str:
    """The C++ library README's example: one invoke, then each task's label and score."""
    return "\n".join([
        "static int8_t input[MODEL_RUNNER_INPUT_BYTES];  /* your input, quantized: q = x / scale + zero point */",
        f"static int8_t scores[MODEL_RUNNER_TASKS * MODEL_RUNNER_CLASSES];  /* task by task: {', '.join(tasks)} */",
        "",
        "if (model_runner_init(NULL) != MODEL_RUNNER_OK) { /* model_runner_status_text() says why */ }",
        "if (model_runner_invoke(input, scores) == MODEL_RUNNER_OK) {",
        "  for (int task = 0; task < MODEL_RUNNER_TASKS; ++task) {  /* model_runner_task_name(task) */",
        "    const int8_t* task_scores = scores + task * MODEL_RUNNER_CLASSES;",
        "    int label = model_runner_predict(task, task_scores);",
        "    float score = model_runner_score(task, task_scores[label]);",
        "  }",
        "}"])
