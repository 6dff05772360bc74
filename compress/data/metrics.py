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
        auc = roc_auc_score(y_true, probs, multi_class="ovr", average="macro", labels=list(range(classes)))
    binary = classes == 2
    kwargs = dict(pos_label=positive, average="binary") if binary else dict(average="macro")
    return {
        "auc": float(auc),
        "accuracy": float((pred == y_true).mean()),
        "precision": float(precision_score(y_true, pred, zero_division=0, labels=list(range(classes)), **kwargs)),
        "recall": float(recall_score(y_true, pred, zero_division=0, labels=list(range(classes)), **kwargs)),
        "confusion": confusion_matrix(y_true, pred, labels=list(range(classes))).tolist(),
    }
