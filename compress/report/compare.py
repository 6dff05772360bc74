"""Several runs side by side: one row per run, and every run's candidates in one plot."""
from __future__ import annotations

from pathlib import Path

from compress.report.doc import Doc, markdown_table
from compress.report.run import Run, estimates, load_run

COMPARE_HEADERS = ["run", "strategy", "status", "trainings", "wall time", "final FLOPs", "val AUC", "test AUC",
                   "int8 AUC", "arena", "targets"]


def _compare_row(run: Run, name: str) -> list:
    s = run.summary or {}
    final, int8, fw = s.get("final") or {}, s.get("int8") or {}, s.get("firmware") or {}
    win, _ = run.focus()
    model = final or win or {}
    auc = lambda m, split: f"{m[split]['auc']:.4f}" if m.get(split) else "-"  # noqa: E731
    wall = (f"{s['search_seconds_this_run']:.0f} s" if s else
            f"{sum(r.get('train_seconds', 0) for r in run.rows):.0f} s (training so far)")
    arena = (f"{fw['arena_measured_bytes']:,} B (measured)" if fw else
             f"{model['arena_bytes']:,} B (est.)" if model.get("arena_bytes") is not None else "-")
    targets = s.get("targets") or (estimates(run, win)[1] if win else [])
    return [name, s.get("strategy") or run.settings.search.strategy, s.get("status", "unfinished"),
            len(run.rows), wall, f"{model['flops']:,}" if model else "-", auc(model, "val"), auc(model, "test"),
            auc(int8, "test"), arena,
            f"{sum(t['passed'] for t in targets)}/{len(targets)} PASS" if targets else "-"]


def _run_names(runs: list[Run]) -> list[str]:
    names = [r.path.name for r in runs]
    return [n if names.count(n) == 1 else str(r.path) for n, r in zip(names, runs)]


def compare_markdown(run_dirs) -> str:
    """One row per run: strategy, trainings, wall time, final FLOPs, val/test/int8 AUC, arena, targets."""
    runs = [load_run(d) for d in run_dirs]
    return markdown_table(COMPARE_HEADERS, [_compare_row(r, n) for r, n in zip(runs, _run_names(runs))])


def compare_section(doc: Doc, runs: list[Run], files: Path) -> None:
    from compress.report import plots

    doc.h("Comparison of runs")
    names = _run_names(runs)
    doc.table(COMPARE_HEADERS, [_compare_row(r, n) for r, n in zip(runs, names)])
    doc.p("Unfinished runs show the best goal so far (validation AUC from the search) and their training time.")
    points = [{"name": n, "flops": [row["flops"] for row in r.rows], "aucs": [row["val"]["auc"] for row in r.rows],
               "budget_flops": (r.summary or {}).get("budget_flops") or r.settings.targets.budget_flops} for r, n in zip(runs, names)]
    doc.image(plots.compare_runs(points, files / "compare.png"), "Every evaluated candidate of each run")
