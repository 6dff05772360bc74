"""report.md and report.html of a run, from its folder alone: finished, still running or killed."""
from __future__ import annotations

from pathlib import Path

from compress import CompressError
from compress.data.wearable_data import is_signal_source
from compress.files import write_text
from compress.models.spec import ModelSpec
from compress.report.doc import Doc
from compress.report.budget import memory_section
from compress.report.candidates import candidates_section
from compress.report.compare import compare_section
from compress.report.layers import device_layer_section, layer_section
from compress.report.leaderboard import leaderboard_section, node_anchor
from compress.report.operating import roc_section
from compress.report.quantized import int8_section
from compress.report.run import Run, estimates, load_run, saved_model, search_nodes
from compress.report.tables import RESULT_HEADERS, latency_label, model_rows, results_blocks, target_rows
from compress.report.uncertainty import intervals_section
from compress.search.space import Costing
from compress.summary import ModelEntry

FILES_DIR = "report_files"  # the PNGs report.md links to; report.html embeds them
SALIENCY_PER_CLASS = 4


def tree_text(nodes: list[dict], winner_path=(), winner_label: str = "winner") -> str:
    """The search tree as indented text, children in evaluation order (#n)."""
    from compress.report.plots import human, tree_order

    rows, lines, last_flags = tree_order(nodes), [], []
    for i, (n, d) in enumerate(rows):
        last = next((rows[j][1] < d for j in range(i + 1, len(rows)) if rows[j][1] <= d), True)
        del last_flags[max(d - 1, 0):]
        prefix = "".join("   " if flag else "\u2502  " for flag in last_flags)
        mark = {"pruned": "  [pruned]", "goal": "  [goal]"}.get(n["status"], "")
        mark += f"  <- {winner_label}" if winner_path and n["key"] == winner_path[-1] else ""
        lines.append((prefix + ("\u2514\u2500 " if last else "\u251c\u2500 ") if d else "")
                     + f"#{n['order']} {n['label']}  {human(n['flops'], 'FLOPs')}  AUC {n['auc']:.4f}{mark}")
        if d:
            last_flags.append(last)
    return "\n".join(lines)


def _overview(doc: Doc, run: Run) -> None:
    doc.h(f"Run report: {run.path.name}", 1)
    c, s = run.settings, run.summary
    if s:
        doc.p(f"Status **{s.status}**: data {s.data}, device {s.device}{latency_label(s.device)}, strategy "
              f"{s.strategy}, {s.evaluations} evaluations, search wall time {s.search_seconds_this_run:.0f} s.")
        return
    doc.p(f"**Unfinished run**: there is no `summary.json`, so the search is still running or was stopped before "
          f"its end. This report comes from `config.json` and the journal alone ({len(run.rows)} evaluations so "
          f"far; data {c.data.source}, device {c.targets.device}, strategy {c.search.strategy}). "
          "Test-set, fine-tune and int8 figures appear once the search has finished.")


def _results_section(doc: Doc, run: Run) -> None:
    doc.h("Results")
    if run.summary:
        results_blocks(doc, run.summary, level=3, leaderboard=False)
        return
    base, (win, label) = run.baseline, run.focus()
    budget = run.settings.targets.budget_flops
    limit = "no FLOPs limit" if budget is None else f"FLOPs <= {budget:,.0f}"
    doc.p(f"Validation figures from the search (no fine-tune yet). Target: {limit}, the device targets and val "
          f"AUC >= beta = 0.5 + {run.settings.search.auc_ratio} x (baseline - 0.5) = {run.beta:.4f}.")
    entries = [(f"baseline ({base['spec'].get('name') or 'model'})", base)] + ([(label, win)] if win else [])
    rows = []
    for name, row in entries:
        rows += model_rows(name, ModelEntry(None, row["flops"], None, None, None, None, estimates(run, row)[0],
                                            row["val"], None), {"val": base["val"]["auc"]})
    doc.table(RESULT_HEADERS, rows)
    if not win:
        doc.p("No candidate has kept AUC >= beta yet.")
        return
    doc.h(f"Device targets ({label}, estimated)", 3)
    doc.table(["target", "figure", "limit", "margin", "result"], target_rows(estimates(run, win)[1]))
    doc.h(f"Reductions applied ({label})", 3)
    doc.items([r["reduction"] for r in run.lineage(win)[1:]] or ["none"], ordered=True)


