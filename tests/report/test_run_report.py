"""`report`: report.md / report.html from a synthetic run folder (no training), killed runs, comparison, CLI."""
import base64
import html
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from compress import CompressError
from compress.config import DataConfig, RunConfig, SearchConfig, Targets
from compress.devices import profiles
from compress.devices import targets as device_targets
from compress.models import zoo
from compress.report import compare
from compress.report import layers, run_report
from compress.cli import main
from compress.models.cost import spec_cost
from compress.models.keras_build import build_model
from compress.models.reductions import reductions
from compress.models.spec import Layer, ModelSpec

INPUT = (24, 24, 1)
AUC_RATIO = 0.55  # beta = 0.5 + 0.55 x (0.90 - 0.5) = 0.72
SECTIONS = ("## Results", "## Leaderboard", "## AUC intervals and sample sizes", "## Pareto plot",
            "## Latency, arena and flash of every candidate", "## Search tree", "## Per-layer cost",
            "## Per-layer latency and flash on the device", "## Memory budget on the device",
            "## Learning curves of the fine-tune", "## Confusion matrices and per-class metrics",
            "## Float vs int8 agreement", "## ROC curve and operating threshold", "## Saliency maps")
# export.json's operating point and ROC curves, by hand: threshold 0.42 (int8 -20) chosen on val
POINT = {"rule": "youden", "chosen_on": "val", "positive_class": 1, "positive_name": "smiling", "threshold_q": -20,
         "threshold": 0.421875, "val": {"tpr": 0.8, "fpr": 0.2, "j": 0.6, "samples": 12},
         "test": {"tpr": 0.75, "fpr": 0.25, "j": 0.5, "samples": 12},
         "argmax": {"val": {"tpr": 0.6, "fpr": 0.1, "j": 0.5}, "test": {"tpr": 0.5, "fpr": 0.125, "j": 0.375}}}
ROC = {"model": "int8",
       "val": [{"label": "smiling", "auc": 0.85, "fpr": [0, 0.1, 0.2, 0.5, 1], "tpr": [0, 0.6, 0.8, 0.9, 1]}],
       "test": [{"label": "smiling", "auc": 0.8, "fpr": [0, 0.125, 0.25, 1], "tpr": [0, 0.5, 0.75, 1]}]}


def _metrics(auc: float, rng) -> dict:
    cm = rng.integers(1, 9, (2, 2)).tolist()
    return {"auc": auc, "accuracy": 0.7, "precision": 0.6, "recall": 0.5, "confusion": cm}


def _journal(budget_flops: float) -> list[dict]:
    """Baseline, 4 children, 3 grandchildren under child 2, 2 great-grandchildren: 10 rows; AUCs fixed by hand."""
    rng = np.random.default_rng(0)
    base = zoo.embedded3(INPUT, 2)
    plan = [(base, None, "baseline", 0)]
    kids = reductions(base)[:4]
    plan += [(k.spec, base, k.label, 1) for k in kids]
    grand = reductions(kids[1].spec)[:3]
    plan += [(g.spec, kids[1].spec, g.label, 2) for g in grand]
    plan += [(g.spec, grand[0].spec, g.label, 3) for g in reductions(grand[0].spec)[:2]]
    aucs = [0.90, 0.60, 0.85, 0.80, 0.50, 0.83, 0.70, 0.78, 0.81, 0.79]  # beta = 0.72: rows 2, 5, 7 pruned
    rows = []
    for (spec, parent, label, depth), auc in zip(plan, aucs):
        cost = spec_cost(spec)
        checks = device_targets.check(cost, profiles.get("apollo3"), Targets(budget_flops=budget_flops))
        fits = all(c.passed for c in checks)
        rows.append({"key": spec.key, "parent": parent.key if parent else None, "reduction": label, "depth": depth,
                     "flops": cost.flops, "fits": fits, "val": _metrics(auc, rng), "params": cost.params,
                     "arena_bytes": cost.arena_bytes, "flash_bytes": cost.flash_bytes, "epochs": 1,
                     "train_seconds": 1.5, "spec": spec.to_dict()})
    return rows


