"""`search --loso` on a few generated subjects: beta from the baseline's LOSO mean, both models scored on every fold."""
import json

import numpy as np
import pytest

from compress.cli import main
from compress.models.spec import Layer, ModelSpec


@pytest.fixture
def small_spec(tmp_path):
    """A 4-filter 3 x 1 conv over the (20, 1, 4) windows and the head: trains in a second per fold."""
    spec = ModelSpec((20, 1, 4), 2, (Layer("conv", "conv1", units=4, kernel=3), Layer("bn", "bn1"),
                                     Layer("relu", "relu1"), Layer("flatten", "flatten")), name="small")
    path = tmp_path / "small.json"
    path.write_text(spec.to_json())
    return path


def test_loso_search_reports_baseline_and_winner_over_every_subject(tmp_path, small_spec, capsys, monkeypatch):
    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    code = main(["search", "--data", "synthetic-wearables", "--subjects", "4", "--loso", "--baseline", str(small_spec),
                 "--epochs", "1", "--final-epochs", "2", "--baseline-lr", "3e-3", "--max-evals", "3",
                 "--finalists", "1", "--budget-flops", "12000", "--auc-ratio", "0.5", "--out", str(out)])
    assert code == 0  # the baseline fits the budget and beta is low: there is a winner
    summary = json.loads((out / "summary.json").read_text())
    loso = summary["loso"]
    base = loso["baseline"]
    assert sorted(base["per_subject"]) == ["S01", "S02", "S03", "S04"]
    aucs = list(base["per_subject"].values())
    assert base["mean"] == pytest.approx(np.mean(aucs)) and base["sd"] == pytest.approx(np.std(aucs, ddof=1))
    assert summary["beta"] == pytest.approx(0.5 * base["mean"])  # beta from the LOSO mean, not one fold's val AUC
    assert "S01 held out" in loso["selection"]
    printed = capsys.readouterr().out
    assert "Leave-one-subject-out" in printed and f"{base['mean']:.4f}" in printed
    assert sorted(loso["winner"]["per_subject"]) == sorted(base["per_subject"])  # the winner went through every fold
    assert loso["winner"]["key"] == summary["final"]["key"]
    assert json.loads((out / "loso_baseline.json").read_text())["mean"] == base["mean"]  # kept for --resume
    # ... and the winner went on like an image model's: int8, checked in TFLite Micro, a sketch with a sensor window
    assert (out / "model_int8.tflite").exists() and summary["int8"]["test"]["auc"] > 0
    assert summary["firmware"]["self_test_passed"] and summary["firmware"]["passed"], summary["firmware"]


def test_loso_needs_subjects(tmp_path, capsys, monkeypatch):
    import conftest

    x, y = conftest.blob_images(60)
    path = tmp_path / "blobs.npz"
    np.savez(path, x=np.round(x[..., 0] * 255).astype(np.uint8), y=y)
    code = main(["search", "--data", str(path), "--size", "24", "--baseline", "embedded3", "--loso", "--epochs", "1",
                 "--final-epochs", "1", "--baseline-lr", "3e-3", "--no-export", "--out", str(tmp_path / "r")])
    assert code == 2 and "--loso" in capsys.readouterr().err
