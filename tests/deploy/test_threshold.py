"""The operating threshold: Youden's J on hand-made ROC curves, against sklearn, and as export.json records it."""
import json

import numpy as np
import pytest

from compress.deploy import export, threshold


def test_youden_on_a_hand_made_roc():
    # scores of 4 negatives (1, 2, 3, 6) and 4 positives (4, 5, 7, 8); "positive" means score >= t:
    #   t:    8     7     6     5     4     3     2     1
    #   TPR: .25   .5    .5    .75   1     1     1     1
    #   FPR:  0     0    .25   .25  .25   .5    .75    1
    #   J:   .25   .5    .25   .5   .75   .5    .25    0   -> t = 4
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([1, 2, 3, 6, 4, 5, 7, 8])
    assert threshold.youden(y, s) == {"threshold": 4, "tpr": 1.0, "fpr": 0.25, "j": 0.75}
    assert threshold.rates_at(y, s, 4) == {"tpr": 1.0, "fpr": 0.25, "j": 0.75, "samples": 8}
    assert threshold.rates_at(y, s, 7) == {"tpr": 0.5, "fpr": 0.0, "j": 0.5, "samples": 8}


def test_youden_ties_go_to_the_highest_threshold():
    # t = 4: TPR .5, FPR 0; t = 2: TPR 1, FPR .5; both J = .5: the higher threshold raises fewer false alarms
    assert threshold.youden([0, 1, 0, 1], [1, 2, 3, 4])["threshold"] == 4


def test_youden_agrees_with_sklearn_roc_curve():
    """The oracle: J's maximum over sklearn's ROC points, on scores with many ties (like int8 outputs)."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = np.clip(np.round(rng.normal(40 * y, 30)), -128, 127).astype(int)
    found = threshold.youden(y, s)
    fpr, tpr, thresholds = roc_curve(y, s)
    assert found["j"] == pytest.approx((tpr - fpr).max())
    assert found["threshold"] in thresholds
    assert found["tpr"] == pytest.approx(np.mean(s[y == 1] >= found["threshold"]))


def test_youden_needs_both_classes():
    assert threshold.youden([1, 1, 1], [0.2, 0.5, 0.9]) is None


OUTPUT = {"scale": 1 / 256, "zero_point": -128}


def _binary_q(positive_scores) -> np.ndarray:
    """Raw int8 softmax outputs (scale 1/256, zero point -128) whose two probabilities sum to 1: q0 = -q1."""
    q1 = np.asarray(positive_scores)
    return np.stack([-q1, q1], axis=1).astype(np.int8)


def test_operating_point_is_chosen_on_val_and_reported_on_test():
    y_val, q_val = np.array([0, 0, 0, 0, 1, 1, 1, 1]), _binary_q([-120, -100, -90, -20, -60, -50, 0, 50])
    y_test, q_test = np.array([0, 0, 1, 1]), _binary_q([-70, -10, -65, 30])
    point = threshold.operating_point((y_val, q_val), (y_test, q_test), OUTPUT, ["calm", "smiling"])
    # val as in the hand-made ROC above: the threshold is the 5th score, -60 (score (-60 + 128) / 256 = 0.265625)
    assert point["rule"] == "youden" and point["threshold_q"] == -60 and point["threshold"] == 0.265625
    assert (point["val"]["tpr"], point["val"]["fpr"]) == (1.0, 0.25)
    # test at -60: negatives -70 (no), -10 (yes): FPR .5; positives -65 (missed), 30: TPR .5
    assert (point["test"]["tpr"], point["test"]["fpr"]) == (0.5, 0.5)
    assert point["positive_name"] == "smiling" and point["positive_class"] == 1
    # argmax: q1 > q0 = -q1 means q1 > 0 (a tie goes to class 0): on val only 50 -> TPR .25, FPR 0
    assert point["argmax"]["val"] == {"tpr": 0.25, "fpr": 0.0, "j": 0.25}
    assert threshold.predict(q_test, point).tolist() == [0, 1, 0, 1]
    assert threshold.predict(q_test, {"rule": "argmax"}).tolist() == [0, 0, 0, 1]


def test_multi_class_and_single_class_val_keep_argmax():
    q = np.array([[10, 0, -5], [0, 20, 1], [3, 2, 30]])
    point = threshold.operating_point(([0, 1, 2], q), ([0, 1, 2], q), OUTPUT, ["a", "b", "c"])
    assert point["rule"] == "argmax" and "3 classes" in point["why"]
    assert threshold.predict(q, point).tolist() == [0, 1, 2]
    one = threshold.operating_point((np.ones(3, int), _binary_q([1, 2, 3])), (np.ones(3, int), _binary_q([1, 2, 3])),
                                    OUTPUT, ["a", "b"])
    assert one["rule"] == "argmax" and "lacks one of the two classes" in one["why"]


def test_export_records_the_threshold_and_the_roc_curves(exported, blob_data):
    """export.json's operating point is Youden's J on the int8 model's val scores, recomputed here from scratch."""
    out, report = exported
    point, roc = report["operating_point"], report["roc"]
    assert point == json.loads((out / export.REPORT_FILE).read_text())["operating_point"]
    tflite = (out / export.MODEL_FILE).read_bytes()
    inp = report["input"]
    q_val = export.run_tflite(tflite, export.quantize(blob_data.x_val, inp["scale"], inp["zero_point"]))
    chosen = threshold.youden(blob_data.y_val, q_val[:, 1].astype(int))
    assert point["rule"] == "youden" and point["threshold_q"] == chosen["threshold"]
    assert (point["val"]["tpr"], point["val"]["fpr"]) == pytest.approx((chosen["tpr"], chosen["fpr"]))
    assert point["threshold"] == pytest.approx((chosen["threshold"] - report["output"]["zero_point"])
                                               * report["output"]["scale"])
    for split, samples in (("val", 60), ("test", 100)):
        (curve,) = roc[split]
        assert curve["label"] == "bright" and curve["fpr"][0] == 0 and curve["tpr"][-1] == 1
        assert point[split]["samples"] == samples
    assert roc["test"][0]["auc"] == pytest.approx(report["metrics"]["int8"]["auc"], abs=1e-9)
    with np.load(out / export.TEST_INPUT_FILE) as npz:  # the self-test image is right under the device's rule
        assert threshold.predict(export.run_tflite(tflite, npz["x"]), point)[0] == int(npz["label"])
