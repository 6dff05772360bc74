"""Fit the emulated latency table (compress/devices/latency_table.json) from TFLM runs on an emulated Cortex-M4.

    python scripts/fit_latency.py [--out runs/latency_fit] [--kernels cmsis-nn,reference] [--refit]

1. Builds a deterministic grid of small int8 models, each one op of a kind (conv k x k, pointwise conv, depthwise
   conv, dense, max/avg pool, mean, add, softmax, reshape) at many shapes, with Keras and the int8 converter.
2. Runs each in the real TFLM runtime in QEMU (compress.deploy.emulator) with each kernel set and keeps the
   instructions of every op (measurements.json in --out; --refit fits again from it without emulating).
3. Fits, per kernel set and op kind, non-negative coefficients of the terms compress.devices.latency.op_terms
   gives (least squares on relative error) and writes the table with its fit error per kind.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.devices import latency  # noqa: E402
from compress.models.formulas import LayerCost  # noqa: E402

TABLE = Path(latency.__file__).with_name("latency_table.json")


def grid(seed: int = 0) -> list[dict]:
    """The grid: one dict per model (kind + shape); sampled so that every kind sees small and large shapes."""
    rng = random.Random(seed)
    spatial, channels = [3, 6, 12, 24, 48], [1, 2, 3, 4, 8, 12, 16, 24, 32, 40, 64, 96]
    models = []
    for _ in range(70):
        models.append(dict(kind="conv", size=rng.choice(spatial), cin=rng.choice(channels),
                           cout=rng.choice(channels[2:]), k=rng.choice([3, 3, 5, 7, 11]), stride=rng.choice([1, 2])))
    for _ in range(40):
        models.append(dict(kind="conv", size=rng.choice(spatial), cin=rng.choice(channels),
                           cout=rng.choice(channels[2:]), k=1, stride=1))
    for _ in range(60):
        models.append(dict(kind="dwconv", size=rng.choice(spatial), cin=rng.choice(channels),
                           k=rng.choice([3, 3, 5, 7, 11]), stride=rng.choice([1, 2])))
    for _ in range(30):
        models.append(dict(kind="dense", cin=rng.choice([8, 32, 64, 152, 256, 512, 1024, 2048]),
                           cout=rng.choice([2, 4, 16, 64, 128, 512])))
    for kind in ("maxpool", "avgpool"):
        for _ in range(20):
            models.append(dict(kind=kind, size=rng.choice(spatial[1:]), cin=rng.choice(channels),
                               k=rng.choice([2, 3]), stride=2))
    for _ in range(15):
        models.append(dict(kind="mean", size=rng.choice(spatial), cin=rng.choice(channels)))
        models.append(dict(kind="add", size=rng.choice(spatial), cin=rng.choice(channels)))
    for n in (2, 4, 7, 10, 32, 100, 200):
        models.append(dict(kind="softmax", cin=n))
    # first layers of reduced models: a few channels, large kernels, a 48..24 input
    for _ in range(24):
        models.append(dict(kind=rng.choice(["conv", "dwconv"]), size=rng.choice([24, 32, 40, 48]),
                           cin=rng.choice([1, 1, 2, 3]), cout=rng.choice([4, 8, 16, 40]),
                           k=rng.choice([3, 5, 7, 11]), stride=rng.choice([1, 2])))
    for _ in range(8):
        models.append(dict(kind="reshape", size=rng.choice(spatial), cin=rng.choice(channels)))
    return [m for m in models if _fits(m)]


def _fits(m: dict) -> bool:
    """Keep the emulation short: at most ~4 M MACs and a 1 MiB arena."""
    size, out = m.get("size", 1), m.get("size", 1) // m.get("stride", 1) or 1
    macs = out * out * m.get("cout", m["cin"]) * m.get("k", 1) ** 2 * (m["cin"] if m["kind"] == "conv" else 1)
    return macs <= 4e6 and size * size * m["cin"] <= 1 << 20 and (m.get("k", 1) <= size or m["kind"] == "dense")


def keras_model(m: dict):
    import tf_keras as keras

    layers = keras.layers
    if m["kind"] in ("dense", "softmax"):
        x = inp = keras.Input((m["cin"],))
    else:
        x = inp = keras.Input((m["size"], m["size"], m["cin"]))
    kind = m["kind"]
    if kind == "conv":
        x = layers.Conv2D(m["cout"], m["k"], strides=m["stride"], padding="same", activation="relu")(x)
    elif kind == "dwconv":
        x = layers.DepthwiseConv2D(m["k"], strides=m["stride"], padding="same", activation="relu")(x)
    elif kind == "dense":
        x = layers.Dense(m["cout"], activation="relu")(x)
    elif kind in ("maxpool", "avgpool"):
        pool = layers.MaxPooling2D if kind == "maxpool" else layers.AveragePooling2D
        x = pool(m["k"], strides=m["stride"], padding="valid")(x)
    elif kind == "mean":
        x = layers.GlobalAveragePooling2D()(x)
    elif kind == "add":
        x = layers.Add()([x, layers.DepthwiseConv2D(1)(x)])
    elif kind == "softmax":
        x = layers.Softmax()(x)
    elif kind == "reshape":
        x = layers.Flatten()(x)
    return keras.Model(inp, x)


def build_models(models: list[dict], folder: Path) -> list[Path]:
    from compress.deploy.export import convert_int8

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, m in enumerate(models):
        path = folder / f"{i:03d}_{m['kind']}.tflite"
        if not path.exists():
            import tf_keras as keras

            keras.utils.set_random_seed(i)
            model = keras_model(m)
            calibration = np.random.default_rng(i).uniform(0, 1, (32, *model.input_shape[1:])).astype(np.float32)
            path.write_bytes(convert_int8(model, calibration))
        paths.append(path)
    return paths


def measure(models: list[dict], paths: list[Path], kernels: list[str]) -> list[dict]:
    """Emulate every model with every kernel set; one record per op with its terms and instructions."""
    from compress.deploy import emulator
    from compress.models.tflite_io import tflite_cost

    records = []
    for path, m in zip(paths, models):
        layers, geometry = tflite_cost(path).layers, latency.tflite_geometry(path)
        for kernel_set in kernels:
            run = emulator.emulate(path, kernel_set)
            if not run.agrees:
                raise SystemExit(f"{path}: emulated outputs differ from the TFLite interpreter's")
            for op, layer in zip(run.ops, layers):
                records.append({"model": path.name, "grid": m, "kernels": kernel_set, "op": op.op,
                                "layer": asdict(layer), "geometry": geometry.get(layer.name),
                                "instructions": op.instructions, "invoke": run.instructions,
                                "model_ops": len(run.ops)})
        print(f"{path.name}: {', '.join(f'{o.op} {o.instructions:,}' for o in run.ops)}", flush=True)
    return records


def terms(records: list[dict]) -> list[dict]:
    """Each record's (kind, terms) from its layer, with the terms compress.devices.latency defines now."""
    out = []
    for r in records:
        layer = LayerCost(**(r["layer"] | {"output_shape": tuple(r["layer"]["output_shape"])}))
        (kind, found), = latency.op_terms(layer, r["geometry"])  # one op per layer in a .tflite
        out.append(r | {"kind": kind, "terms": found})
    return out


