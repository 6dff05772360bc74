"""Benchmark: what a user gets without the search -- small models trained from scratch on the same data.

    python scripts/from_scratch.py --run runs/default [--epochs N] [--spec S.json]
    python scripts/from_scratch.py [--epochs 30] [--spec S.json] [--task 4class] [--samples N] [--seed 0]

Trains (1) a hand-designed depthwise-separable CNN (3x3 kernels, stride-2 stem, global pooling; ~0.37 M FLOPs
at 48x48x1), (2) the --run's winner architecture (its best_spec.json) and (3) each --spec given, all from random
weights, with the search's training loop (Adam 1e-3, augmentation, the best epoch's weights by val AUC, no early
stop), and prints one Markdown row each: FLOPs, epochs, val AUC and test AUC of the float model.

With --run, the data are the run's (its config.json) and the epochs default to what its winner received in
all: the epochs of every training on its journal path from the baseline, plus its fine-tune. So both
alternatives get the same total epochs as the searched model.
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.config import DataConfig, TrainConfig  # noqa: E402
from compress.data.dataset import load  # noqa: E402
from compress.models.cost import spec_cost  # noqa: E402
from compress.models.spec import Layer, ModelSpec  # noqa: E402
from compress.report.run import Run, load_run  # noqa: E402
from compress.search.train import Trainer  # noqa: E402


def ds_cnn(input_shape, classes) -> ModelSpec:
    """A plain depthwise-separable CNN of the MobileNet kind, sized near the 0.46 M FLOPs budget."""
    layers = [Layer("conv", "stem", units=8, kernel=3, stride=2), Layer("bn", "stem_bn"), Layer("relu", "stem_relu")]
    for i, (filters, stride) in enumerate(((16, 2), (32, 2), (64, 1)), 1):
        layers += [Layer("sepconv", f"sep{i}", units=filters, kernel=3, stride=stride), Layer("bn", f"sep{i}_bn"),
                   Layer("relu", f"sep{i}_relu")]
    return ModelSpec(input_shape, classes, tuple(layers + [Layer("gap", "gap")]), name="ds_cnn")


def lineage_epochs(run: Run) -> int:
    """Epochs the run's winner received: every training from the baseline down its path, plus the fine-tune."""
    return len(run.summary.final.history) + sum(row["epochs"] for row in run.lineage(run.winner()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a finished search's folder: its winner's architecture and total epochs")
    parser.add_argument("--epochs", type=int, help="default: the --run winner's total epochs, else 30")
    parser.add_argument("--spec", action="append", default=[], help="a spec .json to train from scratch too")
    parser.add_argument("--samples", type=int, default=None, help="without --run")
    parser.add_argument("--task", default="binary", help="without --run")
    parser.add_argument("--seed", type=int, default=0, help="without --run")
    args = parser.parse_args()
    run = load_run(args.run) if args.run else None
    config = run.config.data if run else DataConfig(samples=args.samples, task=args.task, seed=args.seed)
    data = load(config)
    epochs = args.epochs or (lineage_epochs(run) if run else 30)
    trainer = Trainer(data, TrainConfig(epochs=epochs, lr=1e-3), DataConfig(seed=config.seed), augment=True,
                      patience=epochs)
    specs = [("hand-designed DS-CNN", ds_cnn(data.input_shape, data.classes))]
    if args.run:
        args.spec.insert(0, str(Path(args.run) / "best_spec.json"))
    specs += [(f"{path} from scratch", ModelSpec.from_json(Path(path).read_text())) for path in args.spec]
    print("| model | FLOPs | epochs | val AUC | test AUC |")
    print("|---|---|---|---|---|")
    for name, spec in specs:
        model, history, _ = trainer.fit(spec)
        val, test = trainer.score(model, "val"), trainer.score(model, "test")
        print(f"| {name} | {spec_cost(spec).flops:,} | {len(history)} | {val['auc']:.4f} | {test['auc']:.4f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
