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

TINY = ["--samples", "300", "--size", "24", "--baseline", "embedded3", "--epochs", "1", "--final-epochs", "1",
        "--budget-flops", "20000", "--max-evals", "12", "--batch-size", "32"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("COMPRESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def journal_keys(run: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (run / "journal.jsonl").read_text().splitlines() if line.strip()]


def test_tiny_search_goes_from_baseline_to_a_sketch(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", *TINY, "--out", str(out)]) == 0
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
    assert "| final | test |" in capsys.readouterr().out


def _search_process(out: Path, *extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "compress", "search", *TINY, "--no-export", "--out", str(out), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_finishes_with_the_same_result_and_retrains_nothing(tmp_path):
    reference = tmp_path / "reference"
    assert _search_process(reference).wait(timeout=300) == 0
    expected = json.loads((reference / "summary.json").read_text())

    out = tmp_path / "killed"
    proc = _search_process(out)
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

    resumed = _search_process(out, "--resume")
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
])
def test_bad_search_input_is_one_clear_line(tmp_path, capsys, extra, message):
    argv = ["search", *TINY, "--out", str(tmp_path / "run"), *extra]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and message in err[-1] and err[-1].startswith("error:")


def test_a_second_search_into_a_used_folder_needs_resume(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "journal.jsonl").write_text("")
    assert main(["search", *TINY, "--out", str(out)]) != 0
    assert "--resume" in capsys.readouterr().err


def test_train_scores_the_baseline_alone(tmp_path, capsys):
    out = tmp_path / "train"
    argv = ["train", "--samples", "300", "--size", "24", "--baseline", "embedded3", "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "train.json").read_text())
    assert 0.0 <= result["test"]["auc"] <= 1.0 and result["flops"] > 0 and len(result["history"]) == 1
    assert (out / "model.keras").exists() and "test: AUC" in capsys.readouterr().out
