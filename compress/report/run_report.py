"""report.md and report.html of a run, from its folder alone: finished, still running or killed."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from compress import CompressError
from compress.report import markdown_table, Doc, model_rows, target_rows, results_blocks, RESULT_HEADERS

# --- run reports: report.md and report.html from a run folder alone --------------------------------

FILES_DIR = "report_files"  # the PNGs report.md links to; report.html embeds them
SALIENCY_PER_CLASS = 4
COMPARE_HEADERS = ["run", "strategy", "status", "trainings", "wall time", "final FLOPs", "val AUC", "test AUC",
                   "int8 AUC", "arena", "targets"]


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _read_json(path: Path):
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:  # a file being written by a run that was killed: report without it
        _warn(f"warning: {path} is not valid JSON; ignored")
        return None


@dataclass
class Run:
    """A run folder: config, journal rows in evaluation order, and summary / export.json once finished."""
    path: Path
    config: dict
    rows: list[dict]
    summary: dict | None
    exported: dict | None
    _data: list = field(default_factory=list, repr=False)

    @property
    def baseline(self) -> dict:
        return next((r for r in self.rows if r["parent"] is None), self.rows[0])

    @property
    def beta(self) -> float:
        """The summary's; for a run without one, auc_ratio x the baseline's val AUC, as the search sets it."""
        if self.summary:
            return float(self.summary["beta"])
        return float(self.config.get("auc_ratio") or 0.8) * self.baseline["val"]["auc"]

    def status(self, row: dict) -> str:
        if row["parent"] is None:
            return "baseline"
        if row["val"]["auc"] < self.beta:
            return "pruned"  # seed 001's rule: the search never expands it
        return "goal" if row["fits"] and row["val"]["auc"] >= self.beta else "kept"  # as Search.is_goal

    def row(self, key) -> dict | None:
        return next((r for r in self.rows if r["key"] == key), None)

    def winner(self) -> dict | None:
        """The summary's final model; in a run without a summary, the best goal so far (as Search.best_goal)."""
        if self.summary:
            return self.row((self.summary.get("final") or {}).get("key"))
        goals = [r for r in self.rows if r["fits"] and r["val"]["auc"] >= self.beta]
        return max(goals, key=lambda r: (r["val"]["auc"], -r["flops"]), default=None)

    def focus(self) -> tuple[dict | None, str]:
        """The model the per-model sections describe, and what to call it."""
        win = self.winner()
        if win:
            return win, "winner" if self.summary else "winner so far"
        good = [r for r in self.rows if r["parent"] is not None and r["val"]["auc"] >= self.beta]
        return min(good, key=lambda r: r["flops"], default=None), "closest (fewest FLOPs with AUC >= beta)"

    def lineage(self, row: dict | None) -> list[dict]:
        chain = []
        while row is not None and row not in chain:
            chain.append(row)
            row = self.row(row["parent"])
        return chain[::-1]

    def data(self):
        """The run's data set, reloaded from config.json (cached on disk by compress.data)."""
        if not self._data:
            from compress import data

            c = self.config
            if not c.get("data"):
                raise CompressError(f"{self.path / 'config.json'}: missing or names no data set")
            self._data.append(data.load(c["data"], positive=c.get("positive"), class_subset=c.get("class_subset"),
                                        task=c.get("task") or "binary", size=c.get("size") or 48,
                                        channels=c.get("channels") or 1, samples=c.get("samples"),
                                        seed=c.get("seed") or 0))
        return self._data[0]

    def class_names(self, classes: int) -> list[str]:
        for source in (self.summary, self.exported):
            if source and source.get("class_names"):
                return list(source["class_names"])
        try:
            return list(self.data().class_names)
        except (CompressError, OSError, ValueError):
            return [f"class {i}" for i in range(classes)]


