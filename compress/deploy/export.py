"""int8 export: full-integer TFLite (PTQ, or QAT first), verified against the float model on test data."""
from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np

from compress import CompressError, files
from compress.data.metrics import classification_metrics
from compress.deploy import threshold
from compress.models.tflite_io import tflite_info

MODEL_FILE = "model_int8.tflite"
REPORT_FILE = "export.json"
# test_input.npz: one test image the int8 model classifies correctly, for the firmware's built-in self-test.
#   x: int8 (1, H, W, C), already quantized with the model's input scale and zero point
#   label: its true class; predicted: the int8 model's class for it; index: its row in the test split
#   class_names: the data set's class names
TEST_INPUT_FILE = "test_input.npz"
QAT_EPOCHS = 2  # quantization-aware fine-tuning from trained weights needs only a little: tfmot's guide uses 1-2


# --- conversion -----------------------------------------------------------------------------------

def representative_images(x: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """A seeded random subset of the training images to calibrate activation ranges with."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), size=min(samples, len(x)), replace=False))
    return x[idx].astype(np.float32)


def convert_int8(model, calibration: np.ndarray) -> bytes:
    """Full-integer conversion: int8 weights, activations, input and output (TFLITE_BUILTINS_INT8 only)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([img[None]] for img in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises many types; all mean "this model has no int8 form"
        raise CompressError(f"int8 conversion failed: {str(exc).splitlines()[0]}") from None


def quantize_aware(model, x: np.ndarray, y: np.ndarray, *, epochs: int = QAT_EPOCHS, seed: int = 0):
    """tfmot quantization-aware fine-tuning from the model's trained weights (fake-quant in every layer)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    try:
        qat = tfmot.quantization.keras.quantize_model(model)
    except (ValueError, RuntimeError) as exc:
        raise CompressError(f"quantization-aware training does not support this model: {exc}") from None
    qat.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    qat.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    return qat


# --- running a .tflite -------------------------------------------------------------------------------

def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * scale


def run_tflite(tflite_bytes: bytes, x_int8: np.ndarray) -> np.ndarray:
    """Raw int8 outputs of tf.lite.Interpreter, one image at a time (the model's batch is 1)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(
        model_content=tflite_bytes,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    x_int8 = x_int8.reshape((-1, *inp["shape"][1:]))
    rows = []
    for image in x_int8:
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(rows)


# --- verification -----------------------------------------------------------------------------------

def metrics(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """The trainer's own metrics (AUC: binary positive-class score, multi-class macro OvR) so figures compare."""
    found = classification_metrics(y_true, probs, positive=1 if probs.shape[1] == 2 else None)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in found.items()}


def verify(float_model, tflite_bytes: bytes, x: np.ndarray, y: np.ndarray) -> tuple[dict, np.ndarray]:
    """Float vs int8 on the same images: metrics of both, the AUC drop and how often they pick the same class."""
    info = tflite_info(tflite_bytes)
    inp, out = info["input"], info["output"]
    float_probs = float_model.predict(x, batch_size=256, verbose=0)
    q_out = run_tflite(tflite_bytes, quantize(x, inp["scale"], inp["zero_point"]))
    int8_probs = dequantize(q_out, out["scale"], out["zero_point"])
    f, q = metrics(y, float_probs), metrics(y, int8_probs)
    drop = None if f["auc"] is None or q["auc"] is None else f["auc"] - q["auc"]
    agreement = float(np.mean(float_probs.argmax(1) == int8_probs.argmax(1)))
    return {"split": "test", "samples": int(len(y)), "float": f, "int8": q, "auc_drop": drop,
            "agreement": agreement}, q_out


def _pick_test_image(y: np.ndarray, q_out: np.ndarray, point: dict | None = None) -> int:
    """Index of the test image the device classifies correctly (by its operating point) and the int8 model is
    surest of (first of ties); 0 if none."""
    predicted = threshold.predict(q_out, point)
    confidence = np.where(predicted == y, q_out[np.arange(len(y)), y].astype(int), -1000)
    return int(np.argmax(confidence))


def _operating_figures(tflite_bytes: bytes, info: dict, data, test: tuple) -> tuple[dict, dict]:
    """The device's decision rule (Youden's J on the int8 val scores) and the int8 ROC curves on val and test."""
    x_val, y_val = data.split("val")
    q_val = run_tflite(tflite_bytes, quantize(x_val, info["input"]["scale"], info["input"]["zero_point"]))
    point = threshold.operating_point((y_val, q_val), test, info["output"], data.class_names)
    out = info["output"]
    roc = {"model": "int8", **{split: threshold.roc_curves(y, dequantize(q, out["scale"], out["zero_point"]),
                                                           data.class_names)
                               for split, (y, q) in (("val", (y_val, q_val)), ("test", test))}}
    return point, roc


# --- the export job ---------------------------------------------------------------------------------

def export_int8(model, data, out_dir, *, qat: bool = False, beta: float | None = None,
                representative_samples: int = 300, seed: int = 0, qat_epochs: int = QAT_EPOCHS) -> dict:
    """Write model_int8.tflite, export.json and test_input.npz to out_dir; raise if int8 test AUC < beta.

    The float figures are those of `model` as given; with qat=True the shipped int8 model comes from a
    quantization-aware fine-tune of it. Files are written before the beta check so nothing is lost.
    """
    out_dir = Path(out_dir)
    data = data.at_input(model.input_shape[1:])  # a search winner may take smaller images
    calibration = representative_images(data.x_train, representative_samples, seed)
    source = quantize_aware(model, data.x_train, data.y_train, epochs=qat_epochs, seed=seed) if qat else model
    tflite_bytes = convert_int8(source, calibration)
    info = tflite_info(tflite_bytes)
    x_test, y_test = data.split("test")
    checks, q_out = verify(model, tflite_bytes, x_test, y_test)
    point, roc = _operating_figures(tflite_bytes, info, data, (y_test, q_out))
    pick = _pick_test_image(y_test, q_out, point)

    out_dir.mkdir(parents=True, exist_ok=True)
    files.write_bytes(out_dir / MODEL_FILE, tflite_bytes)
    x_pick = quantize(x_test[pick:pick + 1], info["input"]["scale"], info["input"]["zero_point"])
    sample = io.BytesIO()
    np.savez(sample, x=x_pick, label=np.int64(y_test[pick]), predicted=np.int64(q_out[pick].argmax()),
             index=np.int64(pick), class_names=np.array(list(data.class_names)))
    files.write_bytes(out_dir / TEST_INPUT_FILE, sample.getvalue())
    int8_auc = checks["int8"]["auc"]
    report = {
        "model": MODEL_FILE, "model_bytes": len(tflite_bytes), "sha256": hashlib.sha256(tflite_bytes).hexdigest(),
        "quantization": "qat" if qat else "ptq", "qat_epochs": qat_epochs if qat else 0,
        "representative_samples": len(calibration), "seed": seed,
        "data": data.name, "class_names": list(data.class_names),
        "input": info["input"], "output": info["output"], "ops": info["ops"],
        "metrics": checks, "operating_point": point, "roc": roc, "beta": beta,
        "passed": None if beta is None else bool(int8_auc is not None and int8_auc >= beta),
        "test_input": TEST_INPUT_FILE,
    }
    files.write_text(out_dir / REPORT_FILE, json.dumps(report, indent=1) + "\n")
    if report["passed"] is False:
        raise CompressError(f"int8 test AUC {_fmt(int8_auc)} is below beta {beta:.4f} (float AUC "
                            f"{_fmt(checks['float']['auc'])}); files are in {out_dir}; try again with --qat")
    return report


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary_text(report: dict) -> str:
    """A few lines for the terminal."""
    m = report["metrics"]
    f, q = m["float"], m["int8"]
    drop = "n/a" if m["auc_drop"] is None else f"{m['auc_drop']:+.4f}"
    lines = [
        f"int8 model: {report['model']}  {report['model_bytes']:,} bytes  ({report['quantization'].upper()}; "
        f"ops {', '.join(report['ops'])})",
        f"input  scale {report['input']['scale']:.6g}  zero point {report['input']['zero_point']}; "
        f"output scale {report['output']['scale']:.6g}  zero point {report['output']['zero_point']}",
        f"test AUC       float {_fmt(f['auc'])}   int8 {_fmt(q['auc'])}   drop {drop}",
        f"test accuracy  float {_fmt(f['accuracy'])}   int8 {_fmt(q['accuracy'])}   "
        f"agreement {m['agreement']:.4f}  ({m['samples']} images)",
    ]
    lines.append(f"device decision: {threshold.describe(report.get('operating_point'))}")
    if report["beta"] is not None:
        lines.append(f"int8 AUC >= beta {report['beta']:.4f}: {'PASS' if report['passed'] else 'FAIL'}")
    return "\n".join(lines)
