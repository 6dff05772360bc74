"""Figures of a wearable run: an example window of each class with its channels, and per-subject LOSO AUCs.

Windows are the wearable data sets' (T, 1, C) arrays (compress/data/signals.py); the LOSO scores are summary.json's
'loso' entry (compress/search/loso.py). Each figure function writes one PNG and returns its path; signals_section
writes the report's "Wearable signals" section with them (run_report calls it for wearable runs only).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress import CompressError
from compress.models.spec import ModelSpec
from compress.report.plots import WINNER_COLOUR, pyplot, save_figure

BAR_COLOURS = {"baseline": "#7f7f7f", "winner": WINNER_COLOUR}  # as model_plots.layer_costs draws the two models


def pick_windows(labels: dict, scores: dict | None, classes: int, splits=("test", "val")) -> list[tuple]:
    """Per class k, the window to show as (split, index, score or None): of the windows whose true class is k, the
    one with the highest score for k (the model's most confident), or without scores the first; from the first
    split in `splits` that holds class k. labels: split -> (N,) classes; scores: split -> (N, classes)."""
    picks = []
    for k in range(classes):
        for split in splits:
            idx = np.flatnonzero(np.asarray(labels[split]) == k) if split in labels else np.array([], int)
            if len(idx):
                if scores is None:
                    picks.append((split, int(idx[0]), None))
                else:
                    best = idx[int(np.argmax(np.asarray(scores[split])[idx, k]))]
                    picks.append((split, int(best), float(scores[split][best, k])))
                break
        else:
            picks.append(None)  # no window of class k in any split
    return picks


def class_windows(windows, titles, channel_names, rate_hz: float, path) -> Path:
    """One panel per window ((T, 1, C) or (T, C)), stacked with a shared time axis: each of the C channels as a
    line against time in seconds (sample i at i / rate_hz), the channel names in the legend."""
    plt = pyplot()
    fig, axes = plt.subplots(len(windows), 1, figsize=(8.5, 2.3 * len(windows) + 0.6), sharex=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, window, title in zip(axes[:, 0], windows, titles):
        w = np.asarray(window, dtype=float)
        w = w.reshape(w.shape[0], -1)  # (T, 1, C) -> (T, C)
        t = np.arange(w.shape[0]) / rate_hz
        for c in range(w.shape[1]):
            name = channel_names[c] if c < len(channel_names) else f"channel {c}"
            ax.plot(t, w[:, c], "o-" if w.shape[0] <= 40 else "-", ms=2.5, lw=1.3, color=colours[c % len(colours)],
                    label=name)
        ax.axhline(0, color="#bbbbbb", lw=0.8, zorder=0)
        ax.set_ylabel("z-score")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[-1, 0].set_xlabel("time in the window (s)")
    fig.tight_layout()
    return save_figure(fig, path)


def subject_auc_bars(entry: dict) -> tuple[list[str], dict, dict]:
    """(subjects, model -> per-subject test AUCs in that order (None where a model lacks a subject), model -> its
    stored mean) from summary.json's 'loso' entry; models: 'baseline', and 'winner' where the run had one."""
    models = [m for m in ("baseline", "winner") if entry.get(m)]
    subjects = []
    for m in models:
        subjects += [s for s in entry[m]["per_subject"] if s not in subjects]
    heights = {m: [entry[m]["per_subject"].get(s) for s in subjects] for m in models}
    return subjects, heights, {m: float(entry[m]["mean"]) for m in models}


def subject_aucs(entry: dict, path) -> Path:
    """Grouped bars: one group per held-out subject, a bar per model (baseline grey, winner orange), and a dashed
    line at each model's mean AUC over the subjects; a dotted line at chance (0.5)."""
    subjects, heights, means = subject_auc_bars(entry)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(subjects) * len(heights) + 2.5), 3.8))
    x, width = np.arange(len(subjects)), 0.8 / len(heights)
    for i, (model, values) in enumerate(heights.items()):
        colour = BAR_COLOURS[model]
        ax.bar(x + (i - (len(heights) - 1) / 2) * width, [np.nan if v is None else v for v in values],
               width=width * 0.95, color=colour, label=model)
        ax.axhline(means[model], color=colour, ls="--", lw=1.4, label=f"{model} mean {means[model]:.3f}")
    ax.axhline(0.5, color="#d62728", ls=":", lw=1, label="chance (0.5)")
    ax.set_xticks(x, subjects, rotation=45 if len(subjects) > 12 else 0)
    ax.set_xlabel("held-out subject")
    ax.set_ylabel("test ROC AUC")
    ax.set_ylim(0, 1.02)
    ax.set_title("Leave-one-subject-out: test AUC on each held-out subject")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


