"""int8 export: full-integer TFLite (PTQ, or QAT first), verified against the float model on test data.

The export job and its files: the conversion is compress.deploy.convert's, the figures compress.deploy.export_figures',
running the .tflite and telling its outputs apart compress.deploy.outputs'."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from compress import CompressError, files
from compress.data.metrics import includes_chance
from compress.deploy import threshold
from compress.deploy.convert import QAT_EPOCHS, convert_int8, quantize_aware, representative_images
from compress.deploy.export_figures import SINGLE, task_figures
from compress.deploy.test_input import TEST_INPUT_FILE, SelfTestInput, write_test_input
from compress.deploy.outputs import output_tensors, quantize
from compress.models.tflite_io import tflite_info

# Reached as export.<name> by tests and scripts (the export's host-side helpers before the split): re-exported.
from compress.deploy.export_figures import metrics  # noqa: F401
from compress.deploy.outputs import dequantize, float_outputs, match_outputs, run_tflite, run_tflite_outputs  # noqa: F401

MODEL_FILE = "model_int8.tflite"
REPORT_FILE = "export.json"
# export.json of a multi-task model adds: tasks (the data's order); outputs (the task of each TFLite output, by
#   output index: the converter may reorder them, and firmware must know); outputs_from ("signature" or "values");
#   output_tensors (each output's task, name, dtype, shape, scale, zero point); failed_tasks. Its metrics float and
#   int8 are the worst task's figures with worst_task and tasks {task: figures}; auc_drop the largest drop, agreement
#   the least, per_task {task: {auc_drop, agreement}}; operating_point {"rule": "per-task", "tasks": {task: point}};
#   roc every task's curves (labelled "<task>: <class>") and under "tasks" by task; beta {task: beta_t}.
# test_input.npz: compress.deploy.test_input's (TEST_INPUT_FILE, reached as export.TEST_INPUT_FILE too).


# --- the export job ---------------------------------------------------------------------------------

def export_int8(model, data, out_dir, *, qat: bool = False, beta: float | dict | None = None,
                representative_samples: int = 300, seed: int = 0, qat_epochs: int = QAT_EPOCHS) -> dict:
    """Write model_int8.tflite, export.json and test_input.npz to out_dir; raise if int8 test AUC < beta.

    The float figures are those of `model` as given; with qat=True the shipped int8 model comes from a
    quantization-aware fine-tune of it. Files are written before the beta check so nothing is lost.
    Multi-task data (a non-empty `data.tasks`, y of shape (N, K)): every output is verified against its task, beta
    may be {task: beta_t}, and the check fails when any task's int8 test AUC is below its beta. A single-task
    model is one task of many, its files in the one-output layout.
    """
    out_dir, tasks = Path(out_dir), tuple(data.tasks)
    betas = _betas(beta, tasks, data.name)
    data = data.at_input(model.input_shape[1:])  # a search winner may take smaller inputs
    calibration = representative_images(data.x_train, representative_samples, seed)
    source = quantize_aware(model, data.x_train, data.y_train, epochs=qat_epochs, seed=seed) if qat else model
    tflite_bytes = convert_int8(source, calibration)
    info = tflite_info(tflite_bytes)
    found = task_figures(model, data, tasks, tflite_bytes, calibration)
    out_dir.mkdir(parents=True, exist_ok=True)
    files.write_bytes(out_dir / MODEL_FILE, tflite_bytes)
    write_test_input(out_dir / TEST_INPUT_FILE, _sample(found, data, tasks, info))
    checks = found["checks"]
    int8_auc = {t: (checks["int8"]["tasks"][t] if tasks else checks["int8"])["auc"] for t in tasks or (SINGLE,)}
    failed = [] if betas is None else [t for t in int8_auc if int8_auc[t] is None or int8_auc[t] < betas[t]]
    named = {} if not tasks else {
        "tasks": list(tasks), "outputs": found["order"], "outputs_from": found["order_from"],
        "output_tensors": [{"task": task, **t} for task, t in zip(found["order"], output_tensors(tflite_bytes))]}
    report = {
        "model": MODEL_FILE, "model_bytes": len(tflite_bytes), "sha256": hashlib.sha256(tflite_bytes).hexdigest(),
        "quantization": "qat" if qat else "ptq", "qat_epochs": qat_epochs if qat else 0,
        "representative_samples": len(calibration), "seed": seed,
        "data": data.name, "class_names": list(data.class_names),
        **{k: named[k] for k in ("tasks", "outputs", "outputs_from") if k in named},
        "input": info["input"], "output": info["output"], **{k: named[k] for k in ("output_tensors",) if k in named},
        "ops": info["ops"], "metrics": checks, "operating_point": found["point"], "roc": found["roc"],
        "beta": betas if tasks or betas is None else betas[SINGLE],
        "passed": None if betas is None else not failed, **({"failed_tasks": failed} if tasks else {}),
        "test_input": TEST_INPUT_FILE,
    }
    files.write_text(out_dir / REPORT_FILE, json.dumps(report, indent=1) + "\n")
    if failed:
        raise CompressError(_below_beta(failed, tasks, int8_auc, betas, checks, out_dir))
    return report


def chance_warning(baseline_test: dict | None) -> str | None:
    """One line when the baseline's test AUC interval includes 0.5 (on any task): an int8 floor derived from it
    tests nothing, so the int8 check's PASS must not stand alone."""
    per_task = (baseline_test or {}).get("tasks") or {"": baseline_test}
    at_chance = [task or "single task" for task, m in per_task.items() if includes_chance(m)]
    if not at_chance:
        return None
    return (f"warning: the baseline's test AUC interval includes 0.5 ({', '.join(at_chance)}): the int8 floor "
            "derived from it tests nothing, so a PASS below says little")


