"""Scores of a classifier's probabilities: ROC AUC (DESIGN.md's definition) with its 95 % bootstrap interval,
accuracy, precision, recall."""
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
        "auc_ci": auc_interval(y_true, probs, positive) if len(present) >= 2 else None,
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


AUC_RESAMPLES = 1000  # bootstrap resamples of an AUC interval
AUC_INTERVAL_SEED = 0  # fixed: the same scores always give the same interval
FEW_SAMPLES = 200  # a split smaller than this gets a warning beside its AUC: its interval is wide


def includes_chance(metrics: dict | None) -> bool:
    """Whether a metrics dict's recorded AUC interval includes 0.5: as far as its data can tell, a coin."""
    found = (metrics or {}).get("auc_ci")
    return bool(found) and found[0] <= 0.5 <= found[1]


def auc_interval(y_true: np.ndarray, probs: np.ndarray, positive: int | None = 1, level: float = 0.95,
                 resamples: int = AUC_RESAMPLES, seed: int = AUC_INTERVAL_SEED) -> list[float]:
    """[low, high]: the percentile bootstrap interval of the AUC classification_metrics computes (binary:
    positive-class score; else macro one-vs-rest), resampling within each class (stratified), so every resample
    keeps the split's class counts. One method for every AUC: bootstrap, seed fixed."""
    y_true = np.asarray(y_true)
    counts = _stratified_counts(y_true, resamples, np.random.default_rng(seed))
    if probs.shape[1] == 2:
        aucs = _weighted_auc(y_true == positive, probs[:, positive], counts)
    else:
        present = [c for c in range(probs.shape[1]) if np.any(y_true == c)]
        aucs = np.mean([_weighted_auc(y_true == c, probs[:, c], counts) for c in present], axis=0)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(aucs, [tail, 100 - tail])
    return [float(low), float(high)]


def _stratified_counts(y_true: np.ndarray, resamples: int, rng) -> np.ndarray:
    """(resamples, n): how often each sample is drawn, drawing each class's own count from that class."""
    n = len(y_true)
    idx = np.concatenate([m[rng.integers(0, len(m), (resamples, len(m)))]
                          for m in (np.flatnonzero(y_true == c) for c in np.unique(y_true))], axis=1)
    flat = idx + (np.arange(resamples) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.int32)


def _weighted_auc(is_positive: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The Mann-Whitney AUC (ties count half) of each resample, samples weighted by how often it drew them:
    sorted once, each positive's negatives below it and tied with it read off cumulative sums over the negatives."""
    order = np.argsort(scores, kind="stable")
    ranked, positive = scores[order], is_positive[order]
    negatives_before = np.concatenate([[0], np.cumsum(~positive)])  # sorted position j -> negatives in [0, j)
    pos = np.flatnonzero(positive)
    low = negatives_before[np.searchsorted(ranked, ranked[pos], side="left")]  # each positive's group of ties
    high = negatives_before[np.searchsorted(ranked, ranked[pos], side="right")]
    neg_weights = counts[:, order[~positive]]
    below = np.concatenate([np.zeros((len(counts), 1), counts.dtype), np.cumsum(neg_weights, axis=1)], axis=1)
    wins = below[:, low] + 0.5 * (below[:, high] - below[:, low])
    pos_weights = counts[:, order[pos]]
    return (pos_weights * wins).sum(axis=1) / (pos_weights.sum(axis=1) * neg_weights.sum(axis=1))
