"""The LSTM in TensorFlow Lite Micro: the fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM against the same LSTM unrolled.

    python -m compress train --data synthetic-wearables --baseline lstm --epochs 5 --lr 1e-3 --out runs/ltrain
    python scripts/lstm_tflm.py runs/ltrain/model.keras [--data synthetic-wearables] [--kernels cmsis-nn reference]

Both forms of the trained model are converted as `export` converts (full int8, batch 1, the same 300 calibration
windows); each is run on every test window in the TFLite interpreter, in the tflite-micro runtime and in TFLM on the
emulated Cortex-M4 (QEMU). Printed per form and runtime: ops, bytes, test AUC (float and int8), the largest
difference from the TFLite interpreter's int8 outputs and on how many windows they differ, instructions of one
inference and the arena. `export` itself produces the fused form (compress.deploy.export.batch_one).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from compress.config import DataConfig  # noqa: E402
from compress.data.dataset import load  # noqa: E402
from compress.deploy import emulator, export, tflm, tflm_build  # noqa: E402
from compress.models import tflite_io  # noqa: E402
from compress.models.keras_io import load_keras  # noqa: E402


def unrolled(model):
    """The same model (same weights) with every LSTM unrolled: a Python loop of MatMuls instead of a while loop."""
    import tf_keras as keras

    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "LSTM":
            layer["config"]["unroll"] = True
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def figures(y, q, out, float_probs) -> str:
    """int8 test AUC, and how far the int8 probabilities lie from the float model's (mean |p_int8 - p_float|)."""
    probs = export.dequantize(q, out["scale"], out["zero_point"])
    return (f"int8 AUC {export.metrics(y, probs)['auc']:.4f}, mean |p - p_float| "
            f"{np.abs(probs - float_probs).mean():.4f}")


def emulated(path: Path, kernels: str, x: np.ndarray, ops) -> dict:
    """The compress runner on x (every sample): {'invoke', 'arena_used', 'ops', 'outputs'}. Called directly, not
    through emulator.emulate, whose per-op table needs tflite_cost (which has no rows for multi-output ops like
    the unrolled LSTM's SPLIT)."""
    elf = emulator.runner(kernels, None, tuple(tflm_build.RUNNER_OPS) + tuple(ops))
    (path.parent / "model.tflite").write_bytes(path.read_bytes())
    (path.parent / "input.bin").write_bytes(x.tobytes())
    found = emulator.parse_output(emulator.qemu(elf, path.parent))
    found["outputs"] = found["outputs"].reshape(len(x), -1)
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a trained lstm (.keras), e.g. from `python -m compress train --baseline lstm`")
    p.add_argument("--data", default="synthetic-wearables")
    p.add_argument("--kernels", nargs="*", default=["cmsis-nn", "reference"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    model = load_keras(Path(args.model))
    data = load(DataConfig(source=args.data, seed=args.seed)).at_input(model.input_shape[1:])
    x_test, y_test = data.split("test")
    calibration = export.representative_images(data.x_train, 300, args.seed)
    float_probs = model.predict(x_test, batch_size=256, verbose=0)
    print(f"{args.model}: float test AUC {export.metrics(y_test, float_probs)['auc']:.4f} on {len(y_test)} windows")
    emulate = [k for k in args.kernels if emulator.toolchain_missing() is None]
    for form, source in (("fused", model), ("unrolled", unrolled(model))):
        tflite = export.convert_int8(source, calibration)
        info = tflite_io.tflite_info(tflite)
        ops = Counter(tflite_io.op_names(tflite_io.parse(tflite))[op.opcodeIndex]
                      for op in tflite_io.parse(tflite).subgraphs[0].operators)
        q = export.quantize(x_test, info["input"]["scale"], info["input"]["zero_point"])
        lite = export.run_tflite(tflite, q).astype(np.int64)
        print(f"\n{form}: {sum(ops.values())} ops ({', '.join(f'{n} x{c}' for n, c in ops.most_common())}), "
              f"{len(tflite):,} bytes\n  TFLite interpreter: {figures(y_test, lite, info['output'], float_probs)}")
        micro = tflm.run_tflm(tflite, q).astype(np.int64)
        diff = np.abs(micro - lite).max(axis=1)
        print(f"  tflite-micro runtime: {figures(y_test, micro, info['output'], float_probs)}; max |diff| from "
              f"TFLite {diff.max()}, {int((diff > 0).sum())} of {len(diff)} windows differ; arena "
              f"{tflm.measure_arena_bytes(tflite):,} B")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"lstm_{form}.tflite"
            path.write_bytes(tflite)
            for kernels in emulate:
                start = time.monotonic()
                run = emulated(path, kernels, q, ops)
                diff = np.abs(run["outputs"] - lite).max(axis=1)
                per_op = Counter()
                for name, count in run["ops"]:
                    per_op[name] += count
                print(f"  emulated Cortex-M4 ({kernels}): {run['invoke']:,} instructions per inference ("
                      f"{', '.join(f'{n} {c:,}' for n, c in per_op.most_common(3))}), arena "
                      f"{run['arena_used']:,} B; {figures(y_test, run['outputs'], info['output'], float_probs)}; "
                      f"max |diff| from TFLite {diff.max()}, {int((diff > 0).sum())} of {len(diff)} windows differ "
                      f"({time.monotonic() - start:.0f} s)")
    if not emulate:
        print(f"\nnot emulated: {emulator.toolchain_missing()}")


if __name__ == "__main__":
    main()
