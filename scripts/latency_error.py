"""Error of the latency models against the emulator over candidate models of a default search.

    python scripts/latency_error.py [--count 40] [--extra 12] [--out runs/latency_error]

Candidates: the specs on seeded random reduction walks from the default baseline (alexnet at 48x48x1, 2 classes:
what a default search explores) with at most --max-flops FLOPs, and --extra more from fer_cnn and embedded3.
Each is built with random weights, converted to int8 and run in the emulated TFLM (both kernel sets); its
measured instructions are compared with latency_model="emulated" (instructions from the spec, as the search
sees it) and with "ops" and "flops" (as instructions at the device clock, 1 cycle per instruction).
Writes results.json and prints a Markdown table for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.devices import latency, profiles  # noqa: E402
from compress.models import zoo  # noqa: E402
from compress.models.cost import spec_cost  # noqa: E402
from compress.models.keras_build import build_model  # noqa: E402
from compress.models.reductions import reductions  # noqa: E402

KERNELS = ("cmsis-nn", "reference")


def walks(baseline: str, count: int, max_flops: float, seed: int) -> list:
    """Distinct specs met on random reduction walks from the baseline, those under max_flops, in order found."""
    rng, found = random.Random(seed), {}
    start = zoo.load_spec(baseline, (48, 48, 1), 2)
    for _ in range(50 * count):
        spec = start
        for _ in range(rng.randint(1, 14)):
            children = reductions(spec)
            if not children:
                break
            spec = rng.choice(children).spec
            if spec_cost(spec).flops <= max_flops and spec.key not in found:
                found[spec.key] = spec.replace(name=f"{baseline}-{len(found):02d}")
                break
        if len(found) >= count:
            break
    return list(found.values())


def tflite(spec, folder: Path) -> Path:
    from compress.deploy.export import convert_int8

    path = folder / f"{spec.name}.tflite"
    if not path.exists():
        model = build_model(spec, seed=0)
        calibration = np.random.default_rng(0).uniform(0, 1, (32, *spec.input_shape)).astype(np.float32)
        path.write_bytes(convert_int8(model, calibration))
        (folder / f"{spec.name}.json").write_text(spec.to_json())
    return path


def evaluate(spec, path: Path, device) -> dict:
    from compress.deploy import emulator

    cost = spec_cost(spec)
    row = {"model": spec.name, "flops": cost.flops, "macs": cost.macs, "source": spec.name.split("-")[0]}
    for kernels in KERNELS:
        run = emulator.emulate(path, kernels)
        predicted = latency.instructions(cost, kernels, latency.spec_geometry(spec))
        ops = latency.latency_s(cost, device, "ops", kernels) * device.clock_hz
        row[kernels] = {"emulated": run.instructions, "predicted": predicted, "ops_model": ops,
                        "flops_model": latency.latency_s(cost, device, "flops") * device.clock_hz,
                        "agrees": run.agrees, "per_op": [(o.op, o.instructions) for o in run.ops]}
    return row


def summary(rows: list[dict], source: str | None = None) -> list[str]:
    lines = []
    picked = [r for r in rows if source is None or r["source"] == source]
    for kernels in KERNELS:
        for model in ("predicted", "ops_model", "flops_model"):
            err = np.array([r[kernels][model] / r[kernels]["emulated"] - 1 for r in picked])
            lines.append(f"| {source or 'all'} | {kernels} | {model.replace('_model', '').replace('predicted', 'emulated')}"
                         f" | {len(err)} | {np.mean(np.abs(err)):.1%} | {np.median(np.abs(err)):.1%} | "
                         f"{np.max(np.abs(err)):.1%} | {np.mean(np.abs(err) <= 0.15):.0%} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="alexnet (default search) candidates")
    parser.add_argument("--extra", type=int, default=12, help="fer_cnn and embedded3 candidates, each")
    parser.add_argument("--max-flops", type=float, default=8e6)
    parser.add_argument("--out", default="runs/latency_error")
    args = parser.parse_args()
    out, started = Path(args.out), time.time()
    (out / "models").mkdir(parents=True, exist_ok=True)
    specs = walks("alexnet", args.count, args.max_flops, 0)
    specs += walks("fer_cnn", args.extra, args.max_flops, 1) + walks("embedded3", args.extra, args.max_flops, 2)
    device = profiles.get("apollo3")
    rows = []
    for spec in specs:
        rows.append(evaluate(spec, tflite(spec, out / "models"), device))
        r = rows[-1]
        print(f"{r['model']:14} {r['flops'] / 1e6:7.3f} MFLOPs  " + "  ".join(
            f"{k} emulated {r[k]['emulated']:>11,} predicted {r[k]['predicted']:>13,.0f}" for k in KERNELS),
            flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n| candidates | kernels | latency model | n | mean abs error | median | max | within 15 % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(summary(rows, "alexnet") + summary(rows)))
    print(f"\n{len(rows)} candidates in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