def _entry(row: dict, test_auc: float) -> dict:
    return {"key": row["key"], "flops": row["flops"], "macs": row["flops"] // 2, "params": row["params"],
            "flash_bytes": row["flash_bytes"], "arena_bytes": row["arena_bytes"], "latency_s": row["flops"] / 0.46e6,
            "val": row["val"], "test": {**row["val"], "auc": test_auc}}


def _write_data(path: Path) -> None:
    """120 24x24 images, two classes told apart by brightness: enough for 4 test images of each class."""
    rng = np.random.default_rng(1)
    y = np.arange(120) % 2
    x = (rng.uniform(0, 150, (120, 24, 24)) + 80 * y[:, None, None]).astype(np.uint8)
    np.savez(path, x=x, y=y, class_names=np.array(["calm", "smiling"]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run (summary, export.json, best.keras, weights) and a killed copy (config + journal + weights)."""
    root = tmp_path_factory.mktemp("runs")
    budget = max(r["flops"] for r in _journal(1e12) if r["depth"] == 3) + 1  # two goals: rows 9 and 10
    rows = _journal(budget)
    assert [i for i, r in enumerate(rows, 1) if r["fits"]] == [9, 10]
    done = root / "done"
    done.mkdir()
    _write_data(root / "tiny.npz")
    config = RunConfig(data=DataConfig(source=str(root / "tiny.npz"), size=24), targets=Targets(budget_flops=budget),
                       search=SearchConfig(baseline="embedded3", auc_ratio=AUC_RATIO))
    (done / "config.json").write_text(json.dumps(config.to_dict()))
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    (done / "journal.jsonl").write_text(lines)
    beta = 0.5 + AUC_RATIO * (rows[0]["val"]["auc"] - 0.5)
    win = rows[8]  # the better goal (AUC 0.81); it is also the winner so far of the killed copy, which lacks row 10
    spec = ModelSpec.from_dict(win["spec"])
    model = build_model(spec, seed=0)
    model.save(done / "best.keras")
    (done / "weights").mkdir()
    model.save_weights(done / "weights" / f"{win['key']}.weights.h5")
    checks = device_targets.check(spec_cost(spec), profiles.get("apollo3"), Targets(budget_flops=budget))
    history = [{"epoch": e, "loss": 0.7 - 0.05 * e, "val_auc": 0.8 + 0.01 * e, "val_accuracy": 0.7, "seconds": 1}
               for e in (1, 2, 3)]
    final = {**_entry(win, 0.80), "reductions": ["a", "b", "c"], "search_val_auc": win["val"]["auc"],
             "history": history}
    int8 = {**final, "val": None, "test": {**final["test"], "auc": 0.79}, "model_bytes": 5000}
    summary = {"status": "goal", "strategy": "astar", "device": "apollo3", "budget_flops": budget,
               "auc_ratio": AUC_RATIO, "beta": beta, "evaluations": len(rows), "trainings_this_run": len(rows),
               "train_seconds_total": 15.0, "search_seconds_this_run": 42.0, "stopped": "", "data": "tiny.npz",
               "class_names": ["calm", "smiling"], "baseline": {"name": "embedded3", **_entry(rows[0], 0.88)},
               "final": final, "targets": [c.to_dict() for c in checks], "int8": int8,
               "firmware": {"sketch_dir": "firmware/model_apollo3", "model_bytes": 5000, "arena_measured_bytes": 3000,
                            "arena_bytes": 5048, "ops": ["CONV_2D", "SOFTMAX"], "passed": True,
                            "self_test_passed": True,
                            "checks": [{"target": "arena", "figure": 35816, "limit": 393216, "unit": "bytes",
                                        "passed": True}]}}
    (done / "summary.json").write_text(json.dumps(summary))
    (done / "export.json").write_text(json.dumps({"class_names": ["calm", "smiling"], "metrics": {
        "split": "test", "float": final["test"], "int8": {**final["test"], "confusion": [[5, 1], [2, 4]]}},
        "operating_point": POINT, "roc": ROC}))

    killed = root / "killed"
    killed.mkdir()
    shutil.copy(done / "config.json", killed / "config.json")
    shutil.copytree(done / "weights", killed / "weights")
    last = json.dumps(rows[-1])
    (killed / "journal.jsonl").write_text(lines[: -len(last) - 1] + last[: len(last) // 2])  # half-written line
    return {"done": done, "killed": killed, "rows": rows, "beta": beta, "win": win}


def _images(md: str, run: Path) -> list[Path]:
    return [run / p for p in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)]


def _check_png(data: bytes) -> None:
    """A real PNG with something drawn on it (not one flat colour)."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("L")
    assert image.size[0] > 200 and image.size[1] > 150
    low, high = image.getextrema()
    assert high - low > 100


def test_finished_run_report_has_every_section_and_image(runs):
    run = runs["done"]
    written = run_report.write_run_report(run)
    assert written == [run / "report.md", run / "report.html"]
    md = (run / "report.md").read_text()
    assert [s for s in SECTIONS if s not in md] == []
    # seed 001's table: baseline and final on both splits (ΔAUC above chance: 0.30 / 0.38 - 1), the int8 row, every target
    for row in ("| baseline (embedded3) | val |", "| baseline (embedded3) | test |", "| final | val |",
                "| final | test | 0.8000 | -21.1% |", "| final int8 | test | 0.7900 |"):
        assert row in md
    for target in ("flops", "latency", "flash", "arena"):
        assert re.search(rf"\| {target} \| .* \| (PASS|FAIL) \|", md), target
    images = _images(md, run)
    assert [p.name for p in images] == ["pareto.png", "candidates.png", "search_tree.png", "layer_cost.png",
                                        "memory.png", "learning_curves.png", "confusion.png", "roc.png",
                                        "saliency.png"]
    for path in images:
        _check_png(path.read_bytes())
    # the text tree lists every evaluation once and marks exactly the rows below beta as pruned
    tree = html.unescape(re.sub(r'<a id="node-\d+"></a>', "", md.split("<pre>")[1].split("</pre>")[0]))
    assert re.findall(r"#(\d+) ", tree) == [str(i) for i in (1, 2, 3, 6, 9, 10, 7, 8, 4, 5)]
    assert tree.count("[pruned]") == sum(r["val"]["auc"] < runs["beta"] for r in runs["rows"]) == 3
    assert [line.split("#")[1].split(" ")[0] for line in tree.splitlines() if "<- winner" in line] == ["9"]
    assert "the fine-tuned winner (`best.keras`)" in md


def test_html_is_self_contained_with_every_image_embedded(runs):
    run = runs["done"]
    run_report.write_run_report(run, formats=("html",))
    html = (run / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(embedded) == 9
    for data in embedded:
        _check_png(base64.b64decode(data))
    assert "report_files" not in html and "<table>" in html and 'class="pass"' in html
    assert all(s[3:] in html for s in SECTIONS)


def test_per_class_metrics_come_from_the_confusion_matrices(runs):
    run = runs["done"]
    run_report.write_run_report(run, formats=("md",))
    md = (run / "report.md").read_text()
    # int8 [[5, 1], [2, 4]]: smiling precision 4/5, recall 4/6, F1 8/11
    assert re.search(r"\| smiling \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 0\.800 \| 0\.667 \| 0\.727 \| \d+ \|", md)
    f1_calm = 2 * (5 / 7) * (5 / 6) / (5 / 7 + 5 / 6)
    assert run_report.per_class([[5, 1], [2, 4]]) == [(5 / 7, 5 / 6, pytest.approx(f1_calm), 6),
                                                  (0.8, 4 / 6, pytest.approx(8 / 11), 6)]


def test_killed_run_report_comes_from_the_journal_alone(runs, capsys):
    run = runs["killed"]
    run_report.write_run_report(run)
    md = (run / "report.md").read_text()
    assert "**Unfinished run**" in md and "9 evaluations so far" in md  # the half-written 10th line is skipped
    assert [s for s in SECTIONS if s not in md] == []
    assert "No fine-tune recorded" in md and "No ROC curve" in md
    assert "| winner so far | val |" in md and "Device targets (winner so far, estimated)" in md
    assert "`weights/" in md  # saliency from the winner's saved weights, no best.keras
    names = [p.name for p in _images(md, run)]
    assert names == ["pareto.png", "candidates.png", "search_tree.png", "layer_cost.png", "memory.png",
                     "confusion.png", "saliency.png"]
    assert "line 10 is corrupt" in capsys.readouterr().err


def test_run_with_only_config_and_journal_says_what_is_missing(runs, tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    shutil.copy(runs["killed"] / "journal.jsonl", run / "journal.jsonl")
    config = json.loads((runs["killed"] / "config.json").read_text())
    config["data"]["source"] = str(tmp_path / "gone.npz")
    (run / "config.json").write_text(json.dumps(config))
    run_report.write_run_report(run, formats=("md",))
    md = (run / "report.md").read_text()
    assert "## Saliency maps\n\nNot drawn:" in md and "weights.h5: missing" in md
    assert not (run / "report.html").exists()
    assert not (run / "report_files" / "saliency.png").exists()


def test_no_goal_run_reports_the_closest_models(runs, tmp_path):
    run = tmp_path / "nogoal"
    shutil.copytree(runs["done"], run)
    summary = json.loads((run / "summary.json").read_text())
    for key in ("final", "targets", "int8", "firmware"):
        summary.pop(key)
    summary["status"] = "no-goal"
    summary["closest"] = {"smallest_above_beta": {"key": "k", "flops": 1234, "val_auc": 0.8, "reductions": ["x"]},
                          "best_under_budget": None}
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "export.json").unlink()
    run_report.write_run_report(run, formats=("md",))
    md = (run / "report.md").read_text()
    assert "**No model met every target with AUC >= beta.**" in md and "- best under budget: none" in md
    assert "No fine-tune recorded" in md and "val (search)" in md


def test_compare_has_one_row_per_run(runs):
    table = compare.compare_markdown([runs["done"], runs["killed"]])
    lines = table.splitlines()
    assert len(lines) == 2 + 2
    assert lines[0].startswith("| run | device | budget | strategy | status | trainings | wall time (all sessions) |")
    done, killed = lines[2].split(" | "), lines[3].split(" | ")
    budget = f"{json.loads((runs['done'] / 'summary.json').read_text())['budget_flops'] / 1e6:.3g} M FLOPs"
    assert done[:7] == ["| done", "apollo3", budget, "astar", "goal", "10", "42 s (measured)"]
    assert done[10] == "0.7900" and "3,000 B (measured)" in lines[2] and "4/4 PASS" in lines[2]
    # the killed run: its 9 journal rows took 1.5 s each
    assert killed[:7] == ["| killed", "apollo3", budget, "astar", "unfinished", "9", "14 s (evaluations so far)"]
    assert killed[10] == "-"


def test_compare_counts_wall_time_over_resumed_sessions(runs, tmp_path):
    """The last session trained 4 of the 10 rows in 42 s; the 6 before came from killed sessions (1.5 s each)."""
    run = tmp_path / "resumed"
    shutil.copytree(runs["done"], run)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "trainings_this_run": 4}))
    seconds, how = compare.wall_seconds(compare.load_run(run))
    assert seconds == 42 + 6 * 1.5 and how == "last session measured + 6 earlier evaluations"


