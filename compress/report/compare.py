"""Several runs side by side: one row per run, and every run's candidates in one plot."""
from __future__ import annotations

from pathlib import Path

from compress.console import ms
from compress.report.doc import Doc, markdown_table
from compress.report.run import Run, estimates, load_run
from compress.summary import RunSummary

COMPARE_HEADERS = ["run", "device", "budget", "strategy", "status", "trainings", "wall time (all sessions)",
                   "final FLOPs", "val AUC", "test AUC", "int8 AUC", "arena", "targets"]


def wall_seconds(run: Run) -> tuple[float, str]:
    """Search wall time over every session of a run (each --resume is one), and how it was counted.

    The last session of a finished run measured its own wall time (summary.json); earlier sessions, killed or
    stopped, left only their evaluations in the journal, each with its wall time (load the parent, train, score,
    save). A run without a summary: the journal's evaluations alone.
    """
    seconds = [float(r.get("train_seconds", 0)) for r in run.rows]
    s = run.summary
    if not s or s.search_seconds_this_run is None:
        return sum(seconds), "evaluations so far"
    trained = len(seconds) if s.trainings_this_run is None else int(s.trainings_this_run)
    earlier = seconds[:max(0, len(seconds) - trained)]
    how = "measured" if not earlier else f"last session measured + {len(earlier)} earlier evaluations"
    return float(s.search_seconds_this_run) + sum(earlier), how


def budget_text(run: Run) -> str:
    """The FLOPs budget, or what bounds a latency-bounded run (--budget-flops none) instead."""
    targets = run.settings.targets
    budget = run.summary.budget_flops if run.summary else targets.budget_flops
    if budget is not None:
        return f"{budget / 1e6:.3g} M FLOPs"
    return "none; " + (f"latency <= {ms(targets.latency_s)}" if targets.latency_s else "latency target")


def _figures(run: Run) -> dict:
    """The model a run's row describes: the summary's final model, else the best goal so far (its journal row)."""
    s = run.summary or RunSummary()
    if s.final:
        return {"flops": s.final.flops, "val": s.final.val, "test": s.final.test, "arena_bytes": s.final.arena_bytes}
    win, _ = run.focus()
    return win or {}


def _compare_row(run: Run, name: str) -> list:
    s = run.summary or RunSummary()
    fw = s.firmware
    win, _ = run.focus()
    model = _figures(run)
    auc = lambda m, split: f"{m[split]['auc']:.4f}" if m.get(split) else "-"  # noqa: E731
    seconds, how = wall_seconds(run)
    arena = (f"{fw.arena_measured_bytes:,} B (measured)" if fw else
             f"{model['arena_bytes']:,} B (est.)" if model.get("arena_bytes") is not None else "-")
    targets = s.targets or (estimates(run, win)[1] if win else [])
    int8 = {"test": s.int8.test} if s.int8 else {}
    return [name, s.device or run.settings.targets.device, budget_text(run),
            s.strategy or run.settings.search.strategy, s.status, len(run.rows),
            f"{seconds:.0f} s ({how})", f"{model['flops']:,}" if model else "-", auc(model, "val"),
            auc(model, "test"), auc(int8, "test"), arena,
            f"{sum(t['passed'] for t in targets)}/{len(targets)} PASS" if targets else "-"]


def _run_names(runs: list[Run]) -> list[str]:
    names = [r.path.name for r in runs]
    return [n if names.count(n) == 1 else str(r.path) for n, r in zip(names, runs)]


def compare_markdown(run_dirs) -> str:
    """One row per run: device, budget, strategy, trainings, wall time, final FLOPs, val/test/int8 AUC, arena,
    targets."""
    runs = [load_run(d) for d in run_dirs]
    return markdown_table(COMPARE_HEADERS, [_compare_row(r, n) for r, n in zip(runs, _run_names(runs))])


def compare_section(doc: Doc, runs: list[Run], files: Path) -> None:
    from compress.report import plots

    doc.h("Comparison of runs")
    names = _run_names(runs)
    doc.table(COMPARE_HEADERS, [_compare_row(r, n) for r, n in zip(runs, names)])
    doc.p("Unfinished runs show the best goal so far (validation AUC from the search). Wall time counts every "
          "session of a resumed run: the last session as measured, earlier ones by their evaluations.")
    points = [{"name": n, "flops": [row["flops"] for row in r.rows], "aucs": [row["val"]["auc"] for row in r.rows],
               "budget_flops": (r.summary.budget_flops if r.summary else None) or r.settings.targets.budget_flops}
              for r, n in zip(runs, names)]
    doc.image(plots.compare_runs(points, files / "compare.png"), "Every evaluated candidate of each run")