def load_run(run_dir) -> Run:
    from compress.search import Journal

    path = Path(run_dir)
    if not path.is_dir():
        raise CompressError(f"{path}: no such run folder")
    journal = path / "journal.jsonl"
    if not journal.exists():
        raise CompressError(f"{journal}: no journal; not a search run folder, or its search has not evaluated "
                            "anything yet")
    rows = Journal(journal, log=_warn).replay()
    if not rows:
        raise CompressError(f"{journal}: no evaluation recorded yet")
    return Run(path, _read_json(path / "config.json") or {}, rows, _read_json(path / "summary.json"),
               _read_json(path / "export.json"))


def _cost(row: dict):
    from compress.cost import spec_cost
    from compress.spec import ModelSpec

    return spec_cost(ModelSpec.from_dict(row["spec"]))


def _estimates(run: Run, row: dict) -> tuple[float, list[dict]]:
    """Latency and target checks of a journal row, as the search computed them (for runs without a summary)."""
    from compress import devices

    device = devices.get(run.config.get("device") or "apollo3")
    model = run.config.get("latency_model") or "flops"
    cost = _cost(row)
    targets = devices.Targets(budget_flops=run.config.get("budget_flops") or devices.Targets().budget_flops)
    return devices.latency_s(cost, device, model), [c.to_dict() for c in devices.check(cost, device, targets, model)]


def _nodes(run: Run) -> list[dict]:
    return [{"key": r["key"], "parent": r["parent"], "order": i, "flops": r["flops"], "auc": r["val"]["auc"],
             "status": run.status(r),
             "label": r["reduction"] if r["parent"] else f"baseline ({r['spec'].get('name') or 'model'})"}
            for i, r in enumerate(run.rows, 1)]


def tree_text(nodes: list[dict], winner_path=(), winner_label: str = "winner") -> str:
    """The search tree as indented text, children in evaluation order (#n)."""
    from compress.plots import human, tree_order

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
    c = run.config
    if run.summary:
        s = run.summary
        doc.p(f"Status **{s['status']}**: data {s['data']}, device {s['device']}, strategy {s['strategy']}, "
              f"{s['evaluations']} evaluations, search wall time {s['search_seconds_this_run']:.0f} s.")
        return
    doc.p(f"**Unfinished run**: there is no `summary.json`, so the search is still running or was stopped before "
          f"its end. This report comes from `config.json` and the journal alone ({len(run.rows)} evaluations so "
          f"far; data {c.get('data', '?')}, device {c.get('device', '?')}, strategy {c.get('strategy', '?')}). "
          "Test-set, fine-tune and int8 figures appear once the search has finished.")


def _results_section(doc: Doc, run: Run) -> None:
    doc.h("Results")
    if run.summary:
        results_blocks(doc, run.summary, level=3)
        return
    base, (win, label) = run.baseline, run.focus()
    budget = run.config.get("budget_flops")
    doc.p(f"Validation figures from the search (no fine-tune yet). Target: FLOPs <= {budget or 0:,.0f} and val "
          f"AUC >= beta = {run.config.get('auc_ratio', 0.8)} x baseline = {run.beta:.4f}.")
    entries = [(f"baseline ({base['spec'].get('name') or 'model'})", base)] + ([(label, win)] if win else [])
    rows = []
    for name, row in entries:
        rows += model_rows(name, {"flops": row["flops"], "latency_s": _estimates(run, row)[0], "val": row["val"]},
                            {"val": base["val"]["auc"]})
    doc.table(RESULT_HEADERS, rows)
    if not win:
        doc.p("No candidate has kept AUC >= beta yet.")
        return
    doc.h(f"Device targets ({label}, estimated)", 3)
    doc.table(["target", "figure", "limit", "margin", "result"], target_rows(_estimates(run, win)[1]))
    doc.h(f"Reductions applied ({label})", 3)
    doc.items([r["reduction"] for r in run.lineage(win)[1:]] or ["none"], ordered=True)


