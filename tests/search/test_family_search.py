"""With --families the search reaches a family move's new trunk as a child, trains it from scratch (rung 0 of the trunks'
race: --epochs), and keeps the best such goal among the finalists, whose fine-tune then runs longer."""
import json

import numpy as np

from compress.cli import main
from compress.search.train import SCRATCH_FINAL_FACTOR


def test_a_new_trunk_is_trained_afresh_and_always_reaches_the_finalists(tmp_path):
    from conftest import blob_images

    x, y = blob_images(300)
    np.savez(tmp_path / "blobs.npz", x=np.round(x[..., 0] * 255).astype(np.uint8), y=y)
    out = tmp_path / "run"
    argv = ["search", "--data", str(tmp_path / "blobs.npz"), "--size", "24", "--baseline", "embedded3", "--epochs",
            "1", "--final-epochs", "1", "--baseline-epochs", "1", "--baseline-lr", "3e-3", "--batch-size", "32", "--budget-flops", "40000",
            "--max-evals", "3", "--patience", "0", "--finalists", "1", "--auc-ratio", "0.05", "--no-export", "--families",
            "--out", str(out)]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    fresh = rows[1:]  # at 40,000 FLOPs only family moves fit: A* trains them first (h = 0)
    assert all(r["reduction"].startswith("trunk \u2192 ") and r["from_scratch"] for r in fresh)
    assert all(r["epochs"] == 1 and "rung" not in r and set(r["inherited"].values()) <= {"reinitialised"} for r in fresh)
    summary = json.loads((out / "summary.json").read_text())
    tuned = [r for r in summary["leaderboard"] if "fine_tuned_val_auc" in r]
    best_fresh = max((r for r in fresh if r["fits"]), key=lambda r: (r["val"]["auc"], -r["flops"]))
    assert best_fresh["key"] in {r["key"] for r in tuned}  # --finalists 1, and it is among them
    final = summary["final"]
    baseline_auc = rows[0]["val"]["auc"]  # the teacher teaches only a finalist it scores above
    assert final["distilled"] == (final["search_val_auc"] < baseline_auc)
    assert final["reductions"][0].startswith("trunk \u2192 ")
    assert 1 <= len(final["history"]) <= SCRATCH_FINAL_FACTOR  # up to 4 x --final-epochs, early stop allowed
