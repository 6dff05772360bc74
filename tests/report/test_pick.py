"""`export RUN --pick ID`: any leaderboard goal deployed from its saved weights, with the ids the terminal and the
report print; a missing goal or missing weights is one line."""
import json

import numpy as np
import pytest

from compress.cli import main
from compress.config import read_run_config
from compress.data.dataset import load
from compress.data.metrics import classification_metrics
from compress.models.keras_build import build_model
from compress.models.spec import ModelSpec
from compress.report import tables
from compress.search.summary import fine_tuned_weights
from compress.summary import read_summary
from tests.report.test_report_sections import _with_leaderboard
from tests.report.test_run_report import runs  # noqa: F401  (a fixture)


def _float_auc(model, run) -> float:
    """The test AUC of a Keras model on the run's own data, as export computes it."""
    data = load(read_run_config(run).data)
    x, y = data.split("test")
    return classification_metrics(y, model.predict(x, verbose=0))["auc"]


def test_pick_exports_the_goal_with_that_id_from_its_weights(runs, tmp_path, capsys):
    run = _with_leaderboard(runs, tmp_path)
    goal = runs["rows"][9]  # leaderboard id 2: not the winner, so no best.keras for it
    spec = ModelSpec.from_dict(goal["spec"])
    searched, tuned = build_model(spec, seed=5), build_model(spec, seed=6)
    searched.save_weights(run / "weights" / f"{goal['key']}.weights.h5")
    # 0, or 2 when the untrained model falls below the floor: export writes its files before that check
    assert main(["export", str(run), "--pick", "2", "--beta", "0.01"]) in (0, 2)
    out = capsys.readouterr().out
    assert f"leaderboard goal 2 of {run}: `weights/{goal['key']}.weights.h5` (as the search trained them, not " \
           "fine-tuned)" in out
    exported = json.loads((run / "pick-2" / "export.json").read_text())
    assert (run / "pick-2" / "model_int8.tflite").stat().st_size == exported["model_bytes"]
    assert exported["metrics"]["float"]["auc"] == pytest.approx(_float_auc(searched, run), abs=1e-6)

    tuned.save_weights(fine_tuned_weights(run / "weights", goal["key"]))  # a finalist's fine-tuned weights win
    assert main(["export", str(run), "--pick", "2", "--beta", "0.01", "--out", str(tmp_path / "tuned")]) in (0, 2)
    assert "(after its fine-tune)" in capsys.readouterr().out
    exported = json.loads((tmp_path / "tuned" / "export.json").read_text())
    assert exported["metrics"]["float"]["auc"] == pytest.approx(_float_auc(tuned, run), abs=1e-6)


def test_pick_of_the_winner_is_the_fine_tuned_model_and_ids_match_the_terminal(runs, tmp_path, capsys):
    run = _with_leaderboard(runs, tmp_path)
    assert main(["export", str(run), "--pick", "1", "--beta", "0.01", "--out", str(tmp_path / "one")]) in (0, 2)
    assert (tmp_path / "one" / "model_int8.tflite").exists()
    assert f"leaderboard goal 1 of {run}: the fine-tuned winner (`best.keras`)" in capsys.readouterr().out
    summary = read_summary(run)
    terminal = tables.search_markdown(summary, text=True)
    lines = terminal.split("Leaderboard")[1].splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("----"))
    board = lines[rule + 1:rule + 3]
    assert [line.split()[0] for line in board] == ["1", "2"]
    assert [float(line.split()[1]) for line in board] == pytest.approx([r.val_auc for r in summary.leaderboard],
                                                                       abs=1e-4)
    assert [r.key for r in summary.leaderboard] == [runs["rows"][8]["key"], runs["rows"][9]["key"]]


@pytest.mark.parametrize("args, message", [
    (["--pick", "3"], "error: --pick 3: the leaderboard of {run} has ids 1 to 2"),
    (["--pick", "2"], "error: --pick 2: the weights of goal 2 are not kept in {run} ({run}/weights/{key}.weights.h5: "
                      "missing)"),
])
def test_a_pick_that_cannot_be_deployed_is_one_line(runs, tmp_path, capsys, args, message):
    run = _with_leaderboard(runs, tmp_path)
    assert main(["export", str(run), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == message.format(run=run, key=runs["rows"][9]["key"])
    assert not (run / "pick-2").exists() and not (run / "pick-3").exists()


def test_pick_needs_a_finished_run_folder(runs, tmp_path, capsys):
    assert main(["export", str(runs["done"] / "best.keras"), "--pick", "1"]) == 2
    assert "--pick takes a run folder" in capsys.readouterr().err
    assert main(["export", str(runs["killed"]), "--pick", "1"]) == 2  # no summary.json yet
    assert "no leaderboard to pick from" in capsys.readouterr().err


def test_a_real_search_keeps_its_finalists_fine_tuned_weights_and_pick_deploys_them(tiny_loso_run, capsys):
    code, run = tiny_loso_run
    summary = read_summary(run)
    assert summary.leaderboard, "the tiny search found no goal"
    winner = summary.final.key
    assert fine_tuned_weights(run / "weights", winner).exists()
    last = summary.leaderboard[-1]
    # 2: the int8 model fell below its floor; its files are written all the same
    assert main(["export", str(run), "--pick", str(last.rank), "--out", str(run.parent / "picked")]) in (0, 2)
    out = capsys.readouterr().out
    assert f"leaderboard goal {last.rank} of {run}" in out and (run.parent / "picked" / "model_int8.tflite").exists()
    assert np.isfinite(json.loads((run.parent / "picked" / "export.json").read_text())["model_bytes"])


def test_export_warns_when_the_floor_comes_from_a_baseline_at_chance(runs, tmp_path, capsys):
    run = _with_leaderboard(runs, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    summary["baseline"]["test"]["auc_ci"] = [0.45, 0.71]
    (run / "summary.json").write_text(json.dumps(summary))
    main(["export", str(run), "--pick", "1"])  # the floor from the run's baseline: 0 or 2, the warning either way
    assert "warning: the baseline's test AUC interval includes 0.5 (single task)" in capsys.readouterr().out
    main(["export", str(run), "--pick", "1", "--beta", "0.6"])  # a floor given by hand: nothing to warn of
    assert "interval includes 0.5" not in capsys.readouterr().out


def test_chance_warning_names_the_tasks_at_chance():
    from compress.deploy.export import chance_warning

    assert chance_warning({"auc": 0.9, "auc_ci": [0.85, 0.95]}) is None
    assert chance_warning({"auc": 0.9}) is None  # no interval recorded: nothing to judge
    tasks = {"tasks": {"arousal": {"auc": 0.8, "auc_ci": [0.7, 0.9]}, "valence": {"auc": 0.47, "auc_ci": [0.4, 0.55]}}}
    assert "(valence)" in chance_warning(tasks)
