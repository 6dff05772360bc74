"""The report's navigation and device sections: contents, leaderboard ids linked to the search tree, AUC intervals
and their warnings, per-layer latency by layer name, the memory budget, float vs int8, figures swapped in whole;
and the committed run (docs/default_run) drawing every section."""
import html
import json
import re
import shutil
from pathlib import Path

import pytest

from compress.models.spec import Layer, ModelSpec
from compress.report import candidate_plots, layers, model_plots, run_report
from tests.report.test_run_report import SECTIONS, _check_png, _images, runs  # noqa: F401  (runs: a fixture)

DEFAULT_RUN = Path(__file__).resolve().parents[2] / "docs" / "default_run"


def _with_leaderboard(runs, tmp_path) -> Path:
    """A copy of the finished run whose summary lists its two goals (rows 9 and 10) as leaderboard ids 1 and 2."""
    run = tmp_path / "board"
    shutil.copytree(runs["done"], run)
    summary = json.loads((run / "summary.json").read_text())
    rows = runs["rows"]
    summary["leaderboard"] = [
        {"rank": rank, "key": row["key"], "val_auc": row["val"]["auc"], "flops": row["flops"], "params": row["params"],
         "latency_s": 0.02, "arena_bytes": row["arena_bytes"], "flash_bytes": row["flash_bytes"],
         "reductions": [r["reduction"] for r in rows[1:] if r["key"] in (rows[1]["key"], rows[5]["key"], row["key"])]}
        for rank, row in ((1, rows[8]), (2, rows[9]))]
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_contents_link_every_section_and_leaderboard_ids_link_the_tree(runs, tmp_path):
    run = _with_leaderboard(runs, tmp_path)
    run_report.write_run_report(run)
    md, page = (run / "report.md").read_text(), (run / "report.html").read_text()
    contents = re.findall(r"^- \[(.+)\]\(#([\w-]+)\)$", md, re.M)
    assert [f"## {title}" for title, _ in contents] == [s for s in re.findall(r"^## .+$", md, re.M)]
    for _, anchor in contents:  # every link lands on a heading of the HTML
        assert f'id="{anchor}"' in page and f'href="#{anchor}"' in page
    board = md.split("## Leaderboard")[1].split("\n## ")[0]
    links = re.findall(r"\| \*\*(\d+)\*\* \| \[#(\d+)\]\(#node-(\d+)\)", board)
    assert links == [("1", "9", "9"), ("2", "10", "10")]  # ids are the ranks; nodes are rows 9 and 10
    tree = md.split("<pre>")[1].split("</pre>")[0]
    for _, order, _ in links:  # the anchor opens the line of that evaluation
        assert re.search(rf'<a id="node-{order}"></a>[^\n]*#{order} ', tree)
        assert f'<a id="node-{order}"></a>' in page
    first = next(line for line in board.splitlines() if line.startswith("| **1** |"))
    assert "| winner |" in first and "export RUN --pick ID" in board


