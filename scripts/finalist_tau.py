"""Kendall's tau between the search's score of each finalist (its val AUC when the search trained it) and its val
AUC after the finalists' fine-tune: how well the search's cheap ranking foretells the models it ships.

    python scripts/finalist_tau.py RUN_DIR [RUN_DIR ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress.summary import read_summary  # noqa: E402


def finalists(run_dir) -> list[tuple[float, float]]:
    """(search val AUC, fine-tuned val AUC) of each finalist, in leaderboard order."""
    return [(row.val_auc, row.fine_tuned_val_auc) for row in read_summary(run_dir).leaderboard
            if row.fine_tuned_val_auc is not None]


def main(runs: list[str]) -> int:
    for run in runs:
        pairs = finalists(run)
        tau = kendalltau(*zip(*pairs)).statistic if len(pairs) > 1 else float("nan")
        shown = ", ".join(f"{a:.4f}->{b:.4f}" for a, b in pairs)
        print(f"{run}: {len(pairs)} finalists, Kendall tau {tau:+.2f} ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else print(__doc__) or 2)