def fit(records: list[dict]) -> dict:
    """Per kernel set and kind: non-negative least squares on relative error; the fit's own error per kind."""
    from scipy.optimize import nnls

    records, table = terms(records), {}
    for kernel_set in sorted({r["kernels"] for r in records}):
        models = {r["model"]: r for r in records if r["kernels"] == kernel_set}
        ops = {m: sum(r["instructions"] for r in records if r["kernels"] == kernel_set and r["model"] == m)
               for m in models}
        # Invoke() minus its ops: the interpreter's loop between ops, per op
        table[kernel_set] = {"between_ops": float(np.mean([(r["invoke"] - ops[m]) / r["model_ops"]
                                                           for m, r in models.items()]))}
        for kind in sorted({r["kind"] for r in records if r["kernels"] == kernel_set}):
            rows = [r for r in records if r["kernels"] == kernel_set and r["kind"] == kind]
            names = list(latency.TERMS[kind])
            a = np.array([[r["terms"][n] for n in names] for r in rows], dtype=float)
            y = np.array([r["instructions"] for r in rows], dtype=float)
            coef, _ = nnls(a / y[:, None], np.ones(len(y)))
            error = np.abs(a @ coef - y) / y
            table[kernel_set][kind] = {"coefficients": dict(zip(names, [float(c) for c in coef])),
                                       "ops_measured": len(rows), "mean_abs_error": float(error.mean()),
                                       "max_abs_error": float(error.max())}
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/latency_fit", help="models and measurements.json go here")
    parser.add_argument("--kernels", default="cmsis-nn,reference")
    parser.add_argument("--refit", action="store_true", help="fit from --out/measurements.json, emulate nothing")
    args = parser.parse_args()
    out = Path(args.out)
    started = time.time()
    if not args.refit:
        models = grid()
        paths = build_models(models, out / "models")
        records = measure(models, paths, args.kernels.split(","))
        (out / "measurements.json").write_text(json.dumps(records, indent=0) + "\n")
    records = json.loads((out / "measurements.json").read_text())
    table = {"source": "scripts/fit_latency.py: TFLM (../shared/tflm trees) built with arm-none-eabi-gcc for "
                       "cortex-m4 hard-float, run in QEMU mps2-an386 with -icount shift=0; instructions per op",
             "models": len({r["model"] for r in records}), "terms": latency.TERMS, "kernels": fit(records)}
    TABLE.write_text(json.dumps(table, indent=1) + "\n")
    for kernel_set, kinds in table["kernels"].items():
        print(f"{kernel_set:9} between ops: {kinds['between_ops']:.0f} instructions per op")
        for kind, entry in ((k, e) for k, e in kinds.items() if k != "between_ops"):
            print(f"{kernel_set:9} {kind:8} n={entry['ops_measured']:3d}  mean |error| {entry['mean_abs_error']:.1%}"
                  f"  max {entry['max_abs_error']:.1%}  {entry['coefficients']}")
    print(f"wrote {TABLE} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
