"""A baseline trained from scratch is kept and scored, not trained, by the next run with the same data and
settings; --retrain-baseline and any changed setting train it anew."""
import json

import h5py
import numpy as np
import pytest

from compress.cli import main
from compress.search import baseline_cache


@pytest.fixture()
def blobs(tmp_path, monkeypatch):
    from conftest import blob_images

    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path / "cache"))
    x, y = blob_images(200)
    np.savez(tmp_path / "blobs.npz", x=np.round(x[..., 0] * 255).astype(np.uint8), y=y)
    return tmp_path


def baseline_row(root, out, *extra) -> dict:
    argv = ["search", "--data", str(root / "blobs.npz"), "--size", "24", "--baseline", "embedded3", "--epochs", "1",
            "--baseline-epochs", "2", "--baseline-lr", "3e-3", "--batch-size", "32", "--max-evals", "1",
            "--no-export", "--out", str(root / out), *extra]
    assert main(argv) in (0, 3)  # one evaluation: the baseline alone, no goal needed here
    return json.loads((root / out / "journal.jsonl").read_text().splitlines()[0])


def test_the_next_run_scores_the_kept_baseline_and_retraining_or_a_change_trains_it(blobs):
    first = baseline_row(blobs, "a")
    assert "baseline_from" not in first and first["epochs"] == 2
    kept = list((blobs / "cache" / "baselines").glob("*.weights.h5"))
    assert len(kept) == 1
    with h5py.File(kept[0], "r") as weights:
        assert "optimizer" not in weights and len(weights) > 0  # the weights without Adam's moments
    second = baseline_row(blobs, "b")
    assert second["baseline_from"]["path"] == str(kept[0]) and second["epochs"] == 2
    assert second["val"]["auc"] == first["val"]["auc"]  # the same weights, scored
    assert "baseline_from" not in baseline_row(blobs, "c", "--retrain-baseline")
    assert "baseline_from" not in baseline_row(blobs, "d", "--baseline-lr", "1e-3")  # another key


def test_a_cache_that_cannot_be_written_loses_the_copy_not_the_run(tmp_path):
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"x")
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    assert baseline_cache.store("k", weights, {"epochs": 1}, cache_dir=tmp_path / "cache") is None