def _sample(found: dict, data, tasks, info: dict) -> SelfTestInput:
    """The test input the export picked, quantized, with its labels (a single-task file records one class each,
    its `predicted` the int8 model's argmax)."""
    pick, inp = found["pick"], info["input"]
    x = quantize(data.split("test")[0][pick:pick + 1], inp["scale"], inp["zero_point"])
    if not tasks:
        return SelfTestInput(x=x, label=found["label"][0], predicted=found["argmax"], index=pick,
                             class_names=tuple(data.class_names))
    return SelfTestInput(x=x, label=found["label"], predicted=found["predicted"], index=pick,
                         class_names=tuple(data.class_names), tasks=tasks, correct=found["correct"])


def _below_beta(failed: list, tasks, int8_auc: dict, betas: dict, checks: dict, out_dir: Path) -> str:
    """The one line of an export whose int8 test AUC is below beta (on which tasks)."""
    if not tasks:
        return (f"int8 test AUC {_fmt(int8_auc[SINGLE])} is below beta {betas[SINGLE]:.4f} (float AUC "
                f"{_fmt(checks['float']['auc'])}); files are in {out_dir}; try again with --qat")
    f_auc = checks["float"]["tasks"]
    why = "; ".join(f"{t} {_fmt(int8_auc[t])} < {betas[t]:.4f} (float {_fmt(f_auc[t]['auc'])})" for t in failed)
    return (f"int8 test AUC below beta for task{'s' if len(failed) > 1 else ''} "
            f"{', '.join(failed)}: {why}; files are in {out_dir}; try again with --qat")


def _betas(beta, tasks, data_name: str) -> dict | None:
    """beta as {task: beta_t}: a dict naming every task, or one number for all of them (a single-task model's
    one unnamed task)."""
    if beta is None:
        return None
    if not tasks and isinstance(beta, dict):
        raise CompressError(f"beta per task ({', '.join(beta)}) needs multi-task data; {data_name} has one task")
    if not isinstance(beta, dict):
        return dict.fromkeys(tasks or (SINGLE,), beta if not tasks else float(beta))
    if set(beta) != set(tasks):
        raise CompressError(f"beta names tasks {', '.join(sorted(beta))}; the model's tasks are {', '.join(tasks)}")
    return {task: float(beta[task]) for task in tasks}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary_text(report: dict) -> str:
    """A few lines for the terminal: the model, its test figures (a line per task of a multi-task model), the
    device's decision and the beta check."""
    m, tasks, out = report["metrics"], report.get("tasks"), report["output"]
    outputs = (f"{len(report['outputs'])} outputs, one per task, in this order: {', '.join(report['outputs'])} "
               f"(from the {'signature' if report.get('outputs_from') == 'signature' else 'output values'})"
               if tasks else f"output scale {out['scale']:.6g}  zero point {out['zero_point']}")
    lines = [f"int8 model: {report['model']}  {report['model_bytes']:,} bytes  ({report['quantization'].upper()}; "
             f"ops {', '.join(report['ops'])})",
             f"input  scale {report['input']['scale']:.6g}  zero point {report['input']['zero_point']}; {outputs}"]
    lines += _task_lines(report) if tasks else _figure_lines(m)
    point = report.get("operating_point")
    lines += ([f"device decision, {t}: {threshold.describe(point['tasks'][t])}" for t in tasks] if tasks
              else [f"device decision: {threshold.describe(point)}"])
    if report["beta"] is not None and tasks:
        verdict = "PASS" if report["passed"] else f"FAIL ({', '.join(report.get('failed_tasks') or [])})"
        lines.append(f"int8 AUC >= beta on every task: {verdict}")
    elif report["beta"] is not None:
        lines.append(f"int8 AUC >= beta {report['beta']:.4f}: {'PASS' if report['passed'] else 'FAIL'}")
    return "\n".join(lines)


def _figure_lines(m: dict) -> list[str]:
    """A single-task model's test figures: AUC and accuracy, float and int8."""
    f, q = m["float"], m["int8"]
    drop = "n/a" if m["auc_drop"] is None else f"{m['auc_drop']:+.4f}"
    return [f"test AUC       float {_fmt(f['auc'])}   int8 {_fmt(q['auc'])}   drop {drop}",
            f"test accuracy  float {_fmt(f['accuracy'])}   int8 {_fmt(q['accuracy'])}   "
            f"agreement {m['agreement']:.4f}  ({m['samples']} images)"]


def _task_lines(report: dict) -> list[str]:
    """A multi-task model's test figures: a line per task (with its beta verdict), then the worst task."""
    m, tasks = report["metrics"], report["tasks"]
    f, q, betas = m["float"]["tasks"], m["int8"]["tasks"], report.get("beta") or {}
    width = max(len(t) for t in tasks)
    lines = [f"test split, {m['samples']} windows:"]
    for task in tasks:
        drop = m["per_task"][task]["auc_drop"]
        verdict = "" if task not in betas else (f"  beta {betas[task]:.4f} "
                                                f"{'FAIL' if task in report.get('failed_tasks', []) else 'PASS'}")
        lines.append(f"  {task:<{width}}  AUC float {_fmt(f[task]['auc'])} int8 {_fmt(q[task]['auc'])} drop "
                     f"{'n/a' if drop is None else f'{drop:+.4f}'}  accuracy float {_fmt(f[task]['accuracy'])} int8 "
                     f"{_fmt(q[task]['accuracy'])}{verdict}")
    return lines + [f"worst task (int8 AUC): {m['int8']['worst_task']} {_fmt(m['int8']['auc'])}"]
