"""Val AUC per epoch of the DS-CNN trained from scratch at each width x resolution pair that fits the device (the
widest at each input size): how fast a new trunk learns, and whether short trainings rank the sizes as long ones do.

    python scripts/scratch_curves.py --task 4class --seed 0 --epochs 30 > curves.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.config import DataConfig, Targets, TrainConfig  # noqa: E402
from compress.data.dataset import load  # noqa: E402
from compress.models.families import ds_cnn, widest  # noqa: E402
from compress.search.space import Costing  # noqa: E402
from compress.search.train import Trainer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="binary")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--sizes", default="48,40,32,24")
    args = parser.parse_args()
    settings = DataConfig(task=args.task, seed=args.seed)
    data, costing, curves = load(settings), Costing(Targets()), {}
    for size in (int(s) for s in args.sizes.split(",")):
        spec = widest(lambda w: ds_cnn((size, size, 1), data.classes, w), costing.fits)
        trainer = Trainer(data, TrainConfig(epochs=args.epochs), settings, augment=True, patience=args.epochs)
        start = time.monotonic()
        fit = trainer.fit(spec)
        curves[size] = {"width": spec.layers[0].units, "flops": costing.flops(spec),
                        "val_auc": [round(h["val_auc"], 4) for h in fit.history],
                        "seconds": round(time.monotonic() - start, 1)}
        print(f"{size}x{size} width {curves[size]['width']}: {curves[size]['val_auc']}", file=sys.stderr)
    print(json.dumps(curves, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
