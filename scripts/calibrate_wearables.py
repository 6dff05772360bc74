"""Difficulty check of synthetic-wearables: a LOSO baseline should land at AUC 0.70-0.85, shuffled labels at chance.

    python scripts/calibrate_wearables.py [--baseline fusion_cnn] [--epochs 6] [--target arousal] [--shuffle]

Leave-one-subject-out exactly as `search --loso` scores its baseline (compress.search.loso.fold_scores): every
fold from scratch, Adam --lr, batch 64, best epoch on the validation subjects, test AUC of the held-out subject.
--shuffle permutes the labels within each subject (class balance kept, link to the signals broken).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from compress.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from compress.data import wearable_data, wearables  # noqa: E402
from compress.models import zoo  # noqa: E402
from compress.search.loso import fold_scores  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="fusion_cnn")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--target", default="arousal")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shuffle", action="store_true")
    args = p.parse_args()
    data = DataConfig(source=wearables.SYNTHETIC_WEARABLES, target=args.target, seed=args.seed, loso=True)
    start = time.monotonic()
    per_subject = wearable_data.windows(data)
    print(f"generated and windowed {len(per_subject)} subjects in {time.monotonic() - start:.1f} s")
    if args.shuffle:
        rng = np.random.default_rng(args.seed)
        for subject, (x, y) in per_subject.items():
            per_subject[subject] = (x, rng.permutation(y))
    config = RunConfig(data=data, train=TrainConfig(final_epochs=args.epochs, baseline_lr=args.lr))
    spec = zoo.get(args.baseline, input_shape=next(iter(per_subject.values()))[0].shape[1:], classes=2)
    scores = fold_scores(spec, config, log=print)
    print(f"{args.baseline} {args.target}{' (shuffled labels)' if args.shuffle else ''}: LOSO AUC "
          f"{scores['mean']:.3f} +- {scores['sd']:.3f} over {len(scores['per_subject'])} subjects, "
          f"{scores['seconds']:.0f} s")


if __name__ == "__main__":
    main()
