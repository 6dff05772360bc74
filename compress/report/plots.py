"""Figures of a search run (matplotlib, Agg): Pareto plot, search tree, per-layer cost, learning curves,
confusion matrices, saliency maps and run comparison. Each figure function writes one PNG and returns its path."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# status -> (colour, marker, legend text); the same everywhere so every figure reads alike
STYLE = {"baseline": ("#222222", "s", "baseline"), "pruned": ("#d62728", "x", "pruned (AUC < \u03b2)"),
         "kept": ("#1f77b4", "o", "kept (AUC \u2265 \u03b2, over a target)"),
         "goal": ("#2ca02c", "D", "goal (fits, AUC \u2265 \u03b2)")}
WINNER_COLOUR = "#ff9f1c"
TREE_PLOT_MAX_NODES = 80  # beyond this the tree is only given as text: a taller figure stops being legible


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8})
    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def human(value: float, unit: str = "") -> str:
    """82,700,000 -> '82.7 M'; 5,452 -> '5.45 k'."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def pareto_front(points) -> list[int]:
    """Indices of the (FLOPs, AUC) points no other point beats on both (fewer-or-equal FLOPs, higher AUC)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _front_line(ax, flops, aucs, **style) -> None:
    front = pareto_front(list(zip(flops, aucs)))
    ax.step([flops[i] for i in front], [aucs[i] for i in front], where="post", **style)


def _label(ax, text: str, x: float, y: float, middle: float, left: bool) -> None:
    """A label beside a point, above it in the lower half of the plot and below it in the upper half."""
    dy = 14 if y < middle else -16
    ax.annotate(text, (x, y), xytext=(-14 if left else 14, dy), textcoords="offset points",
                ha="right" if left else "left", va="bottom" if dy > 0 else "top",
                arrowprops=dict(arrowstyle="-", color="#222222", lw=0.8))


# --- the search -----------------------------------------------------------------------------------

def pareto(nodes: list[dict], beta: float, budget_flops: float, path, winner_key=None, final_auc=None,
           winner_label: str = "winner") -> Path:
    """Every evaluated candidate as FLOPs (log) vs val AUC; nodes carry key, flops, auc, status."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5))
    nodes = [n for n in nodes if np.isfinite(n["auc"])]  # NaN: a single-class split; nothing to place
    flops, aucs = [n["flops"] for n in nodes], [n["auc"] for n in nodes]
    ax.axvspan(min(flops + [budget_flops]) / 2, budget_flops, ymin=0, ymax=1, color="#2ca02c", alpha=0.06, lw=0)
    _front_line(ax, flops, aucs, color="#888888", lw=1.2, label="Pareto front (val AUC vs FLOPs)")
    for status, (colour, marker, text) in STYLE.items():
        pts = [n for n in nodes if n["status"] == status]
        if pts:
            ax.scatter([n["flops"] for n in pts], [n["auc"] for n in pts], c=colour, marker=marker,
                       s=60 if status == "baseline" else 30, label=f"{text}: {len(pts)}", zorder=3)
    ax.axhline(beta, color="#d62728", ls="--", lw=1, label=f"\u03b2 = {beta:.4f}")
    ax.axvline(budget_flops, color="#2ca02c", ls="--", lw=1, label=f"budget {human(budget_flops, 'FLOPs')}")
    low, high = min(aucs + [beta]), max(aucs + [beta] + ([final_auc] if final_auc is not None else []))
    pad = max(0.02, 0.08 * (high - low))
    ax.set_ylim(low - pad, high + pad)
    base = next((n for n in nodes if n["status"] == "baseline"), None)
    if base:
        _label(ax, "baseline", base["flops"], base["auc"], (low + high) / 2, left=True)
    win = next((n for n in nodes if n["key"] == winner_key), None)
    if win:
        ax.scatter([win["flops"]], [win["auc"]], s=260, marker="*", c=WINNER_COLOUR, edgecolors="k", zorder=4,
                   label=f"{winner_label} (AUC in the search)")
        if final_auc is not None:
            ax.annotate("", (win["flops"], final_auc), xytext=(win["flops"], win["auc"]),
                        arrowprops=dict(arrowstyle="->", color=WINNER_COLOUR, lw=1.5))
            ax.scatter([win["flops"]], [final_auc], s=140, marker="*", facecolors="none", edgecolors="k",
                       zorder=4, label=f"{winner_label} after fine-tune")
        _label(ax, winner_label, win["flops"], win["auc"], (low + high) / 2, left=False)
    ax.set_xscale("log")
    ax.set_xlim(min(flops + [budget_flops]) / 1.6, max(flops) * 1.6)
    ax.set_xlabel("FLOPs per inference (log scale)")
    ax.set_ylabel("validation ROC AUC")
    ax.set_title(f"{len(nodes)} evaluated candidates (shaded: within the FLOPs budget)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path)


def tree_order(nodes: list[dict]) -> list[tuple[dict, int]]:
    """(node, depth) in pre-order, children in evaluation order; a node whose parent is missing is a root."""
    keys = {n["key"] for n in nodes}
    children: dict = {}
    for n in nodes:
        children.setdefault(n["parent"] if n["parent"] in keys else None, []).append(n)
    out, stack = [], [(n, 0) for n in reversed(children.get(None, []))]
    while stack:
        node, depth = stack.pop()
        out.append((node, depth))
        stack += [(c, depth + 1) for c in reversed(children.get(node["key"], []))]
    return out


def search_tree(nodes: list[dict], path, winner_path=(), winner_label: str = "winner") -> Path:
    """One row per evaluation in tree order, elbow lines from parent to child; nodes carry order, label, flops, auc,
    status, parent; winner_path: the keys from the baseline to the winner, drawn thick."""
    plt = _pyplot()
    rows = tree_order(nodes)
    row_of = {n["key"]: (i, d) for i, (n, d) in enumerate(rows)}
    depth = max(d for _, d in rows)
    unit = 0.35  # inches per depth step
    width = (depth + 1) * unit + 5.2
    fig, ax = plt.subplots(figsize=(width, 0.24 * len(rows) + 0.9))
    on_path = set(winner_path)
    for i, (n, d) in enumerate(rows):
        if n["parent"] in row_of:
            pi, pd = row_of[n["parent"]]
            thick = n["key"] in on_path and n["parent"] in on_path
            ax.plot([pd, pd, d], [-pi, -i, -i], color=WINNER_COLOUR if thick else "#999999",
                    lw=2.4 if thick else 0.9, zorder=1)
        colour, marker, _ = STYLE[n["status"]]
        ax.scatter([d], [-i], c=colour, marker=marker, s=28, zorder=3)
        text = f"#{n['order']} {n['label']}   {human(n['flops'], 'FLOPs')}   AUC {n['auc']:.3f}"
        text += {"pruned": "   pruned", "goal": "   goal"}.get(n["status"], "")
        if n["key"] == (winner_path[-1] if winner_path else None):
            text += f"   \u2605 {winner_label}"
        ax.text(d + 0.25, -i, text, va="center", fontsize=8,
                color="#888888" if n["status"] == "pruned" else "#111111",
                fontweight="bold" if n["key"] in on_path else "normal")
    ax.set_xlim(-0.4, depth + 5.2 / unit)
    ax.set_ylim(-len(rows) + 0.4, 0.8)
    ax.axis("off")
    handles = [plt.Line2D([], [], color=c, marker=m, ls="", label=t) for c, m, t in STYLE.values()]
    handles.append(plt.Line2D([], [], color=WINNER_COLOUR, lw=2.4, label=f"path to the {winner_label}"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    ax.set_title("Search tree: #n = order of evaluation; each child is one reduction of its parent", pad=34)
    return _save(fig, path)


# --- the models -----------------------------------------------------------------------------------

def layer_costs(rows: list[tuple], names: tuple[str, str], path) -> Path:
    """rows: (layer, flops_a, flops_b, bytes_a, bytes_b), None where a model lacks the layer; grouped bars."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(rows) + 1.4), sharey=True)
    y = np.arange(len(rows))
    colours = ("#7f7f7f", WINNER_COLOUR)
    for ax, first, what in ((axes[0], 1, "FLOPs"), (axes[1], 3, "int8 output tensor bytes")):
        values = [[r[first + m] for r in rows] for m in (0, 1)]
        positive = [v for vs in values for v in vs if v]
        for m, vs in enumerate(values):
            ax.barh(y + (m - 0.5) * 0.4, [v or 0 for v in vs], height=0.38, color=colours[m], label=names[m])
            for yi, v in zip(y, vs):
                if not v:
                    ax.text(min(positive or [1]) / 1.8, yi + (m - 0.5) * 0.4, "removed" if v is None else "0",
                            va="center", fontsize=7, color="#555555")
        ax.set_xscale("log")
        ax.set_xlim(min(positive or [1]) / 2, max(positive or [10]) * 2.5)
        ax.set_xlabel(f"{what} (log scale)")
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, [r[0] for r in rows])
    axes[0].invert_yaxis()
    axes[0].legend(loc="lower right")
    axes[0].set_title("compute per layer")
    axes[1].set_title("memory per layer (arena)")
    fig.tight_layout()
    return _save(fig, path)


def learning_curves(history: list[dict], path, beta: float | None = None, search_auc: float | None = None) -> Path:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    epochs = [h["epoch"] for h in history]
    left.plot(epochs, [h["loss"] for h in history], "o-", color="#1f77b4")
    left.set_ylabel("training loss")
    right.plot(epochs, [h["val_auc"] for h in history], "o-", color=WINNER_COLOUR, label="val AUC")
    right.plot(epochs, [h["val_accuracy"] for h in history], "s--", color="#7f7f7f", label="val accuracy")
    if beta is not None:
        right.axhline(beta, color="#d62728", ls="--", lw=1, label=f"\u03b2 = {beta:.3f}")
    if search_auc is not None:
        right.axhline(search_auc, color="#2ca02c", ls=":", lw=1, label=f"AUC in the search {search_auc:.3f}")
    right.set_ylabel("validation score")
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    for ax in (left, right):
        ax.set_xlabel("fine-tune epoch")
        ax.set_xticks(epochs if len(epochs) <= 15 else ax.get_xticks())
        ax.grid(True, alpha=0.3)
    fig.suptitle("Fine-tuning the winner")
    fig.tight_layout()
    return _save(fig, path)


def confusion(matrices: dict, class_names, path) -> Path:
    """matrices: title -> square count matrix (rows true, columns predicted); cells show count and row %."""
    plt = _pyplot()
    k = len(class_names)
    side = max(3.0, 0.75 * k + 1.6)
    fig, axes = plt.subplots(1, len(matrices), figsize=(side * len(matrices), side), squeeze=False)
    for ax, (title, cm) in zip(axes[0], matrices.items()):
        cm = np.asarray(cm, dtype=float)
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(cm[i, j])}\n{share[i, j]:.0%}", ha="center", va="center",
                        fontsize=8 if k <= 4 else 7, color="white" if share[i, j] > 0.6 else "black")
        rotate = 30 if max(len(c) for c in class_names) > 6 else 0
        ax.set_xticks(range(k), class_names, rotation=rotate, ha="right" if rotate else "center")
        ax.set_yticks(range(k), class_names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def input_gradients(model, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """|d score / d pixel| (max over channels) with score = logit of the target class minus the mean logit.

    That difference equals log p(target) minus the mean log p, so it is read from the softmax where the spec's
    logits layer ("head") is missing, and unlike p itself it does not saturate for confident predictions.
    """
    import tensorflow as tf
    import tf_keras as keras

    from compress.spec import HEAD_NAME

    names = [layer.name for layer in model.layers]
    logits = keras.Model(model.inputs, model.get_layer(HEAD_NAME).output) if HEAD_NAME in names else None
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = logits(x, training=False) if logits else tf.math.log(tf.clip_by_value(model(x, training=False),
                                                                                   1e-12, 1.0))
        score = tf.gather(z, target, batch_dims=1) - tf.reduce_mean(z, axis=1)
    return np.abs(tape.gradient(score, x).numpy()).max(axis=-1)


def saliency(images: np.ndarray, maps: np.ndarray, labels, probs: np.ndarray, class_names, path) -> Path:
    """One row per true class: each image in gray (or colour) with its saliency map over it."""
    plt = _pyplot()
    classes = sorted(set(int(c) for c in labels))
    per_row = max(sum(int(c) == k for c in labels) for k in classes)
    fig, axes = plt.subplots(len(classes), per_row, figsize=(1.75 * per_row + 0.6, 1.95 * len(classes)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, k in enumerate(classes):
        idx = [i for i, c in enumerate(labels) if int(c) == k]
        for col, i in enumerate(idx):
            ax = axes[r, col]
            img = images[i]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            sal = maps[i] / (maps[i].max() or 1)
            heat = plt.get_cmap("jet")(sal)
            heat[..., 3] = 0.85 * sal ** 0.7  # opacity grows with saliency: the face stays visible where it is low
            ax.imshow(heat, interpolation="bilinear")
            pred = int(np.argmax(probs[i]))
            ax.set_title(f"pred {class_names[pred]} {probs[i][pred]:.2f}", fontsize=8,
                         color="#2ca02c" if pred == k else "#d62728")
        axes[r, 0].text(-0.08, 0.5, f"true: {class_names[k]}", rotation=90, ha="right", va="center",
                        transform=axes[r, 0].transAxes, fontsize=9)
    fig.suptitle("Input-gradient saliency (red = pixels the class score is most sensitive to)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def compare_runs(runs: list[dict], path) -> Path:
    """runs: name, flops, aucs (every evaluation), budget_flops; one colour and one Pareto front per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shared = len({r["budget_flops"] for r in runs}) == 1
    for i, run in enumerate(runs):
        colour = colours[i % len(colours)]
        ax.scatter(run["flops"], run["aucs"], s=18, color=colour, alpha=0.55, label=f"{run['name']} "
                   f"({len(run['flops'])} evaluations)")
        _front_line(ax, run["flops"], run["aucs"], color=colour, lw=1.4)
        if not shared:
            ax.axvline(run["budget_flops"], color=colour, ls=":", lw=1.2,
                       label=f"{run['name']} budget {human(run['budget_flops'], 'FLOPs')}")
    if shared:
        ax.axvline(runs[0]["budget_flops"], color="#555555", ls="--", lw=1,
                   label=f"budget {human(runs[0]['budget_flops'], 'FLOPs')}")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per inference (log scale)")
    ax.set_ylabel("validation ROC AUC")
    ax.set_title("Runs compared: every evaluated candidate, with each run's Pareto front")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path)