def _search_sections(doc: Doc, run: Run, files: Path) -> None:
    from compress import plots

    nodes, (win, label) = _nodes(run), run.focus()
    path, short = [r["key"] for r in run.lineage(win)], label.split(" (")[0]
    final = (run.summary or {}).get("final") or {}
    budget = (run.summary or run.config).get("budget_flops") or 0.46e6
    counts = {s: sum(n["status"] == s for n in nodes) for s in ("pruned", "kept", "goal")}
    doc.h("Pareto plot")
    doc.image(plots.pareto(nodes, run.beta, budget, files / "pareto.png", path[-1] if path else None,
                           final.get("val", {}).get("auc"), short),
              "Every evaluated candidate: FLOPs (log scale) against validation AUC, with beta and the FLOPs budget")
    doc.p(f"{len(nodes)} evaluations: {counts['pruned']} pruned (AUC < beta = {run.beta:.4f}), {counts['kept']} kept "
          f"(AUC >= beta but over a device target), {counts['goal']} goal{'s' * (counts['goal'] != 1)}. "
          + (f"The {label} is marked by a star." if win else "No goal yet."))
    doc.h("Search tree")
    if len(nodes) <= plots.TREE_PLOT_MAX_NODES:
        doc.image(plots.search_tree(nodes, files / "search_tree.png", path, short),
                  "Which reduction led where, in order of evaluation (#n); pruned branches in grey")
    else:
        doc.p(f"{len(nodes)} evaluations: too many to draw legibly, so the tree is given as text only.")
    doc.pre(tree_text(nodes, path, short))


def layer_rows(base_spec, other_spec) -> list[tuple]:
    """(layer, flops_base, flops_other, bytes_base, bytes_other) for the ops TFLM runs; None where one lacks it."""
    from compress.cost import FUSED_KINDS, spec_cost

    def table(spec):
        h, w, c = spec.input_shape
        out = {"input": (0, h * w * c)}
        out.update({l.name: (l.flops, l.activation_bytes) for l in spec_cost(spec).layers if l.kind not in FUSED_KINDS})
        return out

    a, b = table(base_spec), table(other_spec)
    names, at = list(a), -1
    for name in b:  # merge: a layer only the other model has goes after its predecessor there
        if name in names:
            at = names.index(name)
        else:
            at += 1
            names.insert(at, name)
    get = lambda t, n, i: t[n][i] if n in t else None  # noqa: E731
    return [(n, get(a, n, 0), get(b, n, 0), get(a, n, 1), get(b, n, 1)) for n in names]


def _layer_section(doc: Doc, run: Run, files: Path) -> None:
    from compress import plots
    from compress.spec import ModelSpec

    win, label = run.focus()
    doc.h("Per-layer cost")
    if win is None:
        doc.p("No candidate has kept AUC >= beta yet: nothing to compare with the baseline.")
        return
    rows = layer_rows(ModelSpec.from_dict(run.baseline["spec"]), ModelSpec.from_dict(win["spec"]))
    doc.image(plots.layer_costs(rows, ("baseline", label.split(" (")[0]), files / "layer_cost.png"),
              f"FLOPs and int8 activation bytes per layer, baseline against the {label}")
    fmt = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731
    doc.table(["layer", "baseline FLOPs", f"{label} FLOPs", "baseline act. bytes", f"{label} act. bytes"],
              [[r[0]] + [fmt(v) for v in r[1:]] for r in rows])


