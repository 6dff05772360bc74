"""Benchmark: what a user gets without the search -- small models trained from scratch on the same data.

    python scripts/from_scratch.py --epochs 30 [--spec runs/X/best_spec.json] [--samples 8000] [--seed 0]

Trains (1) a hand-designed depthwise-separable CNN (3x3 kernels, stride-2 stem, global pooling; ~0.37 M FLOPs
at 48x48x1) and (2) each --spec given (e.g. a search winner's architecture), all from random weights, with the
search's training loop (Adam 1e-3, augmentation, early stopping on val AUC after 4 epochs without gain), and
prints one Markdown row each: FLOPs, epochs run, val AUC and test AUC of the float model.
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.config import DataConfig  # noqa: E402
from compress.data.dataset import load  # noqa: E402
from compress.models.cost import spec_cost  # noqa: E402
from compress.models.spec import Layer, ModelSpec  # noqa: E402
from compress.search.train import LONG_PATIENCE, Trainer  # noqa: E402


def ds_cnn(input_shape, classes) -> ModelSpec:
    """A plain depthwise-separable CNN of the MobileNet kind, sized near the 0.46 M FLOPs budget."""
    layers = [Layer("conv", "stem", units=8, kernel=3, stride=2), Layer("bn", "stem_bn"), Layer("relu", "stem_relu")]
    for i, (filters, stride) in enumerate(((16, 2), (32, 2), (64, 1)), 1):
        layers += [Layer("sepconv", f"sep{i}", units=filters, kernel=3, stride=stride), Layer("bn", f"sep{i}_bn"),
                   Layer("relu", f"sep{i}_relu")]
    return ModelSpec(input_shape, classes, tuple(layers + [Layer("gap", "gap")]), name="ds_cnn")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--spec", action="append", default=[], help="a spec .json to train from scratch too")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--task", default="binary")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load(DataConfig(samples=args.samples, task=args.task, seed=args.seed))
    trainer = Trainer(data, epochs=args.epochs, lr=1e-3, seed=args.seed, augment=True, patience=LONG_PATIENCE)
    specs = [("hand-designed DS-CNN", ds_cnn(data.input_shape, data.classes))]
    specs += [(f"{path} from scratch", ModelSpec.from_json(Path(path).read_text())) for path in args.spec]
    print("| model | FLOPs | epochs run | val AUC | test AUC |")
    print("|---|---|---|---|---|")
    for name, spec in specs:
        model, history = trainer.fit(spec)
        val, test = trainer.score(model, "val"), trainer.score(model, "test")
        print(f"| {name} | {spec_cost(spec).flops:,} | {len(history)} | {val['auc']:.4f} | {test['auc']:.4f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
