"""The operating point a device acts on: ROC curves of the int8 model and the threshold chosen on val by Youden's J.

A binary model's sketch says "positive" when the positive class's int8 score reaches the threshold: argmax
(score >= 0.5) assumes equal costs and a calibrated model, while J = TPR - FPR picks the point of the val ROC curve
farthest above chance. The threshold is an int8 score, so the device compares integers and cannot round
differently from the host. Multi-class models keep argmax (no single threshold exists). A multi-task model has
one output per task and one operating point per task (per_task).
"""
from __future__ import annotations

import numpy as np

POSITIVE = 1  # a binary task's positive class (compress.data: "CLASS" is index 1, "not-CLASS" index 0)
ROC_DIGITS = 4  # export.json stores the curves rounded: enough to draw them, small enough to read


def _rates(pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TPR and FPR when "positive" means score >= t, for each t (sorted counts, no n x n matrix)."""
    tpr = 1.0 - np.searchsorted(np.sort(pos), thresholds, side="left") / len(pos)
    fpr = 1.0 - np.searchsorted(np.sort(neg), thresholds, side="left") / len(neg)
    return tpr, fpr


def youden(y_true, scores, positive: int = POSITIVE) -> dict | None:
    """The threshold t among the observed scores that maximises J = TPR - FPR (positive: score >= t).

    Ties go to the highest t, the one with the fewest false alarms. None when a class is missing (no ROC).
    """
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    pos, neg = scores[y_true == positive], scores[y_true != positive]
    if not len(pos) or not len(neg):
        return None
    candidates = np.unique(scores)[::-1]  # highest first, so argmax's first maximum is the highest threshold
    tpr, fpr = _rates(pos, neg, candidates)
    best = int(np.argmax(tpr - fpr))
    return {"threshold": candidates[best].item(), "tpr": float(tpr[best]), "fpr": float(fpr[best]),
            "j": float(tpr[best] - fpr[best])}


def rates_at(y_true, scores, threshold, positive: int = POSITIVE) -> dict:
    """TPR, FPR and J of "positive when score >= threshold" on one split."""
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    pos, neg = scores[y_true == positive], scores[y_true != positive]
    tpr = float(np.mean(pos >= threshold)) if len(pos) else float("nan")
    fpr = float(np.mean(neg >= threshold)) if len(neg) else float("nan")
    return {"tpr": tpr, "fpr": fpr, "j": tpr - fpr, "samples": int(len(y_true))}


def roc_curves(y_true, scores: np.ndarray, class_names) -> list[dict]:
    """ROC curves to draw: binary, the positive class's; multi-class, each class against the rest."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true = np.asarray(y_true)
    classes = [POSITIVE] if scores.shape[1] == 2 else range(scores.shape[1])
    curves = []
    for k in classes:
        truth = y_true == k
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = roc_curve(truth, scores[:, k])
        curves.append({"label": str(class_names[k]) if scores.shape[1] == 2 else f"{class_names[k]} vs rest",
                       "auc": float(roc_auc_score(truth, scores[:, k])),
                       "fpr": np.round(fpr, ROC_DIGITS).tolist(), "tpr": np.round(tpr, ROC_DIGITS).tolist()})
    return curves


def operating_point(val: tuple, test: tuple, output: dict, class_names) -> dict:
    """How the device turns int8 scores into a class, with its TPR/FPR on val (where it was chosen) and test.

    val, test: (labels, raw int8 outputs (N, classes)); output: the model's output quantization (scale, zero_point).
    """
    (y_val, q_val), (y_test, q_test) = val, test
    classes = q_val.shape[1]
    argmax = {"rule": "argmax", "threshold": None, "threshold_q": None}
    if classes != 2:
        return {**argmax, "why": f"{classes} classes: the highest score wins (one threshold cannot rank them)"}
    chosen = youden(y_val, q_val[:, POSITIVE].astype(int))
    if chosen is None:
        return {**argmax, "why": "the val split lacks one of the two classes, so it has no ROC curve"}
    q = int(chosen["threshold"])
    at = lambda y, s, t: rates_at(y, s[:, POSITIVE].astype(int), t)  # noqa: E731
    return {"rule": "youden", "chosen_on": "val", "positive_class": POSITIVE,
            "positive_name": str(class_names[POSITIVE]), "threshold_q": q,
            "threshold": float((q - output["zero_point"]) * output["scale"]),
            "val": at(y_val, q_val, q), "test": at(y_test, q_test, q),
            "argmax": {"val": _argmax_rates(y_val, q_val), "test": _argmax_rates(y_test, q_test)}}


def _argmax_rates(y_true, q: np.ndarray) -> dict:
    """TPR and FPR of the argmax rule, for comparison with the chosen threshold."""
    predicted = np.asarray(q).argmax(axis=1)
    y_true = np.asarray(y_true)
    pos, neg = predicted[y_true == POSITIVE], predicted[y_true != POSITIVE]
    tpr = float(np.mean(pos == POSITIVE)) if len(pos) else float("nan")
    fpr = float(np.mean(neg == POSITIVE)) if len(neg) else float("nan")
    return {"tpr": tpr, "fpr": fpr, "j": tpr - fpr}


def predict(q: np.ndarray, point: dict | None) -> np.ndarray:
    """The class a device running this operating point prints for raw int8 outputs (N, classes)."""
    q = np.atleast_2d(np.asarray(q))
    if point and point.get("rule") == "youden":
        return np.where(q[:, point["positive_class"]].astype(int) >= point["threshold_q"], point["positive_class"],
                        1 - point["positive_class"])
    return q.argmax(axis=1)


def per_task(points: dict) -> dict:
    """A multi-task model's decision: one operating point per task (each output its own threshold)."""
    return {"rule": "per-task", "tasks": points}


def describe(point: dict | None) -> str:
    """One line for terminals, READMEs and C comments."""
    if point and point.get("rule") == "per-task":
        return "; ".join(f"{task}: {describe(p)}" for task, p in point["tasks"].items())
    if not point or point.get("rule") != "youden":
        return "argmax: the class with the highest score" + (f" ({point['why']})" if point and "why" in point
                                                                 else "")
    v, t = point["val"], point["test"]
    return (f"{point['positive_name']} when its score >= {point['threshold']:.4g} (int8 {point['threshold_q']}), "
            f"chosen on val by Youden's J: val TPR {v['tpr']:.3f} FPR {v['fpr']:.3f}; "
            f"test TPR {t['tpr']:.3f} FPR {t['fpr']:.3f}")


def brief(point: dict) -> str:
    """The decision in a few words, as the firmware prints it (per task for a multi-task model)."""
    if point.get("rule") == "per-task":
        points = point["tasks"]
        youden = any(p.get("rule") == "youden" for p in points.values())
        return "per task: " + "; ".join(f"{t} {_task_brief(p)}" for t, p in points.items()) + (
            " (Youden's J on val)" if youden else "")
    if point.get("rule") == "youden":
        return f"{_task_brief(point)} (Youden's J on val)"
    return "argmax: the highest score"


def _task_brief(point: dict) -> str:
    """A task's decision in a few words (its name is printed beside it)."""
    if point.get("rule") == "youden":
        return f"{point['positive_name']} if score >= {point['threshold']:.4g}"
    return "argmax"