def _search_sections(doc: Doc, run: Run, files: Path) -> None:
    from compress.report import plots

    nodes, (win, label) = search_nodes(run), run.focus()
    path, short = [r["key"] for r in run.lineage(win)], label.split(" (")[0]
    final = run.summary.final if run.summary else None
    # --budget-flops none: the FLOPs bound the latency target implies, as the search used it
    budget = (run.summary.budget_flops if run.summary else None) or run.settings.targets.budget_flops or Costing(
        run.settings.targets).budget_flops
    counts = {s: sum(n["status"] == s for n in nodes) for s in ("pruned", "kept", "goal")}
    doc.h("Pareto plot")
    multitask = "tasks" in (run.baseline or {}).get("val", {})  # the worst task's share of the baseline's AUC
    doc.image(plots.pareto(nodes, run.beta, budget, files / "pareto.png", path[-1] if path else None,
                           final.val["auc"] if final and final.val else None, short,
                           "worst task's val AUC / the baseline's" if multitask else "validation ROC AUC"),
              "Every evaluated candidate: FLOPs (log scale) against validation AUC, with beta and the FLOPs budget")
    doc.p(f"{len(nodes)} evaluations: {counts['pruned']} pruned (AUC < beta = {run.beta:.4f}), {counts['kept']} kept "
          f"(AUC >= beta but over a device target), {counts['goal']} goal{'s' * (counts['goal'] != 1)}. "
          + (f"The {label} is marked by a star." if win else "No goal yet."))
    candidates_section(doc, run, nodes, files)
    doc.h("Search tree")
    if len(nodes) <= plots.TREE_PLOT_MAX_NODES:
        doc.image(plots.search_tree(nodes, files / "search_tree.png", path, short),
                  "Which reduction led where, in order of evaluation (#n); pruned branches in grey")
    else:
        doc.p(f"{len(nodes)} evaluations: too many to draw legibly, so the tree is given as text only.")
    doc.pre(tree_text(nodes, path, short), [node_anchor(n["order"]) for n, _ in plots.tree_order(nodes)])


def _training_section(doc: Doc, run: Run, files: Path) -> None:
    from compress.report import model_plots

    final = run.summary.final if run.summary else None
    doc.h("Learning curves of the fine-tune")
    if not (final and final.history):
        doc.p("No fine-tune recorded: it runs after the search, on the winner.")
        return
    doc.image(model_plots.learning_curves(final.history, files / "learning_curves.png", run.beta,
                                    final.search_val_auc),
              "Training loss and validation scores per fine-tune epoch (the best-AUC epoch's weights are kept)")


def per_class(cm) -> list[tuple[float, float, float, int]]:
    """(precision, recall, F1, support) per class from a confusion matrix (rows true, columns predicted)."""
    cm = [[int(v) for v in row] for row in cm]
    out = []
    for k in range(len(cm)):
        tp, predicted, support = cm[k][k], sum(row[k] for row in cm), sum(cm[k])
        p, r = tp / predicted if predicted else 0.0, tp / support if support else 0.0
        out.append((p, r, 2 * p * r / (p + r) if p + r else 0.0, support))
    return out


def _confusions(run: Run) -> dict:
    metrics = (run.exported or {}).get("metrics") or {}
    if metrics.get("float") and metrics.get("int8"):
        split = metrics.get("split", "test")
        return {f"float, {split}": metrics["float"]["confusion"], f"int8, {split}": metrics["int8"]["confusion"]}
    final = run.summary.final if run.summary else None
    if final and final.test:
        return {"float, test": final.test["confusion"]}
    win, label = run.focus()
    return {f"{label}, val (search)": win["val"]["confusion"]} if win else {}


def _confusion_section(doc: Doc, run: Run, files: Path) -> None:
    from compress.report import model_plots

    doc.h("Confusion matrices and per-class metrics")
    matrices = _confusions(run)
    if not matrices:
        doc.p("No model to describe yet.")
        return
    names = run.class_names(len(next(iter(matrices.values()))))
    doc.image(model_plots.confusion(matrices, names, files / "confusion.png"),
              "Counts and share of each true class (rows) predicted as each class (columns)")
    stats = {title: per_class(cm) for title, cm in matrices.items()}
    headers = ["class"] + [f"{t}: {m}" for t in stats for m in ("precision", "recall", "F1")] + ["support"]
    doc.table(headers, [[name] + [f"{s[k][i]:.3f}" for s in stats.values() for i in range(3)]
                        + [next(iter(stats.values()))[k][3]] for k, name in enumerate(names)])
    if "int8" not in " ".join(matrices):
        doc.p("No int8 model yet: its matrix appears after the export.")


