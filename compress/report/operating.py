"""The report's ROC section: the int8 winner's ROC curves and the threshold the firmware acts on, from export.json."""
from __future__ import annotations

from pathlib import Path

from compress.deploy.threshold import describe
from compress.report.doc import Doc


def _rows(point: dict) -> list[list]:
    rows = []
    for rule, figures in (("threshold (Youden's J on val)", point), ("argmax", point["argmax"])):
        for split in ("val", "test"):
            f = figures[split]
            rows.append([rule, split, f"{f['tpr']:.3f}", f"{f['fpr']:.3f}", f"{f['tpr'] - f['fpr']:.3f}"])
    return rows


def roc_section(doc: Doc, exported: dict | None, files: Path) -> None:
    """ROC curves on val and test with the operating point; one line saying why when there is none."""
    from compress.report import model_plots

    doc.h("ROC curve and operating threshold")
    roc, point = (exported or {}).get("roc"), (exported or {}).get("operating_point")
    if not roc or not point:
        doc.p("No ROC curve: it comes from `export.json`, written when the winner is exported to int8 (an export "
              "made before the threshold was recorded has none; export again).")
        return
    doc.image(model_plots.roc(roc, point, files / "roc.png"),
              "ROC curves of the int8 model on the validation (dashed) and test (solid) splits, with the operating "
              "point the firmware uses")
    if point.get("rule") != "youden":
        doc.p(f"The firmware decides by {describe(point)}; the curves are each class against the rest.")
        return
    doc.p(f"The firmware says **{point['positive_name']}** when the int8 model's score for it is >= "
          f"{point['threshold']:.4g} (int8 {point['threshold_q']}), compiled into the sketch. The threshold is the one "
          "of the validation ROC curve that maximises Youden's J = TPR - FPR (the point farthest above chance); test "
          "data chose nothing and shows how it holds on unseen images. argmax (score >= 0.5) for comparison:")
    doc.table(["rule", "split", "TPR", "FPR", "J"], _rows(point))
