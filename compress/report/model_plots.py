"""Plots of one model: per-layer cost, learning curves, confusion matrices and saliency maps."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compress.report.plots import WINNER_COLOUR, pyplot, save_figure


def layer_costs(rows: list[tuple], names: tuple[str, str], path) -> Path:
    """rows: (layer, flops_a, flops_b, bytes_a, bytes_b), None where a model lacks the layer; grouped bars."""
    plt = pyplot()
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
                    missing = "removed" if m else "inserted"  # the other model lacks it, or the baseline does
                    ax.text(min(positive or [1]) / 1.8, yi + (m - 0.5) * 0.4, missing if v is None else "0",
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
    return save_figure(fig, path)


def learning_curves(history: list[dict], path, beta: float | None = None, search_auc: float | None = None) -> Path:
    plt = pyplot()
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
    return save_figure(fig, path)


def confusion(matrices: dict, class_names, path) -> Path:
    """matrices: title -> square count matrix (rows true, columns predicted); cells show count and row %."""
    plt = pyplot()
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
    return save_figure(fig, path)


def input_gradients(model, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """|d score / d pixel| (max over channels) with score = logit of the target class minus the mean logit.

    That difference equals log p(target) minus the mean log p, so it is read from the softmax where the spec's
    logits layer ("head") is missing, and unlike p itself it does not saturate for confident predictions.
    """
    import tensorflow as tf
    import tf_keras as keras

    from compress.models.spec import HEAD_NAME

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
    plt = pyplot()
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
    return save_figure(fig, path)


def roc(curves: dict, point: dict | None, path) -> Path:
    """ROC curves by split ({"val": [...], "test": [...]}, each curve label, auc, fpr, tpr; val dashed, test solid)
    with the device's operating point on each split (filled) and argmax's (hollow) for a binary model."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for split, style in (("val", "--"), ("test", "-")):
        for i, c in enumerate(curves.get(split) or []):
            ax.plot(c["fpr"], c["tpr"], style, color=colours[i % len(colours)], lw=1.5,
                    label=f"{c['label']}, {split} (AUC {c['auc']:.3f})")
    if point and point.get("rule") == "youden":
        for split, marker in (("val", "o"), ("test", "s")):
            at, arg = point[split], point["argmax"][split]
            ax.scatter([at["fpr"]], [at["tpr"]], marker=marker, s=60, color=WINNER_COLOUR, edgecolors="k", zorder=4,
                       label=f"threshold {point['threshold']:.3g}, {split}: TPR {at['tpr']:.2f} FPR {at['fpr']:.2f}")
            ax.scatter([arg["fpr"]], [arg["tpr"]], marker=marker, s=60, facecolors="none", edgecolors="k", zorder=4,
                       label=f"argmax, {split}: TPR {arg['tpr']:.2f} FPR {arg['fpr']:.2f}")
    ax.plot([0, 1], [0, 1], ":", color="#999999", lw=1, label="chance")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC of the int8 model (val dashed, test solid)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path)
