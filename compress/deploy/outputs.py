"""An int8 .tflite on the host: quantizing inputs, running it in tf.lite.Interpreter, and which output is which.

A multi-output (multi-task) model's outputs may come out of the converter in another order than Keras's; export
and firmware both need the task of each TFLite output, found here from the signature's names or, failing that,
from the values (the int8 outputs matched with the float model's)."""
from __future__ import annotations

import numpy as np

from compress import CompressError
from compress.models.tflite_io import _schema, parse, tflite_info


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * scale


def run_tflite(tflite_bytes: bytes, x_int8: np.ndarray) -> np.ndarray:
    """Raw int8 outputs of tf.lite.Interpreter, one image at a time (the model's batch is 1); the first output
    tensor only (run_tflite_outputs gives every one)."""
    return run_tflite_outputs(tflite_bytes, x_int8)[0]


def run_tflite_outputs(tflite_bytes: bytes, x_int8: np.ndarray, resolver: str = "default") -> list[np.ndarray]:
    """Raw outputs of tf.lite.Interpreter for every output tensor, in the model's output order (TFLite index),
    each (samples, values); resolver "reference": TFLite's reference kernels instead of its optimized ones."""
    import tensorflow as tf

    kind = tf.lite.experimental.OpResolverType
    interpreter = tf.lite.Interpreter(
        model_content=tflite_bytes,
        experimental_op_resolver_type=kind.BUILTIN_REF if resolver == "reference"
        else kind.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    inp, outs = interpreter.get_input_details()[0], interpreter.get_output_details()
    x_int8 = x_int8.reshape((-1, *inp["shape"][1:]))
    rows = [[] for _ in outs]
    for image in x_int8:
        interpreter.reset_all_variables()  # every window from a zero LSTM state, as Keras runs it (README, LSTM)
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        for found, out in zip(rows, outs):
            found.append(interpreter.get_tensor(out["index"])[0].copy())
    return [np.stack(found) for found in rows]


# --- multi-output models: which TFLite output is which task -----------------------------------------

def output_tensors(tflite_bytes: bytes, where: str = "model") -> list[dict]:
    """Every output tensor of the model, by TFLite output index: name, dtype, shape, scale, zero point, and the
    name the signature gives it (`signature_name`, None without a signature)."""
    model = parse(tflite_bytes, where)
    graph = model.subgraphs[0]
    named = {}
    for signature in model.signatureDefs or []:
        for entry in signature.outputs or []:
            named.setdefault(entry.tensorIndex, _text(entry.name))
    type_names = {v: k for k, v in vars(_schema().TensorType).items() if not k.startswith("_")}
    found = []
    for index in graph.outputs:
        t = graph.tensors[index]
        q = t.quantization
        scale = [float(v) for v in (q.scale if q is not None and q.scale is not None else [])]
        zero = [int(v) for v in (q.zeroPoint if q is not None and q.zeroPoint is not None else [])]
        found.append({"name": _text(t.name), "signature_name": named.get(int(index)),
                      "dtype": type_names.get(t.type, str(t.type)).lower(), "shape": [int(d) for d in t.shape],
                      "scale": scale[0] if scale else None, "zero_point": zero[0] if zero else None})
    return found


def _text(value) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def signature_tasks(tflite_bytes: bytes, tasks, where: str = "model") -> list[str] | None:
    """The task of each TFLite output from the signature's output names (softmax_<task>, as spec.build names the
    Keras outputs; quant_softmax_<task> after tfmot's QAT), or None when they do not name every task exactly once."""
    from compress.models.spec import softmax_name

    def task_of(name: str | None) -> str | None:
        hits = [task for task in tasks if name and (name == softmax_name(task)
                                                     or name.endswith("_" + softmax_name(task)))]
        return hits[0] if len(hits) == 1 else None

    found = [task_of(t["signature_name"]) for t in output_tensors(tflite_bytes, where)]
    if None in found or sorted(found) != sorted(tasks):
        return None
    return found


def match_outputs(q_outputs: list[np.ndarray], tensors: list[dict], float_outputs: dict) -> list[str]:
    """The task of each TFLite output by its values: the assignment of outputs to tasks (same shape) with the
    smallest total mean absolute difference between the dequantized int8 and the float outputs."""
    import itertools

    tasks = list(float_outputs)
    cost = np.full((len(q_outputs), len(tasks)), np.inf)
    for i, (q, t) in enumerate(zip(q_outputs, tensors)):
        probs = dequantize(q, t["scale"], t["zero_point"])
        for k, task in enumerate(tasks):
            if probs.shape == float_outputs[task].shape:
                cost[i, k] = float(np.mean(np.abs(probs - float_outputs[task])))
    if len(tasks) <= 7:
        best = min(itertools.permutations(range(len(tasks))), key=lambda p: sum(cost[i, k] for i, k in enumerate(p)))
    else:  # greedy: the closest pair first
        best, free = [None] * len(tasks), set(range(len(tasks)))
        for i, k in sorted(np.ndindex(cost.shape), key=lambda ik: cost[ik]):
            if best[i] is None and k in free:
                best[i] = k
                free.discard(k)
    if not np.isfinite(sum(cost[i, k] for i, k in enumerate(best))):
        raise CompressError("the int8 model's outputs do not have the shapes of the float model's outputs")
    return [tasks[k] for k in best]


def output_order(tflite_bytes: bytes, model, tasks, x: np.ndarray) -> tuple[list[str], str]:
    """(task of each TFLite output, how it was found). The converter may order the outputs differently from
    Keras: the signature's output names are used when they name every task; otherwise the int8 outputs are
    matched with the float model's on x (a few calibration inputs)."""
    found = signature_tasks(tflite_bytes, tasks)
    if found is not None:
        return found, "signature"
    inp, x = tflite_info(tflite_bytes)["input"], x[:32]
    q_outputs = run_tflite_outputs(tflite_bytes, quantize(x, inp["scale"], inp["zero_point"]))
    return match_outputs(q_outputs, output_tensors(tflite_bytes), float_outputs(model, x, tasks)), "values"


def float_outputs(model, x: np.ndarray, tasks) -> dict[str, np.ndarray]:
    """The float model's probabilities by task: its outputs named softmax_<task> (spec.build), else the Keras
    outputs in task order."""
    from compress.models.spec import softmax_name

    probs = model.predict(x, batch_size=256, verbose=0)
    probs = probs if isinstance(probs, (list, tuple)) else [probs]
    if len(probs) != len(tasks):
        raise CompressError(f"the model has {len(probs)} outputs but the data has {len(tasks)} tasks "
                            f"({', '.join(tasks)})")
    names = [n.split("/")[0] for n in getattr(model, "output_names", [])]
    if sorted(names) == sorted(softmax_name(t) for t in tasks):
        return {task: np.asarray(probs[names.index(softmax_name(task))]) for task in tasks}
    return {task: np.asarray(p) for task, p in zip(tasks, probs)}
