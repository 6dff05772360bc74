"""The report of a wearable run: a window of each class with its channels, per-subject LOSO AUC bars, the confusion
matrix with low-/high-<target> classes; a run without --loso says why it has no bars."""
import base64
import json
import re
import shutil

import numpy as np
import pytest

from compress.data.signals import CHANNELS
from compress.report import run_report, signal_plots
from tests.report.test_run_report import _check_png, _images

# the per-subject AUCs written over the tiny run's own, so the bars can be checked against numbers known here
WINNER_AUCS = {"S01": 0.91, "S02": 0.62, "S03": 0.74, "S04": 0.55}


@pytest.fixture(scope="module")
def loso_run(tiny_loso_run):
    """The tiny `search --loso` of conftest.py (4 subjects, a 4-filter conv), shared with tests/search/test_loso.py."""
    code, run = tiny_loso_run
    assert code == 0
    return run


@pytest.fixture
def copy_of(loso_run, tmp_path, monkeypatch):
    """A fresh copy of the run, to change without touching the others; the data cache of the module's run."""

    def copy(name="run"):
        target = tmp_path / name
        shutil.copytree(loso_run, target)
        return target

    return copy


def _section(md: str, title: str) -> str:
    return md.split(title, 1)[1].split("\n## ", 1)[0]


