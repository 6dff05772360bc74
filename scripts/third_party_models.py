"""Benchmark: a model as a user brings it, from Keras 3 and from PyTorch through ONNX, estimated and searched on the
default data (the search exports the winner to int8, checks it in TFLite Micro and emulates it).

    python scripts/third_party_models.py [--out runs/third_party] [--torch-python PY] [--max-evals 12]

Keras 3 trains and saves its model in a child process without TF_USE_LEGACY_KERAS (Keras 3 itself, as a user
today has it); PyTorch trains its model in --torch-python (an interpreter with torch and onnxscript) and writes it
with torch.onnx.export. Both train 12 epochs on the default data's training split (3 left a Keras 3 model at val
AUC 0.54, which the search rightly refuses as a baseline), so the searches start from a trained model. Prints the commands it ran and a Markdown table for BENCHMARKS.md.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

KERAS3 = '''
import sys, numpy as np, keras
EPOCHS = 12
L = keras.layers
data = np.load(sys.argv[1]); out = sys.argv[2]
a = keras.Input((48, 48, 1))
x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(a)))
y = L.SeparableConv2D(8, 3, padding="same")(x)
x = L.ReLU()(L.Add()([x, L.BatchNormalization()(y)]))
x = L.MaxPooling2D()(L.SeparableConv2D(16, 3, padding="same", activation="relu")(x))
x = L.GlobalAveragePooling2D()(L.Conv2D(32, 3, padding="same", activation="relu")(x))
model = keras.Model(a, L.Dense(2, activation="softmax")(x), name="keras3_xception_like")
model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
keras.utils.set_random_seed(0)
model.fit(data["x"], data["y"], batch_size=64, epochs=EPOCHS, verbose=2)
model.save(out)
'''

TORCH = '''
import sys, numpy as np, torch
EPOCHS = 12
from torch import nn
data = np.load(sys.argv[1]); out = sys.argv[2]
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(32, 2), nn.Softmax(dim=1))
x = torch.tensor(data["x"]).permute(0, 3, 1, 2); y = torch.tensor(data["y"]).long()
opt = torch.optim.Adam(model.parameters(), 1e-3)
for epoch in range(EPOCHS):
    model.train()
    for i in torch.randperm(len(x)).split(64):
        opt.zero_grad(); loss = nn.functional.nll_loss(torch.log(model(x[i]) + 1e-7), y[i]); loss.backward(); opt.step()
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}", flush=True)
model.eval()
torch.onnx.export(model, x[:1], out, input_names=["image"], output_names=["probs"])
'''


def run(cmd, env=None) -> float:
    print("$", " ".join(map(str, cmd)), flush=True)
    start = time.monotonic()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "third_party")
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--max-evals", type=int, default=12)
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from compress.data.dataset import load

    data = load()
    npz = out / "train.npz"
    if not npz.exists():
        import numpy as np
        np.savez(npz, x=data.x_train.astype("float32"), y=data.y_train.astype("int64"))
    plain = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    models = {"Keras 3": (out / "keras3_model.keras", [sys.executable, "-c", KERAS3], plain),
              "PyTorch → ONNX": (out / "torch_model.onnx", [args.torch_python, "-c", TORCH], plain)}
    rows = []
    for kind, (path, trainer, env) in models.items():
        if not path.exists():
            run([*trainer, npz, path], env)
        run([sys.executable, "-m", "compress", "estimate", path])
        run_dir = out / path.stem
        if not (run_dir / "summary.json").exists():
            seconds = run([sys.executable, "-m", "compress", "search", "--baseline", path, "--max-evals",
                           str(args.max_evals), "--out", run_dir] + (["--resume"] if run_dir.exists() else []))
            (run_dir / "wall_seconds.txt").write_text(f"{seconds:.0f}\n")
        rows.append(_row(kind, path, run_dir))
    print("\n| model | file | baseline MFLOPs, test AUC | winner MFLOPs | int8 test AUC | TFLM | emulated | trainings |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


def _row(kind, path, run_dir) -> list:
    summary = json.loads((run_dir / "summary.json").read_text())
    base, final = summary["baseline"], summary.get("final") or {}
    int8 = ((summary.get("int8") or {}).get("test") or {}).get("auc")
    emulated = (summary.get("emulated") or {}).get("instructions")
    return [kind, path.name, f"{base['flops'] / 1e6:.2f}, {base['test']['auc']:.3f}",
            f"{final['flops'] / 1e6:.3f}" if final else "no goal", f"{int8:.3f}" if int8 is not None else "-",
            "PASS" if (summary.get("firmware") or {}).get("self_test_passed") else "-",
            f"{emulated:,} instructions" if emulated else "-", summary.get("evaluations")]


if __name__ == "__main__":
    main()