def _training_section(doc: Doc, run: Run, files: Path) -> None:
    from compress import plots

    final = (run.summary or {}).get("final") or {}
    doc.h("Learning curves of the fine-tune")
    if not final.get("history"):
        doc.p("No fine-tune recorded: it runs after the search, on the winner.")
        return
    doc.image(plots.learning_curves(final["history"], files / "learning_curves.png", run.beta,
                                    final.get("search_val_auc")),
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
    final = (run.summary or {}).get("final") or {}
    if final.get("test"):
        return {"float, test": final["test"]["confusion"]}
    win, label = run.focus()
    return {f"{label}, val (search)": win["val"]["confusion"]} if win else {}


def _confusion_section(doc: Doc, run: Run, files: Path) -> None:
    from compress import plots

    doc.h("Confusion matrices and per-class metrics")
    matrices = _confusions(run)
    if not matrices:
        doc.p("No model to describe yet.")
        return
    names = run.class_names(len(next(iter(matrices.values()))))
    doc.image(plots.confusion(matrices, names, files / "confusion.png"),
              "Counts and share of each true class (rows) predicted as each class (columns)")
    stats = {title: per_class(cm) for title, cm in matrices.items()}
    headers = ["class"] + [f"{t}: {m}" for t in stats for m in ("precision", "recall", "F1")] + ["support"]
    doc.table(headers, [[name] + [f"{s[k][i]:.3f}" for s in stats.values() for i in range(3)]
                        + [next(iter(stats.values()))[k][3]] for k, name in enumerate(names)])
    if "int8" not in " ".join(matrices):
        doc.p("No int8 model yet: its matrix appears after the export.")


def _saliency(run: Run, row: dict, path: Path) -> tuple[Path, str]:
    import numpy as np

    from compress import plots
    from compress.spec import ModelSpec

    best = run.path / "best.keras"
    if run.summary and run.summary.get("final") and best.exists():
        from compress.cost import load_keras

        model, which = load_keras(best), "the fine-tuned winner (`best.keras`)"
    else:
        weights = run.path / "weights" / f"{row['key']}.weights.h5"
        if not weights.exists():
            raise CompressError(f"{weights}: missing")
        model, which = ModelSpec.from_dict(row["spec"]).build(), f"`weights/{weights.name}`"
        model.load_weights(weights)
    data = run.data()
    if model.input_shape[1] != data.input_shape[0]:
        data = data.resized(model.input_shape[1])
    x, y = data.split("test")
    idx = np.concatenate([np.flatnonzero(y == k)[:SALIENCY_PER_CLASS] for k in range(data.classes)])
    probs = model.predict(x[idx], verbose=0)
    maps = plots.input_gradients(model, x[idx], y[idx])
    return plots.saliency(x[idx], maps, y[idx], probs, data.class_names, path), which


def _saliency_section(doc: Doc, run: Run, files: Path) -> None:
    win, label = run.focus()
    doc.h("Saliency maps")
    if win is None:
        doc.p("No model to explain yet.")
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
    targets = s.get("targets") or (_estimates(run, win)[1] if win else [])
    return [name, s.get("strategy") or run.config.get("strategy", "?"), s.get("status", "unfinished"),
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


def _compare_section(doc: Doc, runs: list[Run], files: Path) -> None:
    from compress import plots

    doc.h("Comparison of runs")
    names = _run_names(runs)
    doc.table(COMPARE_HEADERS, [_compare_row(r, n) for r, n in zip(runs, names)])
    doc.p("Unfinished runs show the best goal so far (validation AUC from the search) and their training time.")
    points = [{"name": n, "flops": [row["flops"] for row in r.rows], "aucs": [row["val"]["auc"] for row in r.rows],
               "budget_flops": (r.summary or r.config).get("budget_flops") or 0.46e6} for r, n in zip(runs, names)]
    doc.image(plots.compare_runs(points, files / "compare.png"), "Every evaluated candidate of each run")


def run_document(run: Run, files: Path, others: list[Run] = ()) -> Doc:
    doc = Doc()
    _overview(doc, run)
    _results_section(doc, run)
    _search_sections(doc, run, files)
    _layer_section(doc, run, files)
    _training_section(doc, run, files)
    _confusion_section(doc, run, files)
    _saliency_section(doc, run, files)
    if others:
        _compare_section(doc, [run, *others], files)
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
    files.mkdir(exist_ok=True)
    for old in files.glob("*.png"):  # a figure this run can no longer draw must not linger
        old.unlink()
    doc = run_document(run, files, others)
    written = []
    for fmt, text in (("md", lambda: doc.markdown(run.path)), ("html", lambda: doc.html(run.path.name))):
        if fmt in formats:
            target = run.path / f"report.{fmt}"
            tmp = target.with_suffix(f".{fmt}.tmp")
            tmp.write_text(text())
            tmp.replace(target)
            written.append(target)
    return written
