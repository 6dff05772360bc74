"""A tiny three-task search end to end: per-task scores and floors, one int8 model with three outputs checked in
TFLite Micro, a sketch that prints three labels; and the multi-task bad inputs, one line each."""
import json

import pytest

from compress.cli import main
from compress.models.spec import Layer, ModelSpec

TASKS = ("arousal", "dominance", "valence")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 4-filter conv trunk and a dense head per task over the (20, 1, 8) windows of synthetic-multitask."""
    root = tmp_path_factory.mktemp("multitask")
    layers = [Layer("conv", "conv1", units=4, kernel=3), Layer("bn", "bn1"), Layer("relu", "relu1"),
              Layer("flatten", "flatten")]
    layers += [Layer("dense", f"{t}_fc", units=4, inputs=("flatten",)) for t in TASKS]
    spec = ModelSpec((20, 1, 8), 2, layers, name="tiny3", tasks=TASKS, heads=tuple(f"{t}_fc" for t in TASKS))
    (root / "tiny3.json").write_text(spec.to_json())
    code = main(["search", "--data", "synthetic-multitask", "--subjects", "10", "--baseline", str(root / "tiny3.json"),
                 "--task-weights", "1,1,2", "--epochs", "1", "--final-epochs", "2", "--baseline-epochs", "2", "--baseline-lr", "3e-3",
                 "--max-evals", "3", "--finalists", "1", "--budget-flops", "5000", "--auc-ratio", "0.5",
                 "--no-families", "--out", str(root / "run")])
    return code, root / "run"


def test_every_evaluation_scores_every_task_against_its_own_floor(run):
    code, out = run
    assert code == 0
    rows = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    base = rows[0]["val"]
    assert len(rows) == 3  # the baseline (5,936 FLOPs) is over the budget: the search had to reduce it
    assert set(base["tasks"]) == set(TASKS) and base["auc"] == pytest.approx(1.0)
    for row in rows[1:]:
        ratios = {t: (row["val"]["tasks"][t]["auc"] - 0.5) / (base["tasks"][t]["auc"] - 0.5) for t in TASKS}
        assert row["val"]["auc"] == pytest.approx(min(ratios.values()), abs=1e-6)  # ranked by the worst task
        assert set(row["val"]["tasks"][row["val"]["worst_task"]]) >= {"auc", "accuracy", "precision", "recall"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task_beta"] == pytest.approx({t: 0.5 + 0.5 * (base["tasks"][t]["auc"] - 0.5) for t in TASKS})
    assert set(summary["final"]["test"]["tasks"]) == set(TASKS)


def test_one_int8_model_with_three_outputs_runs_in_tflite_micro_and_the_sketch_prints_three_labels(run):
    code, out = run
    summary = json.loads((out / "summary.json").read_text())
    exported = json.loads((out / "export.json").read_text())
    assert sorted(exported["outputs"]) == sorted(TASKS)  # which output is which task, for the firmware
    assert set(summary["int8"]["test"]["tasks"]) == set(TASKS)
    assert summary["firmware"]["passed"] and summary["firmware"]["self_test_passed"], summary["firmware"]
    sketch = next((out / summary["firmware"]["sketch_dir"]).glob("*.ino")).read_text()
    assert all(t in sketch for t in TASKS)


def test_the_results_table_has_a_row_per_task(run):
    from compress.report.tables import result_rows
    from compress.summary import read_summary

    _, out = run
    names = [row[0] for row in result_rows(read_summary(out))]
    for who in ("baseline (tiny3)", "final", "final int8"):
        assert all(f"{who} [{t}]" in names for t in TASKS), names


@pytest.mark.parametrize("argv, words", [
    (["--tasks", "arousal,liking"], "--tasks liking: not a label column of synthetic-multitask"),
    (["--task-weights", "1,2"], r"--task-weights 1,2: 2 weight\(s\) for 3 task"),
    (["--task-weights", "1,x,1"], "--task-weights: '1,x,1': expected weights"),
    (["--balance", "oversample"], "--balance oversample: balances one label"),
    (["--loso"], "--loso: leave-one-subject-out is for single-task"),
])
def test_bad_multitask_options_are_one_line(argv, words, tmp_path, capsys):
    import re

    try:
        code = main(["search", "--data", "synthetic-multitask", "--subjects", "10", "--out", str(tmp_path / "r"),
                     *argv])
    except SystemExit as exc:
        code = exc.code
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and re.search(words, errors[0]), errors


def test_a_folder_missing_a_label_column_is_one_line(tmp_path, capsys):
    for subject in ("s1", "s2", "s3"):
        rows = ["time,eeg,gsr,arousal,valence"] + [f"{i / 10},{i % 7},{i % 5},{1 + i % 9},{9 - i % 9}"
                                                   for i in range(600)]
        (tmp_path / f"{subject}.csv").write_text("\n".join(rows) + "\n")
    code = main(["search", "--data", str(tmp_path), "--tasks", "arousal,dominance,valence",
                 "--out", str(tmp_path / "r")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "dominance" in errors[0] and "s1.csv" in errors[0], errors


def test_data_inspect_counts_each_tasks_classes(capsys):
    assert main(["data", "inspect", "synthetic-multitask", "--subjects", "10"]) == 0
    printed = capsys.readouterr().out
    assert "3 tasks x 2 classes" in printed and all(f"high-{t}" in printed for t in TASKS)
    assert "contact sheet: none" in printed  # windows are not images