def _model(run: Run, row: dict):
    """(Keras model, what it is): the fine-tuned winner once the run has one, else the row's saved weights."""
    return saved_model(run, row["key"])


def _saliency(run: Run, row: dict, path: Path) -> tuple[Path, str]:
    import numpy as np

    from compress.report import model_plots

    model, which = _model(run, row)
    data = run.data()
    if model.input_shape[1] != data.input_shape[0]:
        data = data.resized(model.input_shape[1])
    x, y = data.split("test")
    idx = np.concatenate([np.flatnonzero(y == k)[:SALIENCY_PER_CLASS] for k in range(data.classes)])
    probs = model.predict(x[idx], verbose=0)
    maps = model_plots.input_gradients(model, x[idx], y[idx])
    return model_plots.saliency(x[idx], maps, y[idx], probs, data.class_names, path), which


def _saliency_section(doc: Doc, run: Run, files: Path) -> None:
    win, label = run.focus()
    doc.h("Saliency maps")
    if win is None:
        doc.p("No model to explain yet.")
        return
    if ModelSpec.from_dict(win["spec"]).temporal:
        doc.p("Not drawn: the inputs are sensor windows (T samples x channels), not images.")
        return
    try:
        path, which = _saliency(run, win, files / "saliency.png")
    except (CompressError, OSError, ValueError) as exc:
        doc.p(f"Not drawn: {str(exc).splitlines()[0]}")
        return
    doc.image(path, f"Input-gradient saliency of {label} on the first test images of each class")
    doc.p(f"Model: {which}. Each map is |d score / d pixel| (largest over channels), score = the true class's logit "
          "minus the mean logit, scaled to its own maximum; titles give the predicted class and probability "
          "(green right, red wrong).")


def _signals_section(doc: Doc, run: Run, files: Path) -> None:
    """Wearable runs: a window of each class (scored by the model the report describes) and the LOSO AUCs."""
    from compress.report import signal_plots

    signal_plots.signals_section(doc, run, files, lambda row: _model(run, row))


def run_document(run: Run, files: Path, others: list[Run] = ()) -> Doc:
    doc = Doc()
    _overview(doc, run)
    doc.contents()
    _results_section(doc, run)
    leaderboard_section(doc, run)
    intervals_section(doc, run)
    if is_signal_source(run.settings.data.source):
        _signals_section(doc, run, files)
    _search_sections(doc, run, files)
    layer_section(doc, run, files)
    device_layer_section(doc, run)
    memory_section(doc, run, files)
    _training_section(doc, run, files)
    _confusion_section(doc, run, files)
    int8_section(doc, run.exported)
    roc_section(doc, run.exported, files)
    _saliency_section(doc, run, files)
    if others:
        compare_section(doc, [run, *others], files)
    return doc


def write_run_report(run_dir, formats=("md", "html"), compare=(), data=None) -> list[Path]:
    """report.md (+ report_files/*.png) and/or a self-contained report.html, from the run folder alone.

    data: the run's Dataset when the caller has it in memory (`search`), to save reloading it for saliency maps.
    """
    bad = sorted(set(formats) - {"md", "html"})
    if bad or not formats:
        raise CompressError(f"--format {','.join(formats)}: choose md, html or both")
    run = load_run(run_dir)
    if data is not None:
        run._data.append(data)
    others = [load_run(d) for d in compare]
    files = run.path / FILES_DIR
    doc = _drawn_aside(run, files, others)
    written = []
    for fmt, text in (("md", lambda: doc.markdown(run.path)), ("html", lambda: doc.html(run.path.name))):
        if fmt in formats:
            target = run.path / f"report.{fmt}"
            write_text(target, text())  # temporary file + rename: all or nothing
            written.append(target)
    return written


def _drawn_aside(run: Run, files: Path, others) -> Doc:
    """The document, its figures drawn into a new folder that replaces `files` only once every one is drawn: a
    report that fails half-way leaves the last good figures in place, and no figure of an older report lingers."""
    import shutil
    import tempfile

    staged = Path(tempfile.mkdtemp(prefix=f".{FILES_DIR}-", dir=run.path))
    try:
        doc = run_document(run, staged, others)
        if files.exists():
            retired = files.with_name(f".{FILES_DIR}-old")
            shutil.rmtree(retired, ignore_errors=True)
            files.rename(retired)
            shutil.rmtree(retired, ignore_errors=True)
        staged.rename(files)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    doc.moved(staged, files)
    return doc
