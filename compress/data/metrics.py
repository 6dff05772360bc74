"""Scores of a classifier's probabilities: ROC AUC (DESIGN.md's definition), accuracy, precision, recall."""
from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, positive: int | None = 1) -> dict:
    """ROC AUC (binary: positive-class score; multi-class: macro one-vs-rest), accuracy, precision, recall."""
    from sklearn.metrics import confusion_matrix, precision_score, recall_score, roc_auc_score

    y_true = np.asarray(y_true)
    classes = probs.shape[1]
    pred = probs.argmax(axis=1)
    present = np.unique(y_true)
    if len(present) < 2:
        auc = float("nan")  # undefined on a single-class split; the data loader refuses such sets
    elif classes == 2:
        auc = roc_auc_score(y_true == positive, probs[:, positive])
    else:
        auc = macro_ovr_auc(y_true, probs)
    binary = classes == 2
    kwargs = dict(pos_label=positive, average="binary") if binary else dict(average="macro")
    return {
        "auc": float(auc),
        "accuracy": float((pred == y_true).mean()),
        "precision": float(precision_score(y_true, pred, zero_division=0, labels=list(range(classes)), **kwargs)),
        "recall": float(recall_score(y_true, pred, zero_division=0, labels=list(range(classes)), **kwargs)),
        "confusion": confusion_matrix(y_true, pred, labels=list(range(classes))).tolist(),
    }


def macro_ovr_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC over the classes present, as sklearn's `multi_class="ovr"` computes it.

    Computed class by class because sklearn refuses scores whose rows do not sum to 1, and an int8 model's
    dequantized softmax is off by a few 1/256 steps; a class missing from a split is left out of the mean."""
    from sklearn.metrics import roc_auc_score

    present = [c for c in range(probs.shape[1]) if np.any(y_true == c)]
    return float(np.mean([roc_auc_score(y_true == c, probs[:, c]) for c in present]))