def test_intervals_warn_on_small_splits_and_on_a_baseline_at_chance(runs, tmp_path):
    run = _with_leaderboard(runs, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    summary["baseline"]["test"]["auc_ci"] = [0.41, 0.62]  # includes 0.5
    summary["final"]["test"]["auc_ci"] = [0.7, 0.9]
    (run / "summary.json").write_text(json.dumps(summary))
    exported = json.loads((run / "export.json").read_text())
    (run / "export.json").write_text(json.dumps({**exported, "passed": True}))
    run_report.write_run_report(run, formats=("md",))
    section = (run / "report.md").read_text().split("## AUC intervals and sample sizes")[1].split("\n## ")[0]
    assert "| final | test | 0.8000 | [0.7000, 0.9000] |" in section
    assert "bootstrap" in section and "not recorded" in section  # the fixture's other AUCs carry none
    assert "**Warning: small split**" in section  # the fixture's confusion matrices hold a few dozen samples
    assert "**PASS**" in section and "not distinguishable from chance" in section

    summary["baseline"]["test"]["auc_ci"] = [0.55, 0.95]
    (run / "summary.json").write_text(json.dumps(summary))
    run_report.write_run_report(run, formats=("md",))
    assert "not distinguishable from chance" not in (run / "report.md").read_text()


def test_unfinished_run_says_what_each_new_section_lacks(runs):
    run_report.write_run_report(runs["killed"], formats=("md",))
    md = (runs["killed"] / "report.md").read_text()
    assert "No leaderboard: it is written to `summary.json` when the search ends." in md
    assert "No float-vs-int8 figures: they come from `export.json`" in md
    assert "estimated with the fitted instruction table" in md  # no emulated run: the estimate, labelled
    assert "tensor arena, estimated (no firmware step yet)" in md


def test_memory_budget_names_the_runtime_allowances(runs):
    run_report.write_run_report(runs["done"], formats=("md",))
    section = (runs["done"] / "report.md").read_text().split("## Memory budget on the device")[1].split("\n## ")[0]
    assert "| flash | runtime allowance (`RUNTIME_FLASH_BYTES`) | 131,072 |" in section
    assert "| RAM | runtime allowance (`RUNTIME_RAM_BYTES`) | 32,768 |" in section
    assert "| flash | model: the int8 `.tflite`, measured | 5,000 |" in section  # summary.firmware's
    assert "| RAM | **total** | **37,816** |" in section  # the sketch's 5,048-byte arena + 32,768
    assert "| RAM | limit of apollo3 | 393,216 |" in section


def test_emulated_ops_are_named_by_the_layer_they_come_from():
    spec = ModelSpec((12, 12, 1), 2, (Layer("conv", "stem", units=4, kernel=3), Layer("relu", "r"),
                                       Layer("sepconv", "mid", units=8, kernel=3), Layer("gap", "pool")))
    ops = [{"op": op, "instructions": 100 * (i + 1)} for i, op in enumerate(
        ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"])]
    rows = layers.device_layers(spec, "cmsis-nn", ops)
    assert [(r["layer"], r["ops"], r["emulated"]) for r in rows] == [
        ("stem", ["CONV_2D"], 100), ("mid", ["DEPTHWISE_CONV_2D", "CONV_2D"], 500), ("pool", ["MEAN"], 400),
        ("head", ["FULLY_CONNECTED"], 500), ("softmax", ["SOFTMAX"], 600)]
    assert all(r["estimated"] > 0 and r["flash_bytes"] >= 0 for r in rows)
    assert layers.device_layers(spec, "cmsis-nn", ops[:-1]) is None  # counts disagree: not guessed


def test_layer_chart_calls_a_layer_only_the_winner_has_inserted(monkeypatch, tmp_path):
    texts = []
    monkeypatch.setattr(model_plots, "save_figure", lambda fig, path: texts.extend(
        t.get_text() for ax in fig.axes for t in ax.texts) or path)
    rows = [("conv1", 10, 10, 5, 5), ("conv1_pool", None, 4, None, 2), ("conv2", 8, None, 3, None)]
    model_plots.layer_costs(rows, ("baseline", "closest"), tmp_path / "x.png")
    assert sorted(set(texts)) == ["inserted", "removed"]
    assert texts.count("inserted") == 2 and texts.count("removed") == 2  # one per panel each


def test_a_failing_figure_leaves_the_last_report_files_in_place(runs, tmp_path, monkeypatch):
    run = tmp_path / "again"
    shutil.copytree(runs["done"], run)
    run_report.write_run_report(run, formats=("md",))
    before = sorted(p.name for p in (run / "report_files").iterdir())
    (run / "report_files" / "stale.png").write_bytes(b"x")

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(candidate_plots, "memory", broken)
    with pytest.raises(RuntimeError):
        run_report.write_run_report(run, formats=("md",))
    assert sorted(p.name for p in (run / "report_files").iterdir()) == sorted(before + ["stale.png"])
    assert [p.name for p in run.iterdir() if p.name.startswith(".report_files")] == []
    monkeypatch.undo()
    run_report.write_run_report(run, formats=("md",))
    assert sorted(p.name for p in (run / "report_files").iterdir()) == before  # the stale figure is gone


@pytest.mark.skipif(not (DEFAULT_RUN / "summary.json").exists(), reason="no committed default run")
def test_the_committed_run_draws_every_section(tmp_path):
    run = tmp_path / "default_run"
    shutil.copytree(DEFAULT_RUN, run)
    run_report.write_run_report(run)
    md = (run / "report.md").read_text()
    assert [s for s in SECTIONS if s not in md] == []
    for missing in ("No int8 model yet", "Not drawn", "No ROC curve", "No leaderboard", "No float-vs-int8",
                    "do not line up"):
        assert missing not in md, missing
    for path in _images(md, run):
        _check_png(path.read_bytes())
    assert "instructions (emulated)" in md  # the winner's emulated ops, joined to its layers by name
    assert len(re.findall(r"\| \*\*\d+\*\* \| \[#\d+\]\(#node-\d+\)", md)) == len(
        json.loads((run / "summary.json").read_text())["leaderboard"])
    assert html.unescape(md).count("<pre>") == 1
