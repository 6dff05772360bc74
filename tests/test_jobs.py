"""`python -m compress search` end to end on tiny data: results, resume after SIGKILL, and bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compress.cli import main

OPTIONS = ["--size", "24", "--baseline", "embedded3", "--epochs", "1", "--final-epochs", "2", "--baseline-epochs", "2", "--baseline-lr", "3e-3",
           "--budget-flops", "20000", "--max-evals", "12", "--batch-size", "32", "--patience", "2", "--finalists", "2",
           "--no-families"]  # the reductions' path; tests/search/test_family_search.py runs the families


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> list[str]:
    """Search options on 300 blob images (learnable in a couple of epochs, unlike 300 tiny faces)."""
    import numpy as np
    from conftest import blob_images

    x, y = blob_images(300)
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x=np.round(x[..., 0] * 255).astype(np.uint8), y=y, class_names=np.array(["dim", "bright"]))
    return ["--data", str(path), *OPTIONS]


def journal_keys(run: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (run / "journal.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny) -> tuple[int, Path, str]:
    """(exit status, run folder, what it printed) of the tiny search with export: several tests read it."""
    import contextlib
    import io

    out, printed = tmp_path_factory.mktemp("tiny") / "run", io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["search", *tiny, "--out", str(out)])
    return code, out, printed.getvalue()


def test_tiny_search_goes_from_baseline_to_a_sketch(tiny_run):
    code, out, printed = tiny_run
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "goal"
    final = summary["final"]
    assert final["flops"] <= 20000 and final["val"]["auc"] >= 0 and final["reductions"]
    assert summary["evaluations"] == len(journal_keys(out)) == len(set(journal_keys(out)))
    assert all(t["passed"] for t in summary["targets"])
    for name in ("best.keras", "best_spec.json", "report.md", "model_int8.tflite", "export.json"):
        assert (out / name).stat().st_size > 0, name
    assert summary["int8"]["test"]["auc"] is not None
    assert summary["firmware"]["self_test_passed"] and summary["firmware"]["passed"]
    assert (out / "firmware" / "model_apollo3" / "model_apollo3.ino").exists()
    report = (out / "report.md").read_text()
    assert "| final | test |" in report and "PASS" in report
    # the terminal gets aligned tables: the results table once, with the int8 row
    assert "| final | test |" not in printed
    header = [line for line in printed.splitlines() if line.split()[:3] == ["model", "split", "AUC"]]
    assert len(header) == 1, printed
    results = printed.split(header[0], 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[:2] for line in results if line.startswith("final")] == [
        ["final", "val"], ["final", "test"], ["final", "int8"]]
    assert " ms" in results[-1] and " s\n" not in printed  # latency in milliseconds everywhere
    assert "1 models" not in printed
    assert [line.split()[-1] for line in printed.splitlines() if line.startswith("id ")] == ["chosen"]


def _search_process(tiny, out: Path, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "compress", "search", *tiny, "--no-export", "--out", str(out), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_finishes_with_the_same_result_and_retrains_nothing(tmp_path, tiny, tiny_run):
    expected = json.loads((tiny_run[1] / "summary.json").read_text())  # the same search, never killed

    out = tmp_path / "killed"
    proc = _search_process(tiny, out)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "journal.jsonl").exists() and len(journal_keys(out)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the search finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = journal_keys(out)
    assert len(before) >= 2

    resumed = _search_process(tiny, out, "--resume")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    after = journal_keys(out)
    assert after[:len(before)] == before  # the journal was only appended to
    assert len(after) == len(set(after))  # nothing journaled was trained again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trainings_this_run"] == len(after) - len(before)
    assert summary["final"]["key"] == expected["final"]["key"]
    assert summary["evaluations"] == expected["evaluations"]


@pytest.mark.parametrize("extra, message", [
    (["--budget-flops", "1"], "cannot be met"),
    (["--baseline", "nosuchnet"], "nosuchnet"),
    (["--auc-ratio", "1.2"], "--auc-ratio"),
    (["--resume"], "nothing to resume"),
    (["--device", "esp32"], "unknown device 'esp32'"),
])
def test_bad_search_input_is_one_clear_line(tmp_path, capsys, extra, message, tiny):
    argv = ["search", *tiny, "--out", str(tmp_path / "run"), *extra]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and message in err[-1] and err[-1].startswith("error:")


def test_a_second_search_into_a_used_folder_needs_resume(tmp_path, capsys, tiny):
    out = tmp_path / "run"
    out.mkdir()
    (out / "journal.jsonl").write_text("")
    assert main(["search", *tiny, "--out", str(out)]) != 0
    assert "--resume" in capsys.readouterr().err


def test_train_scores_the_baseline_alone(tmp_path, capsys):
    out = tmp_path / "train"
    argv = ["train", "--samples", "300", "--size", "24", "--baseline", "embedded3", "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "train.json").read_text())
    assert 0.0 <= result["test"]["auc"] <= 1.0 and result["flops"] > 0 and len(result["history"]) == 1
    assert (out / "model.keras").exists() and "test: AUC" in capsys.readouterr().out


def test_a_baseline_that_learned_nothing_stops_the_search_with_a_hint():
    from compress import CompressError
    from compress.config import RunConfig
    from compress.stages.baseline import check_learned

    check_learned(0.56, RunConfig())
    with pytest.raises(CompressError, match="--baseline-lr"):
        check_learned(0.46, RunConfig())


def test_the_summary_has_a_leaderboard_and_the_finalists_fine_tuned(tiny_run):
    code, out, _ = tiny_run
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    board = summary["leaderboard"]
    assert board and [r["val_auc"] for r in board] == sorted((r["val_auc"] for r in board), reverse=True)
    tuned = [r for r in board if "fine_tuned_val_auc" in r]
    assert len(tuned) == min(2, len(board))
    assert summary["final"]["val"]["auc"] == max(r["fine_tuned_val_auc"] for r in tuned)
    # distilled from the baseline unless the finalist already scored above it on val
    assert summary["final"]["distilled"] == (summary["final"]["search_val_auc"] < summary["baseline"]["val"]["auc"])


def test_the_baseline_stage_journals_the_baseline_as_the_search_does_and_replays_it_on_resume(tmp_path):
    """Beta is known before the Search exists: the baseline's row is the one Search.evaluate writes, a second
    evaluate (--resume) trains nothing, and a Search built afterwards finds the baseline and its per-task
    reference in the journal."""
    import dataclasses

    from compress.models.spec import Layer, ModelSpec
    from compress.search import tasks
    from compress.search.journal import Journal
    from compress.search.session import Search
    from compress.search.space import Space
    from compress.stages.baseline import evaluate

    names = ("arousal", "valence")

    def _spec(units):  # a two-task model: a trunk of `units`, one head per task
        heads = [Layer("dense", f"{t}_fc", units=2, inputs=("fc",)) for t in names]
        return ModelSpec((4, 1, 1), 2, [Layer("flatten", "flatten"), Layer("dense", "fc", units=units)] + heads,
                         tasks=names, heads=tuple(f"{t}_fc" for t in names))

    def Fake():  # noqa: N802 - stands for an Evaluator: per-task metrics and a training time
        per_task = {"arousal": {"auc": 0.8, "accuracy": 0.8}, "valence": {"auc": 0.9, "accuracy": 0.9}}
        return lambda spec, parent: (tasks.worst_raw(per_task), {"train_seconds": 1.0})

    space = Space(lambda s: (), lambda s: s.layers[1].units * 100.0, lambda s: True, 1e9, lambda s: ())
    by_search = Search(space, Fake(), beta=0.0, journal=Journal(tmp_path / "a.jsonl"), log=lambda m: None)
    by_search.evaluate(_spec(16), None, "baseline")
    journal = Journal(tmp_path / "b.jsonl")
    ev, trained = evaluate(_spec(16), space, Fake(), journal)
    assert trained == 1 and journal.replay() == Journal(tmp_path / "a.jsonl").replay()
    again, trained = evaluate(_spec(16), space, Fake(), journal)
    assert trained == 0 and again.to_json() == ev.to_json() and len(journal.replay()) == 1
    search = Search(space, Fake(), beta=0.8, journal=journal, log=lambda m: None)
    assert search.reference == by_search.reference == {"arousal": 0.8, "valence": 0.9}
    assert search.evaluate(_spec(16), None, "baseline").key == ev.key
    assert search.trainings == 0 and search.beta == 0.8
    with pytest.raises(dataclasses.FrozenInstanceError):
        from compress.stages.baseline import Baseline

        Baseline(ev, 0.8, search.reference, None, 1, 0.0).beta = 0.5
