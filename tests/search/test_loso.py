"""`search --loso` on a few generated subjects: beta from the baseline's LOSO mean, both models scored on every fold."""
import json

import numpy as np
import pytest

from compress import jobs
from compress.cli import main
from compress.summary import read_summary


def test_loso_search_reports_baseline_and_winner_over_every_subject(tiny_loso_run):
    code, out = tiny_loso_run  # conftest: 4 subjects, a 4-filter conv, 3 evaluations, export on
    assert code == 0  # the baseline fits the budget and beta is low: there is a winner
    summary = json.loads((out / "summary.json").read_text())
    loso = summary["loso"]
    base = loso["baseline"]
    assert sorted(base["per_subject"]) == ["S01", "S02", "S03", "S04"]
    aucs = list(base["per_subject"].values())
    assert base["mean"] == pytest.approx(np.mean(aucs)) and base["sd"] == pytest.approx(np.std(aucs, ddof=1))
    assert summary["beta"] == pytest.approx(0.5 + 0.1 * (base["mean"] - 0.5))  # beta from the LOSO mean, not one fold's val AUC
    assert "S01 held out" in loso["selection"]
    printed = jobs._loso_md(read_summary(out))  # what the search prints after its results table
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
                 "--final-epochs", "1", "--baseline-epochs", "1", "--baseline-lr", "3e-3", "--no-export", "--out", str(tmp_path / "r")])
    assert code == 2 and "--loso" in capsys.readouterr().err