def test_wearable_report_shows_class_windows_subject_aucs_and_the_confusion_matrix(copy_of):
    run = copy_of()
    assert run_report.write_run_report(run) == [run / "report.md", run / "report.html"]
    md = (run / "report.md").read_text()
    names = [p.name for p in _images(md, run)]
    assert names[:2] == ["class_windows.png", "subject_auc.png"]  # the wearable section comes after the results
    assert "confusion.png" in names
    for path in _images(md, run):
        assert path.stat().st_size > 0
        _check_png(path.read_bytes())
    section = _section(md, "## Wearable signals")
    # (a) the window the fine-tuned winner is surest of, per class, from the held-out subject S01
    assert "most confident" in section and "the fine-tuned winner (`best.keras`)" in section
    assert ", ".join(CHANNELS) in section
    for name in ("low-arousal", "high-arousal"):
        assert re.search(rf"{name}: test window \d+ of \d+ \(held-out subject S01\), p\({name}\) = [\d.]+", section)
    # (b) the stored per-subject AUCs as bars and as a table
    loso = json.loads((run / "summary.json").read_text())["loso"]
    for subject, auc in loso["baseline"]["per_subject"].items():
        assert f"| {subject} | {auc:.4f} | {loso['winner']['per_subject'][subject]:.4f} |" in section
    assert "S01 held out" in section
    # (c) the confusion matrix already drawn for every run, with the wearable class names
    confusion = _section(md, "## Confusion matrices and per-class metrics")
    assert "report_files/confusion.png" in confusion
    assert re.search(r"\| low-arousal \| [\d.]+ \|", confusion) and re.search(r"\| high-arousal \| [\d.]+ \|", confusion)
    html = (run / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(embedded) == len(names) and "Wearable signals" in html
    assert base64.b64decode(embedded[0]) == (run / "report_files" / "class_windows.png").read_bytes()
    assert base64.b64decode(embedded[1]) == (run / "report_files" / "subject_auc.png").read_bytes()


def test_subject_bars_are_the_stored_aucs(copy_of):
    run = copy_of()
    summary = json.loads((run / "summary.json").read_text())
    winner = summary["loso"]["winner"]
    winner.update(per_subject=WINNER_AUCS, mean=float(np.mean(list(WINNER_AUCS.values()))),
                  sd=float(np.std(list(WINNER_AUCS.values()), ddof=1)))
    (run / "summary.json").write_text(json.dumps(summary))
    subjects, heights, means = signal_plots.subject_auc_bars(summary["loso"])
    assert subjects == ["S01", "S02", "S03", "S04"]
    assert heights["winner"] == [WINNER_AUCS[s] for s in subjects]
    assert heights["baseline"] == [summary["loso"]["baseline"]["per_subject"][s] for s in subjects]
    assert means == {"baseline": summary["loso"]["baseline"]["mean"], "winner": pytest.approx(0.705)}
    run_report.write_run_report(run, formats=("md",))
    section = _section((run / "report.md").read_text(), "## Wearable signals")
    assert "| S03 | " in section and " | 0.7400 |" in section
    assert f"| mean +- SD | {summary['loso']['baseline']['mean']:.4f} +- " in section and "| 0.7050 +- " in section


def test_subject_bars_of_a_winner_missing_a_subject_and_of_the_baseline_alone():
    entry = {"baseline": {"per_subject": {"A": 0.6, "B": 0.8}, "mean": 0.7, "sd": 0.14},
             "winner": {"per_subject": {"B": 0.9, "C": 0.5}, "mean": 0.7, "sd": 0.28}}
    assert signal_plots.subject_auc_bars(entry) == (["A", "B", "C"], {"baseline": [0.6, 0.8, None],
                                                                      "winner": [None, 0.9, 0.5]},
                                                    {"baseline": 0.7, "winner": 0.7})
    assert signal_plots.subject_auc_bars({"baseline": entry["baseline"]})[1] == {"baseline": [0.6, 0.8]}


def test_wearable_run_without_loso_skips_the_subject_bars(copy_of):
    run = copy_of()
    config = json.loads((run / "config.json").read_text())
    config["data"]["loso"] = False
    (run / "config.json").write_text(json.dumps(config))
    summary = json.loads((run / "summary.json").read_text())
    summary.pop("loso")
    (run / "summary.json").write_text(json.dumps(summary))
    run_report.write_run_report(run, formats=("md",))
    md = (run / "report.md").read_text()
    section = _section(md, "## Wearable signals")
    assert "### Per-subject AUC (leave-one-subject-out)\n\nNot drawn: this run had no `--loso`" in section
    assert "report_files/class_windows.png" in section and "subject_auc.png" not in md
    assert not (run / "report_files" / "subject_auc.png").exists()
    assert (run / "report_files" / "class_windows.png").stat().st_size > 0


def test_unfinished_run_without_weights_shows_the_first_windows_and_the_baseline_folds(copy_of):
    """Killed before its end: no summary, no model to score windows (first of each class); loso_baseline.json."""
    run = copy_of("killed")
    for name in ("summary.json", "best.keras", "best_spec.json"):
        (run / name).unlink()
    shutil.rmtree(run / "weights")
    run_report.write_run_report(run, formats=("md",))
    section = _section((run / "report.md").read_text(), "## Wearable signals")
    data = run_report.load_run(run).data()
    for k, name in enumerate(data.class_names):
        first = int(np.flatnonzero(data.y_test == k)[0])
        assert f"{name}: test window {first} of {len(data.y_test)} (held-out subject S01)" in section
    assert "the first test window of its class" in section and "could not be loaded" in section
    base = json.loads((run / "loso_baseline.json").read_text())
    assert f"| S02 | {base['per_subject']['S02']:.4f} |" in section and "| winner" not in section
    assert "The baseline's scores so far" in section
    _check_png((run / "report_files" / "subject_auc.png").read_bytes())


def test_pick_windows_takes_the_most_confident_window_of_each_class():
    labels = {"test": np.array([0, 1, 0, 0, 1]), "val": np.array([1, 2])}
    scores = {"test": np.array([[0.6, 0.4, 0], [0.3, 0.7, 0], [0.9, 0.1, 0], [0.2, 0.8, 0], [0.1, 0.9, 0]]),
              "val": np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])}
    assert signal_plots.pick_windows(labels, scores, 3) == [("test", 2, 0.9), ("test", 4, 0.9), ("val", 1, 0.8)]
    assert signal_plots.pick_windows(labels, None, 4) == [("test", 0, None), ("test", 1, None), ("val", 1, None),
                                                          None]


def test_class_windows_draws_one_panel_per_window(tmp_path):
    rng = np.random.default_rng(0)
    windows = [rng.normal(size=(20, 1, 4)), rng.normal(size=(20, 1, 4))]
    path = signal_plots.class_windows(windows, ["low", "high"], CHANNELS, 4.0, tmp_path / "w.png")
    _check_png(path.read_bytes())