# --- the report section -----------------------------------------------------------------------------

def signals_section(doc, run, files: Path, load_model) -> None:
    """'Wearable signals': a window of each class, and each model's AUC per held-out subject of a --loso run.
    load_model(row) -> (Keras model, what it is), the model the report describes (run_report._model)."""
    doc.h("Wearable signals")
    doc.h("Example windows", 3)
    try:
        data = run.data()
    except (CompressError, OSError, ValueError) as exc:
        doc.p(f"Not drawn: {str(exc).splitlines()[0]}")
    else:
        _windows_block(doc, run, data, files, load_model)
    doc.h("Per-subject AUC (leave-one-subject-out)", 3)
    _subject_block(doc, run, files)


def _scores(run, data, splits, load_model) -> tuple[dict | None, str]:
    """(split -> class probabilities of the model the report describes, or None; which model, or why none)."""
    win, label = run.focus()
    if win is None:
        return None, "none (no candidate has kept AUC >= beta yet)"
    try:
        model, which = load_model(win)
        spec = ModelSpec.from_dict(win["spec"])  # its rate: a window read at a lower rate has the same length
        at = data.at_input(spec.input_shape, spec.rate_divisor)
        scores = {s: model.predict(at.split(s)[0], verbose=0) for s in splits}
        return scores, which if which.startswith("the ") else f"the {label}, {which}"
    except (CompressError, OSError, ValueError) as exc:
        return None, f"none (the {label} could not be loaded: {str(exc).splitlines()[0]})"


def _windows_block(doc, run, data, files: Path, load_model) -> None:
    splits = ("test", "val")
    labels = {s: data.split(s)[1] for s in splits}
    scores, which = _scores(run, data, splits, load_model)
    picks = [(k, p) for k, p in enumerate(pick_windows(labels, scores, data.classes, splits)) if p]
    subject = {"test": f" (held-out subject {data.holdout or '?'})", "val": ""}
    titles, lines = [], []
    for k, (split, i, score) in picks:
        sure = "" if score is None else f", p({data.class_names[k]}) = {score:.2f}"
        titles.append(f"true class {data.class_names[k]}: {split} window {i}{subject[split]}{sure}")
        lines.append(f"{data.class_names[k]}: {split} window {i} of {len(labels[split])}{subject[split]}{sure}")
    names = data.channel_names
    rate = float(data.rate_hz if data.rate_hz is not None else run.settings.data.rate_hz)
    path = class_windows([data.split(split)[0][i] for _, (split, i, _) in picks], titles, names, rate,
                         files / "class_windows.png")
    chosen = ("the test window the model is most confident about (highest probability of its true class)"
              if scores is not None else "the first test window of its class")
    doc.image(path, f"One window of each class, each {chosen}: its channels ({', '.join(names)}), z-scored per "
                    "subject, against time in seconds")
    doc.p(f"Model: {which}. " + "; ".join(lines) + ".")


def _subject_block(doc, run, files: Path) -> None:
    entry = run.summary.loso if run.summary else None
    if not run.settings.data.loso:
        doc.p("Not drawn: this run had no `--loso`, so its models were scored on one held-out subject only; a "
              "search with `--loso` scores the baseline and the winner on every subject.")
        return
    from compress.search import loso

    if not entry and (run.path / loso.BASELINE_FILE).exists():  # unfinished: the baseline's folds are kept
        entry = {"baseline": loso.read_scores(run.path / loso.BASELINE_FILE)}
    if not entry:
        doc.p("Not drawn yet: the per-subject scores are computed when the search has finished.")
        return
    subjects, heights, _ = subject_auc_bars(entry)
    if entry.get("selection"):
        alone = "" if "winner" in entry else " No model met every target: the baseline's scores alone."
        text = entry["selection"]
        doc.p(f"{text[:1].upper()}{text[1:]}; {entry.get('recipe', '')}.{alone}")
    else:
        doc.p("The baseline's scores so far: the winner's are computed when the search has finished.")
    doc.image(subject_aucs(entry, files / "subject_auc.png"),
              "Test ROC AUC on each held-out subject, each model trained from scratch without that subject; "
              "dashed lines: each model's mean over the subjects")
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    doc.table(["held-out subject"] + list(heights),
              [[s] + [fmt(heights[m][i]) for m in heights] for i, s in enumerate(subjects)]
              + [["mean +- SD"] + [f"{entry[m]['mean']:.4f} +- {entry[m]['sd']:.4f}" for m in heights]])