def test_compare_a_latency_bounded_run_without_a_flops_budget(runs, tmp_path, capsys):
    """--budget-flops none: null in summary.json and config.json; the table says what bounds the run instead, and
    the comparison plot draws no budget line for it (this used to crash `report --compare`)."""
    run = tmp_path / "latency"
    shutil.copytree(runs["done"], run)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "budget_flops": None}))
    config = json.loads((run / "config.json").read_text())
    config["targets"].update(budget_flops=None, latency_s=1.0)
    (run / "config.json").write_text(json.dumps(config))
    assert main(["report", str(runs["done"]), "--format", "md", "--compare", str(run), str(runs["killed"])]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| latency |"))
    assert row.split(" | ")[2] == "none; latency <= 1,000 ms"
    _check_png((runs["done"] / "report_files" / "compare.png").read_bytes())
    assert compare.budget_text(compare.load_run(runs["killed"])).endswith("M FLOPs")


def test_roc_section_states_the_threshold_the_firmware_uses(runs):
    run_report.write_run_report(runs["done"], formats=("md",))
    md = (runs["done"] / "report.md").read_text()
    section = md.split("## ROC curve and operating threshold")[1].split("## Saliency maps")[0]
    assert "**smiling** when the int8 model's score for it is >= 0.4219 (int8 -20)" in section
    assert "| threshold (Youden's J on val) | val | 0.800 | 0.200 | 0.600 |" in section
    assert "| argmax | test | 0.500 | 0.125 | 0.375 |" in section
    _check_png((runs["done"] / "report_files" / "roc.png").read_bytes())


def test_cli_report_with_compare_writes_both_formats_and_prints_the_table(runs, capsys):
    assert main(["report", str(runs["done"]), "--format", "md", "--compare", str(runs["killed"])]) == 0
    out = capsys.readouterr().out
    assert str(runs["done"] / "report.md") in out and "| killed | apollo3 |" in out and "| astar | unfinished |" in out
    md = (runs["done"] / "report.md").read_text()
    assert "## Comparison of runs" in md and "report_files/compare.png" in md
    _check_png((runs["done"] / "report_files" / "compare.png").read_bytes())


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no such run folder"),
    (lambda p: p.mkdir(), "no journal"),
    (lambda p: (p.mkdir(), (p / "journal.jsonl").write_text("")), "no evaluation recorded yet"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, setup, message):
    run = tmp_path / "run"
    setup(run)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_cli_rejects_an_unknown_format(runs, capsys):
    assert main(["report", str(runs["done"]), "--format", "pdf"]) == 2
    assert "choose md, html or both" in capsys.readouterr().err
    with pytest.raises(CompressError):
        run_report.write_run_report(runs["done"], formats=())


# --- the pieces -------------------------------------------------------------------------------------

def test_pareto_front_keeps_only_undominated_points():
    from compress.report.plots import pareto_front

    points = [(100, 0.9), (50, 0.8), (60, 0.7), (10, 0.5), (10, 0.6), (200, 0.85)]
    assert sorted(pareto_front(points)) == [0, 1, 4]


def test_layer_rows_align_layers_and_mark_removed_and_inserted_ones():
    base = zoo.embedded3((48, 48, 1), 2)
    child = next(r.spec for r in reductions(base) if r.label == "remove conv2")
    child = next(r.spec for r in reductions(child) if r.label.startswith("2\u00d72 max-pool after conv1"))
    rows = layers.layer_rows(base, child)
    names = [r[0] for r in rows]
    assert names[:4] == ["input", "conv1", "conv1_pool", "pool1"] and "bn1" not in names  # BN is fused: no op
    conv2 = rows[names.index("conv2")]
    assert conv2[1] == spec_cost(base).layers[4].flops and conv2[2] is None and conv2[4] is None
    assert rows[names.index("conv1_pool")][1] is None
    assert rows[0][3] == rows[0][4] == 48 * 48  # the int8 input tensor


def test_input_gradients_match_finite_differences_of_the_class_score():
    """On a linear net (conv, flatten, head) the score z_c - mean(z) is linear in x: differences are exact."""
    import tf_keras as keras

    from compress.report.model_plots import input_gradients

    spec = ModelSpec((8, 8, 2), 3, (Layer("conv", "c", units=4, kernel=3), Layer("flatten", "f")), "lin")
    model = build_model(spec, seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 2)).astype(np.float32)
    target = np.array([2, 0])
    maps = input_gradients(model, x, target)
    assert maps.shape == (2, 8, 8) and maps.min() >= 0 and maps.max() > 0
    logits = keras.Model(model.inputs, model.get_layer("head").output)

    def score(xs):
        z = logits.predict(xs, verbose=0).astype(np.float64)
        return z[np.arange(len(xs)), target] - z.mean(axis=1)

    eps = 0.05
    for r, c in ((3, 4), (0, 7)):
        bumped = [x.copy(), x.copy()]
        for ch in range(2):
            bumped[ch][:, r, c, ch] += eps
        grads = np.stack([(score(b) - score(x)) / eps for b in bumped], axis=-1)  # (images, channels)
        assert maps[:, r, c] == pytest.approx(np.abs(grads).max(axis=-1), rel=2e-2, abs=1e-4)
